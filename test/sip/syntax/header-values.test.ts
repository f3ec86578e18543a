// Proves the structured header parsers and formatters: Via (RFC 3261 §20.42, RFC 3581
// rport), CSeq (§20.16), name-addr forms of From/To/Contact/Route (§20.10, §20.20),
// generic params and digest auth params (RFC 2617). Each parse is checked field by field
// and each format is checked to parse back to the same value.

import t from 'tap';
import {
  parseVia, formatVia, parseCSeq, formatCSeq, parseNameAddr, formatNameAddr, parseDigestParams,
  formatDigestParams, unquoteParam,
} from '../../../sip/syntax/index.js';

t.test('Via: fields, special params, formatting', async (t) => {
  const v = parseVia('SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK776;rport;received=192.0.2.9;x=1');
  t.same(v, {
    transport: 'UDP', host: '192.0.2.1', port: 5060, branch: 'z9hG4bK776', rport: true, received: '192.0.2.9',
    params: { branch: 'z9hG4bK776', rport: null, received: '192.0.2.9', x: '1' },
  });
  if (v === null) return;
  t.equal(formatVia(v), 'SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK776;rport;received=192.0.2.9;x=1');
  const answered = formatVia({ ...v, rport: 5062, received: '198.51.100.7' });
  t.equal(answered, 'SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK776;rport=5062;received=198.51.100.7;x=1');
  t.equal(parseVia(answered)?.rport, 5062);
  t.same(parseVia('SIP/2.0/TLS [2001:db8::1]:5061;branch=z9hG4bKx'), { transport: 'TLS', host: '2001:db8::1', port: 5061, branch: 'z9hG4bKx', params: { branch: 'z9hG4bKx' } });
  t.equal(formatVia({ transport: 'WS', host: '::1', params: {}, branch: 'z9hG4bKy' }), 'SIP/2.0/WS [::1];branch=z9hG4bKy');
  t.equal(parseVia('sip / 2.0 / tcp h')?.transport, 'TCP', 'LWS around slashes, case-insensitive');
  t.equal(parseVia('SIP/2.0/UDP h;received=2001:db8::9:255')?.received, '2001:db8::9:255', 'RFC 5118 bare IPv6 received');
});

t.test('Via: malformed values are null', async (t) => {
  for (const s of [
    'SIP/2.0/UDP', 'SIP/2.0/UDPh', 'SIP/3.0/UDP h', 'XIP/2.0/UDP h', 'SIP/2.0/UDP h:70000', 'SIP/2.0/UDP h;;',
    'SIP/2.0/UDP h;branch', 'SIP/2.0/UDP h;received=host.name', 'SIP/2.0/UDP h;rport=x', 'SIP/2.0/UDP h;ttl=300',
    'SIP/2.0/UDP h extra', 'SIP/2.0/UDP [::1', 'SIP/2.0/UDP h;branch=a;branch=b',
  ]) t.equal(parseVia(s), null, s);
});

t.test('CSeq', async (t) => {
  t.same(parseCSeq('4711 INVITE'), { seq: 4711, method: 'INVITE' });
  t.same(parseCSeq('0009\t INVITE'), { seq: 9, method: 'INVITE' });
  t.same(parseCSeq('4294967295 BYE'), { seq: 4294967295, method: 'BYE' });
  t.equal(formatCSeq({ seq: 2, method: 'ACK' }), '2 ACK');
  for (const s of ['4294967296 BYE', '1INVITE', 'x INVITE', '1', '1 IN VITE', '-1 BYE', '99999999999999999999 BYE']) t.equal(parseCSeq(s), null, s);
});

