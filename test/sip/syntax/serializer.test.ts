// Proves serializeMessage (wire form, Content-Length always equal to the body, header
// injection refused), buildResponse (RFC 3261 §8.2.6 copying rules and To tag), the
// immutable header helpers, and the id generators (format, uniqueness, injectable
// randomness for replayable simulation).

import t from 'tap';
import {
  serializeMessage, parseMessage, buildResponse, getHeader, getHeaders, setHeader, removeHeader, prependHeader,
  appendHeader, withHeaders, generateTag, generateBranch, generateCallId, type SipRequest,
} from '../../../sip/syntax/index.js';

const invite: SipRequest = {
  kind: 'request', method: 'INVITE', uri: 'sip:bob@example.com',
  headers: [
    { name: 'Via', value: 'SIP/2.0/UDP p1.example.com;branch=z9hG4bK1' },
    { name: 'Via', value: 'SIP/2.0/UDP a.example.com;branch=z9hG4bK0;received=192.0.2.1' },
    { name: 'Max-Forwards', value: '69' },
    { name: 'From', value: '<sip:alice@example.com>;tag=a1' },
    { name: 'To', value: '<sip:bob@example.com>' },
    { name: 'Call-ID', value: 'c1@a.example.com' },
    { name: 'CSeq', value: '7 INVITE' },
    { name: 'Timestamp', value: '54' },
    { name: 'Content-Length', value: '999' },
    { name: 'Contact', value: '<sip:alice@192.0.2.1>' },
  ],
  body: Buffer.from('v=0\r\n'),
};

t.test('wire form with Content-Length rewritten in place', async (t) => {
  const text = serializeMessage(invite).toString('utf8');
  t.ok(text.startsWith('INVITE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP p1.example.com;branch=z9hG4bK1\r\n'));
  t.match(text, /Timestamp: 54\r\nContent-Length: 5\r\nContact: <sip:alice@192.0.2.1>\r\n\r\nv=0\r\n$/);
  t.notMatch(text, /999/);
  const noCl = serializeMessage(removeHeader(invite, 'Content-Length')).toString();
  t.match(noCl, /Content-Length: 5\r\n\r\nv=0\r\n$/, 'added when absent');
  const r = parseMessage(serializeMessage(invite));
  t.ok(r.ok);
  if (r.ok) t.equal(getHeader(r.message, 'l'), '5');
});

t.test('refuses to write header injection', async (t) => {
  t.throws(() => serializeMessage(appendHeader(invite, 'X-Evil', 'a\r\nVia: forged')), /header X-Evil value contains CR or LF/);
  t.throws(() => serializeMessage(appendHeader(invite, 'Bad Name', 'x')), /header name is not a token: "Bad Name"/);
  t.throws(() => serializeMessage({ kind: 'response', status: 200, reason: 'OK\r\nX: y', headers: [], body: new Uint8Array(0) }));
  t.throws(() => serializeMessage({ ...invite, uri: 'sip:a b' }));
});

t.test('buildResponse copies Via/From/To/Call-ID/CSeq and adds the To tag', async (t) => {
  const r = buildResponse(invite, 180, 'Ringing', { toTag: 'b2', headers: [{ name: 'Contact', value: '<sip:bob@192.0.2.2>' }] });
  t.same(r.headers.map((h) => h.name), ['Via', 'Via', 'From', 'To', 'Call-ID', 'CSeq', 'Contact', 'Content-Length']);
  t.same(getHeaders(r, 'Via'), getHeaders(invite, 'Via'));
  t.equal(getHeader(r, 'To'), '<sip:bob@example.com>;tag=b2');
  t.equal(getHeader(r, 'Content-Length'), '0');
  const trying = buildResponse(invite, 100, 'Trying');
  t.equal(getHeader(trying, 'Timestamp'), '54', '100 Trying echoes Timestamp (§8.2.6.1)');
  t.equal(getHeader(trying, 'To'), '<sip:bob@example.com>', 'no tag unless given');
  const inDialog = setHeader(invite, 'To', '<sip:bob@example.com>;tag=old');
  t.equal(getHeader(buildResponse(inDialog, 200, 'OK', { toTag: 'new' }), 'To'), '<sip:bob@example.com>;tag=old', 'an existing tag is kept');
  const withBody = buildResponse(invite, 200, 'OK', { body: Buffer.from('abc'), headers: [{ name: 'Content-Length', value: '1' }] });
  t.same(getHeaders(withBody, 'Content-Length'), ['3']);
  const parsed = parseMessage(serializeMessage(withBody));
  t.ok(parsed.ok && parsed.message.kind === 'response' && parsed.message.status === 200);
});

t.test('header helpers return new messages and never mutate', async (t) => {
  const before = JSON.stringify(invite);
  const a = setHeader(invite, 'i', 'new@h');
  t.equal(getHeader(a, 'Call-ID'), 'new@h');
  t.equal(a.headers.findIndex((h) => h.name === 'Call-ID'), 5, 'set keeps position');
  const b = prependHeader(invite, 'v', 'SIP/2.0/TCP me;branch=z9hG4bK9');
  t.equal(getHeaders(b, 'Via')[0], 'SIP/2.0/TCP me;branch=z9hG4bK9');
  t.equal(b.headers[0]?.name, 'Via');
  const c = prependHeader(invite, 'Record-Route', '<sip:me;lr>');
  t.equal(c.headers[0]?.name, 'Record-Route');
  t.equal(getHeaders(removeHeader(invite, 'VIA'), 'Via').length, 0);
  const d = withHeaders(invite, { remove: ['Timestamp'], set: { 'Max-Forwards': '68' }, append: [{ name: 'X-A', value: '1' }] });
  t.equal(getHeader(d, 'Timestamp'), undefined);
  t.equal(getHeader(d, 'Max-Forwards'), '68');
  t.equal(d.headers.at(-1)?.name, 'X-A');
  t.equal(JSON.stringify(invite), before);
});

t.test('id generators', async (t) => {
  t.match(generateBranch(), /^z9hG4bK[0-9a-f]{24}$/);
  t.match(generateTag(), /^[0-9a-f]{16}$/);
  t.match(generateCallId('h.example.com'), /^[0-9a-f]{32}@h\.example\.com$/);
  // 1,000 branches, tags and Call-IDs draw 36 KB: several refills of the 4 KiB random pool.
  const seen = new Set(Array.from({ length: 1000 }, () => [generateBranch(), generateTag(), generateCallId()]).flat());
  t.equal(seen.size, 3000, 'no identifier repeats across pool refills');
  const fixed = (n: number): Uint8Array => new Uint8Array(n).fill(0xab);
  t.equal(generateTag(fixed), 'abababababababab', 'randomness is injectable');
  t.equal(generateCallId(undefined, fixed), 'ab'.repeat(16));
});
