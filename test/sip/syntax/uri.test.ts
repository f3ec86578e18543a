// Proves parseUri/formatUri on SIP, SIPS and tel URIs (RFC 3261 §19.1, §25.1; RFC 3966):
// user/password/host/port/params/headers, %-escapes decoded and re-escaped, IPv6
// references, and the malformed shapes that must come back null.

import t from 'tap';
import { parseUri, formatUri, isValidUri } from '../../../sip/syntax/index.js';

t.test('full SIP URI components', async (t) => {
  t.same(parseUri('sips:alice:secret@Example.COM:5061;transport=TLS;lr?Subject=hi&Priority=urgent'), {
    scheme: 'sips', user: 'alice', password: 'secret', host: 'Example.COM', port: 5061,
    params: { transport: 'TLS', lr: null }, headers: { Subject: 'hi', Priority: 'urgent' },
  });
  t.same(parseUri('sip:example.com'), { scheme: 'sip', host: 'example.com', params: {}, headers: {} });
  t.equal(parseUri('SIP:a@b')?.scheme, 'sip', 'scheme is case-insensitive');
});

t.test('escapes are decoded, and formatting escapes what needs it', async (t) => {
  const u = parseUri('sip:I%20have%20spaces@h;n%61me=v%61lue%25%34%31');
  t.equal(u?.user, 'I have spaces');
  t.same(u?.params, { name: 'value%41' });
  if (u === null) return;
  t.equal(formatUri(u), 'sip:I%20have%20spaces@h;name=value%2541');
  t.same(parseUri(formatUri(u)), u, 'format then parse is identity');
  t.equal(parseUri('sip:%41@h')?.user, 'A');
  t.equal(parseUri('sip:%4@h'), null, 'truncated escape');
  t.equal(parseUri('sip:%zz@h'), null, 'non-hex escape');
  const odd = { scheme: 'sip' as const, user: 'a@b:c d\0é', password: 'p:w', host: 'h', params: { 'x;y': 'a=b' }, headers: { 'h&1': 'v=2' } };
  t.same(parseUri(formatUri(odd)), odd, 'delimiters inside components survive');
});

t.test('user part may hold ; ? / : when it ends at @', async (t) => {
  t.same(parseUri('sip:user;par=u%40example.net@example.com'), { scheme: 'sip', user: 'user;par=u@example.net', host: 'example.com', params: {}, headers: {} });
});

t.test('IPv6 references', async (t) => {
  const u = parseUri('sip:[2001:db8::10]:5070;maddr=x');
  t.equal(u?.host, '2001:db8::10');
  t.equal(u?.port, 5070);
  if (u !== null) t.equal(formatUri(u), 'sip:[2001:db8::10]:5070;maddr=x');
  t.equal(parseUri('sip:[2001:db8::10'), null);
  t.equal(parseUri('sip:2001:db8::10'), null, 'IPv6 needs brackets');
  t.equal(parseUri('sip:[::ffff:192.0.2.1]')?.host, '::ffff:192.0.2.1');
});

t.test('tel URIs', async (t) => {
  t.same(parseUri('tel:+1-201-555-0123;ext=44'), { scheme: 'tel', user: '+1-201-555-0123', host: '', params: { ext: '44' }, headers: {} });
  const local = parseUri('tel:7042;phone-context=example.com');
  t.equal(local?.params['phone-context'], 'example.com');
  if (local !== null) t.equal(formatUri(local), 'tel:7042;phone-context=example.com');
  t.equal(parseUri('tel:'), null);
  t.equal(parseUri('tel:+1 555'), null);
});

t.test('malformed URIs are null', async (t) => {
  for (const s of [
    'sip:', 'sip:@h', 'sip:a@', 'sip:h:', 'sip:h:99999', 'sip:h:12a', 'sip:a b@h', 'sip:h;', 'sip:h;=v', 'sip:h;p=',
    'sip:h;a;a', 'sip:h?x', 'sip:-bad-.com', 'sip:256.1.1.1', 'sip:h..com', 'http://x', 'nocolon', '1sip:h',
  ]) t.equal(parseUri(s), null, s);
});

t.test('isValidUri accepts other absolute URIs by their generic grammar', async (t) => {
  t.ok(isValidUri('isbn:2983792873'));
  t.ok(isValidUri('http://www.example.com/a?b=c'));
  t.ok(isValidUri('soap.beep://192.0.2.103:3002'));
  t.notOk(isValidUri('http://a b'));
  t.notOk(isValidUri('x:'));
  t.notOk(isValidUri('<sip:a@b>'));
});
