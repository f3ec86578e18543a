// Proves SipStreamParser frames TCP byte streams by Content-Length (RFC 3261 §18.3):
// any chunking gives the same messages, malformed-but-framed messages do not stop the
// stream, framing failures close it, limits hold, and CRLF keepalives are counted.

import t from 'tap';
import { SipStreamParser, limits, type ParseResult } from '../../../sip/syntax/index.js';

const msg = (callId: string, body = ''): string =>
  `OPTIONS sip:b@h SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK${callId}\r\nFrom: <sip:a@h>;tag=1\r\nTo: <sip:b@h>\r\n` +
  `Call-ID: ${callId}\r\nCSeq: 1 OPTIONS\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
const ids = (rs: ParseResult[]): string[] =>
  rs.map((r) => (r.ok ? (r.message.headers.find((h) => h.name === 'Call-ID')?.value ?? '?') : r.error.code));

t.test('one chunk with several messages and keepalives between them', async (t) => {
  const p = new SipStreamParser();
  const rs = p.push(Buffer.from(msg('a', 'hello') + '\r\n\r\n' + msg('b') + msg('c', 'x\r\n\r\ny')));
  t.same(ids(rs), ['a', 'b', 'c']);
  t.equal(rs[2]?.ok && Buffer.from(rs[2].message.body).toString(), 'x\r\n\r\ny');
  t.equal(p.takePings(), 1);
  t.equal(p.takePings(), 0);
  t.equal(p.bufferedBytes, 0);
});

t.test('byte-at-a-time and random chunking give the same result', async (t) => {
  const wire = Buffer.from(msg('a', 'body-1') + msg('b') + msg('c', 'ü'.repeat(50)));
  const whole = ids(new SipStreamParser().push(wire));
  const p = new SipStreamParser();
  const got: ParseResult[] = [];
  for (const b of wire) got.push(...p.push(Buffer.from([b])));
  t.same(ids(got), whole);
  let seed = 7;
  for (let run = 0; run < 20; run++) {
    const q = new SipStreamParser();
    const out: ParseResult[] = [];
    for (let i = 0; i < wire.length;) {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      const n = 1 + (seed % 97);
      out.push(...q.push(wire.subarray(i, i + n)));
      i += n;
    }
    t.same(ids(out), whole, `run ${run}`);
  }
});

t.test('a framed but malformed message is reported and the stream continues', async (t) => {
  const bad = msg('x').replace('Call-ID: x\r\n', '');
  const p = new SipStreamParser();
  t.same(ids(p.push(Buffer.from(msg('a') + bad + msg('b')))), ['a', 'SIP_ERR_MISSING_HEADER', 'b']);
  t.equal(p.closed, false);
});

t.test('framing failures close the parser', async (t) => {
  const cases: [string, string][] = [
    [msg('a').replace(/Content-Length: 0\r\n/, ''), 'SIP_ERR_MISSING_CONTENT_LENGTH'],
    [msg('a').replace('Content-Length: 0', 'Content-Length: -1'), 'SIP_ERR_BAD_CONTENT_LENGTH'],
    [msg('a').replace('Content-Length: 0', 'Content-Length: 0\r\nl: 0'), 'SIP_ERR_DUPLICATE_HEADER'],
    [msg('a').replace('Content-Length: 0', `Content-Length: ${limits.contentLengthMax + 1}`), 'SIP_ERR_BODY_TOO_LARGE'],
    [msg('a').replace('Content-Length: 0', `Content-Length: ${limits.contentLengthMax}`), 'SIP_ERR_MESSAGE_TOO_LARGE'],
  ];
  for (const [wire, code] of cases) {
    const p = new SipStreamParser();
    t.same(ids(p.push(Buffer.from(wire + msg('b')))), [code], code);
    t.ok(p.closed);
    t.same(p.push(Buffer.from(msg('c'))), [], 'ignores input once closed');
  }
});

t.test('a header section that never ends is cut off at the limit', async (t) => {
  const p = new SipStreamParser();
  const line = Buffer.from('X-Filler: ' + 'a'.repeat(1000) + '\r\n');
  const out: ParseResult[] = [];
  out.push(...p.push(Buffer.from('OPTIONS sip:b@h SIP/2.0\r\n')));
  for (let i = 0; i < 100 && !p.closed; i++) out.push(...p.push(line));
  t.same(ids(out), ['SIP_ERR_MESSAGE_TOO_LARGE']);
  t.ok(p.bufferedBytes <= limits.messageBytesMax);
});

t.test('folded Content-Length is found; partial body waits', async (t) => {
  const p = new SipStreamParser();
  const wire = msg('a', 'abcd').replace('Content-Length: 4', 'Content-Length:\r\n 4');
  t.same(p.push(Buffer.from(wire.slice(0, -2))), []);
  t.same(ids(p.push(Buffer.from(wire.slice(-2)))), ['a']);
});