t.test('name-addr and addr-spec forms', async (t) => {
  t.same(parseNameAddr('"Bob \\"B\\"" <sip:bob@h>;tag=x;ob'), { displayName: 'Bob "B"', uri: 'sip:bob@h', params: { tag: 'x', ob: null } });
  t.same(parseNameAddr('Bob Smith <sip:bob@h>'), { displayName: 'Bob Smith', uri: 'sip:bob@h', params: {} });
  t.same(parseNameAddr('<sip:bob@h;lr>'), { uri: 'sip:bob@h;lr', params: {} });
  t.same(parseNameAddr('sip:bob@h;tag=1'), { uri: 'sip:bob@h', params: { tag: '1' } }, 'addr-spec: ; starts header params');
  t.same(parseNameAddr('*'), { uri: '*', params: {} });
  t.same(parseNameAddr('<tel:+15551234>;expires=60'), { uri: 'tel:+15551234', params: { expires: '60' } });
  t.same(parseNameAddr('<urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6>'), { uri: 'urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6', params: {} });
  t.same(parseNameAddr('<sip:a@h>;+sip.instance="<urn:uuid:1>"')?.params, { '+sip.instance': '"<urn:uuid:1>"' });
  t.equal(unquoteParam('"<urn:uuid:1>"'), '<urn:uuid:1>');
  t.same(parseNameAddr('<sip:a@h>;__proto__=x')?.params, Object.defineProperty({}, '__proto__', { value: 'x', enumerable: true }), 'no prototype pollution');
  t.equal(({} as Record<string, unknown>)['x'], undefined);
});

t.test('name-addr: malformed values are null', async (t) => {
  for (const s of [
    '"open <sip:a@h>', '< sip:a@h >', 'Bell, Alexander <sip:a@h>', 'sip:a@h?x=y', '<sip:a@h', '<>', '<sip:a@h>;', '<sip:a@h>;;',
    '<sip:a@h>;tag=1;tag=2', '<sip:a@h> junk', 'sip:a@h junk', '"x"sip:a@h', '<sip:a@h>;p="unterminated', '',
  ]) t.equal(parseNameAddr(s), null, JSON.stringify(s));
});

t.test('formatNameAddr round-trips', async (t) => {
  for (const s of ['"A \\\\ \\"q\\"" <sip:a@h>;tag=1', '<sip:a@h;lr>', 'Tok <sip:a@h>;expires=3600;q=0.5', '*']) {
    const na = parseNameAddr(s);
    if (na === null) { t.fail(s); continue; }
    t.same(parseNameAddr(formatNameAddr(na)), na, s);
  }
});

t.test('digest params', async (t) => {
  const c = parseDigestParams('Digest realm="atlanta.com", nonce="84a4cc6f",\r\n qop="auth,auth-int" , algorithm=MD5, stale=FALSE'.replace('\r\n', ''));
  t.same(c, { scheme: 'Digest', params: { realm: 'atlanta.com', nonce: '84a4cc6f', qop: 'auth,auth-int', algorithm: 'MD5', stale: 'FALSE' } });
  const a = parseDigestParams('Digest username="bob", realm="r", nonce="n", uri="sip:bob@h", response="0123", nc=00000001, cnonce="c\\"q", qop=auth');
  t.equal(a?.params['cnonce'], 'c"q');
  t.equal(a?.params['nc'], '00000001');
  t.same(parseDigestParams('NoOneKnowsThisScheme opaque-data=here'), { scheme: 'NoOneKnowsThisScheme', params: { 'opaque-data': 'here' } });
  if (a === null) return;
  const f = formatDigestParams('Digest', a.params, 'credentials');
  t.match(f, /qop=auth(,|$)/);
  t.match(f, /nc=00000001/);
  t.same(parseDigestParams(f), a);
  t.equal(formatDigestParams('Digest', { realm: 'r', qop: 'auth' }, 'challenge'), 'Digest realm="r", qop="auth"');
  for (const s of ['Digest realm', 'Digest realm="x', 'Digest a=1,,b=2', 'Digest a=1 b=2', 'Digest a=1, a=2', '']) t.equal(parseDigestParams(s), null, s);
});
