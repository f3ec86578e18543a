// Proves parseMessage's behaviour beyond RFC 4475: compact forms, folding, list
// splitting, method case-sensitivity, body rules for datagrams (RFC 3261 §18.3), the
// limits of limits.ts, encoding and line-ending strictness, and canRespond/partial. Each
// case builds a message from lines and checks what a caller of parseMessage would see.

import t from 'tap';
import { parseMessage, getHeader, getHeaders, limits, type ParseResult } from '../../../sip/syntax/index.js';

const base = [
  'Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKabc;rport',
  'From: "Alice" <sip:alice@example.com>;tag=1',
  'To: <sip:bob@example.com>',
  'Call-ID: abc@192.0.2.1',
  'CSeq: 1 INVITE',
  'Max-Forwards: 70',
];
const req = (headers: string[] = base, body = '', start = 'INVITE sip:bob@example.com SIP/2.0'): Buffer =>
  Buffer.from([start, ...headers].join('\r\n') + '\r\n\r\n' + body, 'utf8');
const code = (r: ParseResult): string => (r.ok ? 'ok' : r.error.code);

t.test('a plain request parses into method, URI, headers and body', async (t) => {
  const r = parseMessage(req([...base, 'Content-Length: 4'], 'v=0\n'));
  if (!r.ok) return t.fail(r.error.reason);
  const m = r.message;
  t.equal(m.kind, 'request');
  t.equal(m.kind === 'request' && m.method, 'INVITE');
  t.equal(m.kind === 'request' && m.uri, 'sip:bob@example.com');
  t.equal(Buffer.from(m.body).toString(), 'v=0\n');
  t.equal(m.headers.length, 7);
});

t.test('compact forms are expanded and looked up either way', async (t) => {
  const r = parseMessage(req([
    'v: SIP/2.0/UDP h;branch=z9hG4bK1', 'f: <sip:a@h>;tag=2', 't: <sip:b@h>', 'i: x@y', 'CSeq: 1 INVITE',
    'm: <sip:a@h>', 'l: 0', 'c: application/sdp', 'k: timer', 's: hi', 'o: presence', 'u: talk',
  ]));
  if (!r.ok) return t.fail(r.error.reason);
  t.same(r.message.headers.map((h) => h.name), [
    'Via', 'From', 'To', 'Call-ID', 'CSeq', 'Contact', 'Content-Length', 'Content-Type', 'Supported', 'Subject', 'Event', 'Allow-Events',
  ]);
  t.equal(getHeader(r.message, 'i'), 'x@y');
  t.equal(getHeader(r.message, 'CALL-ID'), 'x@y');
});

t.test('header names are case-insensitive; unknown ones keep their spelling', async (t) => {
  const r = parseMessage(req([...base.slice(1), 'vIA: SIP/2.0/TCP h;branch=z9hG4bK2', 'X-Odd-Name: v']));
  if (!r.ok) return t.fail(r.error.reason);
  t.equal(r.message.headers.find((h) => h.value.startsWith('SIP/2.0/TCP'))?.name, 'Via');
  t.equal(r.message.headers.at(-1)?.name, 'X-Odd-Name');
  t.equal(getHeader(r.message, 'x-odd-name'), 'v');
});

t.test('folded lines are unfolded to one space; values are trimmed', async (t) => {
  const r = parseMessage(req([...base, 'Subject:   first  \r\n   second\r\n\tthird   ']));
  if (!r.ok) return t.fail(r.error.reason);
  t.equal(getHeader(r.message, 'Subject'), 'first second third');
});

t.test('list headers split at top-level commas only; others stay whole', async (t) => {
  const r = parseMessage(req([
    ...base,
    'Contact: "A, B" <sip:a@h;x=1>;q=0.5, <sip:b@h?Subject=a%2Cb>',
    'Allow: INVITE, ACK,BYE',
    'Date: Sat, 13 Nov 2010 23:29:00 GMT',
    'WWW-Authenticate: Digest realm="r", nonce="n"',
    'X-List: a, b',
  ]));
  if (!r.ok) return t.fail(r.error.reason);
  t.same(getHeaders(r.message, 'Contact'), ['"A, B" <sip:a@h;x=1>;q=0.5', '<sip:b@h?Subject=a%2Cb>']);
  t.same(getHeaders(r.message, 'Allow'), ['INVITE', 'ACK', 'BYE']);
  t.same(getHeaders(r.message, 'Date'), ['Sat, 13 Nov 2010 23:29:00 GMT']);
  t.same(getHeaders(r.message, 'WWW-Authenticate'), ['Digest realm="r", nonce="n"']);
  t.same(getHeaders(r.message, 'X-List'), ['a, b']);
});

t.test('methods are case-sensitive: CSeq must match exactly', async (t) => {
  t.equal(code(parseMessage(req(base.map((h) => (h.startsWith('CSeq') ? 'CSeq: 1 invite' : h))))), 'SIP_ERR_CSEQ_METHOD_MISMATCH');
  const r = parseMessage(req(base.map((h) => (h.startsWith('CSeq') ? 'CSeq: 1 invite' : h)), '', 'invite sip:b@h SIP/2.0'));
  t.equal(r.ok && r.message.kind === 'request' && r.message.method, 'invite', 'an unknown lower-case method is kept');
});

t.test('the SIP-Version token is case-insensitive; other versions get 505', async (t) => {
  t.equal(code(parseMessage(req(base, '', 'INVITE sip:b@h sip/2.0'))), 'ok');
  t.equal(code(parseMessage(req(base, '', 'INVITE sip:b@h SIP/3.0'))), 'SIP_ERR_VERSION_NOT_SUPPORTED');
});

t.test('IPv6 references in Request-URI and Via', async (t) => {
  const r = parseMessage(req(['Via: SIP/2.0/UDP [2001:db8::9:1]:5070;branch=z9hG4bK3;received=2001:db8::9:255', ...base.slice(1)], '', 'INVITE sip:[2001:db8::10]:5060;transport=udp SIP/2.0'));
  t.equal(code(r), 'ok');
  t.equal(code(parseMessage(req(base, '', 'INVITE sip:[2001:db8::10::1] SIP/2.0'))), 'SIP_ERR_BAD_REQUEST_URI');
});

t.test('datagram body rules (RFC 3261 §18.3)', async (t) => {
  const noCl = parseMessage(req(base, 'abc'));
  t.equal(noCl.ok && Buffer.from(noCl.message.body).toString(), 'abc', 'no Content-Length: body runs to the end');
  const short = parseMessage(req([...base, 'Content-Length: 2'], 'abcdef'));
  t.equal(short.ok && Buffer.from(short.message.body).toString(), 'ab', 'extra bytes are discarded');
  t.equal(code(parseMessage(req([...base, 'Content-Length: 7'], 'abc'))), 'SIP_ERR_BODY_TRUNCATED');
  t.equal(code(parseMessage(req([...base, 'Content-Length: 0x10'], 'abc'))), 'SIP_ERR_BAD_CONTENT_LENGTH');
  t.equal(code(parseMessage(req([...base, 'Content-Length: 99999999999'], 'abc'))), 'SIP_ERR_BODY_TOO_LARGE');
});

t.test('body bytes are copied and binary-safe', async (t) => {
  const body = Buffer.from([0, 13, 10, 13, 10, 255, 128]);
  const raw = Buffer.concat([req([...base, `Content-Length: ${body.length}`]), body]);
  const r = parseMessage(raw);
  if (!r.ok) return t.fail(r.error.reason);
  raw.fill(0x41);
  t.same(Buffer.from(r.message.body), body, 'unchanged after the input buffer is reused');
});

t.test('leading CRLFs are skipped; only CRLFs is empty', async (t) => {
  t.equal(code(parseMessage(Buffer.concat([Buffer.from('\r\n\r\n'), req()]))), 'ok');
  t.equal(code(parseMessage(Buffer.from('\r\n\r\n'))), 'SIP_ERR_EMPTY_MESSAGE');
  t.equal(code(parseMessage(new Uint8Array(0))), 'SIP_ERR_EMPTY_MESSAGE');
});

t.test('header section strictness', async (t) => {
  t.equal(code(parseMessage(Buffer.from('INVITE sip:b@h SIP/2.0\r\nVia: x'))), 'SIP_ERR_HEADERS_INCOMPLETE');
  t.equal(code(parseMessage(Buffer.from(req().toString().replace('\r\nTo:', '\nTo:')))), 'SIP_ERR_BAD_LINE_ENDING');
  t.equal(code(parseMessage(Buffer.from(req().toString().replace('\r\nTo:', '\r\rTo:')))), 'SIP_ERR_BAD_LINE_ENDING');
  t.equal(code(parseMessage(req([...base, 'NoColonHere']))), 'SIP_ERR_BAD_HEADER_LINE');
  t.equal(code(parseMessage(req([...base, 'Bad Name: x']))), 'SIP_ERR_BAD_HEADER_LINE');
  t.equal(code(parseMessage(req([' folded-first: x', ...base]))), 'SIP_ERR_BAD_HEADER_LINE');
  const bad = Buffer.concat([req([...base, 'X: a']).subarray(0, -5), Buffer.from([0xc3, 0x28]), Buffer.from('\r\n\r\n')]);
  t.equal(code(parseMessage(bad)), 'SIP_ERR_BAD_ENCODING');
});

t.test('mandatory and single-valued headers', async (t) => {
  for (const [name, miss] of [['Via', 'Missing Via header'], ['From', 'Missing From header'], ['To', 'Missing To header'], ['Call-ID', 'Missing Call-ID header'], ['CSeq', 'Missing CSeq header']] as const) {
    const r = parseMessage(req(base.filter((h) => !h.startsWith(name + ':'))));
    t.equal(!r.ok && r.error.reason, miss);
  }
  t.equal(code(parseMessage(req(base.filter((h) => !h.startsWith('Max-Forwards'))))), 'ok', 'Max-Forwards is optional (RFC 2543 peers)');
  t.equal(code(parseMessage(req([...base, 'i: other@h']))), 'SIP_ERR_DUPLICATE_HEADER');
  t.equal(code(parseMessage(req([...base, 'Max-Forwards: 256'].filter((h) => h !== 'Max-Forwards: 70')))), 'SIP_ERR_BAD_MAX_FORWARDS');
  t.equal(code(parseMessage(req([...base, 'Contact: *, <sip:a@h>']))), 'SIP_ERR_BAD_NAME_ADDR');
  t.equal(code(parseMessage(req([...base, 'Contact: *']))), 'ok');
  t.equal(code(parseMessage(req([...base, 'Route: sip:p@h;lr']))), 'SIP_ERR_BAD_NAME_ADDR', 'Route needs <>');
  t.equal(code(parseMessage(req([...base, 'Call-ID: a b'].filter((h) => !h.startsWith('Call-ID: abc'))))), 'SIP_ERR_BAD_CALL_ID');
});

t.test('responses: status line rules', async (t) => {
  const resp = (line: string): ParseResult => parseMessage(req(base, '', line));
  t.equal(code(resp('SIP/2.0 180 Ringing')), 'ok');
  t.equal(code(resp('SIP/2.0 099 Low')), 'SIP_ERR_BAD_STATUS_CODE');
  t.equal(code(resp('SIP/2.0 700 High')), 'SIP_ERR_BAD_STATUS_CODE');
  t.equal(code(resp('SIP/2.0 2000 OK')), 'SIP_ERR_BAD_STATUS_CODE');
  t.equal(code(resp('SIP/2.0 200')), 'SIP_ERR_BAD_START_LINE');
  t.equal(code(resp('SIP/2.0 200 O\x01K')), 'SIP_ERR_BAD_REASON_PHRASE');
  const r = resp('SIP/2.0 200 OK');
  t.equal(!r.ok || r.message.kind, 'response');
  const bad = parseMessage(req(base.filter((h) => !h.startsWith('Call-ID')), '', 'SIP/2.0 200 OK'));
  t.equal(!bad.ok && bad.error.canRespond, false, 'a response is never answered');
});

t.test('canRespond: a partial request is offered only with usable addressing headers', async (t) => {
  const r = parseMessage(req([...base, 'Date: yesterday']));
  t.equal(!r.ok && r.error.canRespond, true);
  t.equal(!r.ok && r.error.partial?.method, 'INVITE');
  const ack = parseMessage(req(base.map((h) => (h.startsWith('CSeq') ? 'CSeq: 1 ACK' : h)).concat('Date: x'), '', 'ACK sip:b@h SIP/2.0'));
  t.equal(!ack.ok && ack.error.canRespond, false, 'ACK is never answered');
  const noVia = parseMessage(req(base.filter((h) => !h.startsWith('Via'))));
  t.equal(!noVia.ok && noVia.error.canRespond, false);
});

t.test('limits: message size, header count, line length, URI length, params', async (t) => {
  t.equal(code(parseMessage(new Uint8Array(limits.messageBytesMax + 1))), 'SIP_ERR_MESSAGE_TOO_LARGE');
  const many = Array.from({ length: limits.headerCountMax }, (_, i) => `X-H${i}: v`);
  t.equal(code(parseMessage(req([...base, ...many]))), 'SIP_ERR_TOO_MANY_HEADERS');
  const manyVia = Array.from({ length: limits.headerCountMax }, () => 'SIP/2.0/UDP h;branch=z9hG4bKx').join(',');
  t.equal(code(parseMessage(req([...base, `Via: ${manyVia}`]))), 'SIP_ERR_TOO_MANY_HEADERS', 'counted after splitting');
  t.equal(code(parseMessage(req([...base, `X-Long: ${'a'.repeat(limits.lineBytesMax)}`]))), 'SIP_ERR_LINE_TOO_LONG');
  const folded = Array.from({ length: 20 }, () => ` ${'b'.repeat(500)}`).join('\r\n');
  t.equal(code(parseMessage(req([...base, `X-Folded: a\r\n${folded}`]))), 'SIP_ERR_LINE_TOO_LONG', 'unfolded length counts');
  t.equal(code(parseMessage(req(base, '', `INVITE sip:${'u'.repeat(limits.uriCharsMax)}@h SIP/2.0`))), 'SIP_ERR_BAD_REQUEST_URI');
  const params = Array.from({ length: limits.paramCountMax + 1 }, (_, i) => `;p${i}`).join('');
  t.equal(code(parseMessage(req(base, '', `INVITE sip:b@h${params} SIP/2.0`))), 'SIP_ERR_BAD_REQUEST_URI');
  t.equal(code(parseMessage(req([...base.filter((h) => !h.startsWith('To')), `To: <sip:b@h>${params}`]))), 'SIP_ERR_BAD_NAME_ADDR');
});

t.test('never throws on pathological but bounded input', async (t) => {
  const inputs = [
    '"'.repeat(5000), '<'.repeat(5000), ';'.repeat(5000), '\\'.repeat(5000), '%'.repeat(5000),
  ];
  for (const junk of inputs) {
    for (const h of ['To', 'Via', 'Contact', 'CSeq', 'Route', 'Content-Type', 'X-J']) {
      const r = parseMessage(req([...base.filter((x) => !x.startsWith(h + ':')), `${h}: ${junk}`]));
      t.not(code(r), 'SIP_ERR_INTERNAL', `${h} with ${junk[0]}…`);
    }
  }
});

t.test('RFC 5118 IPv6 cases (hand-written after its sections 4.1-4.7)', async (t) => {
  const v6 = (ruri: string, via: string, contact = '<sip:caller@[2001:db8::1]>'): ParseResult => parseMessage(req([
    `Via: ${via}`, 'From: sip:user@example.com;tag=81x2', 'To: sip:user@example.com', 'Call-ID: v6@h', 'CSeq: 98176 REGISTER',
    'Max-Forwards: 70', `Contact: ${contact}`,
  ], '', `REGISTER ${ruri} SIP/2.0`));
  t.equal(code(v6('sip:[2001:db8::10]', 'SIP/2.0/UDP [2001:db8::9:1];branch=z9hG4bKas3-111')), 'ok', '4.1 valid reference');
  t.equal(code(v6('sip:2001:db8::10', 'SIP/2.0/UDP [2001:db8::9:1];branch=z9hG4bKas3')), 'SIP_ERR_BAD_REQUEST_URI', '4.2 no brackets');
  t.equal(code(v6('sip:[2001:db8::10:5070]', 'SIP/2.0/UDP [2001:db8::9:1];branch=z9hG4bKas3')), 'ok', '4.3 port-like group inside brackets');
  t.equal(code(v6('sip:[2001:db8::10]:5070', 'SIP/2.0/UDP [2001:db8::9:1];branch=z9hG4bKas3')), 'ok', '4.4 port outside brackets');
  t.equal(code(v6('sip:[2001:db8::10]', 'SIP/2.0/UDP [2001:db8::9:1];received=[2001:db8::9:255];branch=z9hG4bKas3')), 'ok', '4.5 received with brackets');
  t.equal(code(v6('sip:[2001:db8::10]', 'SIP/2.0/UDP [2001:db8::9:1];received=2001:db8::9:255;branch=z9hG4bKas3')), 'ok', '4.5 received without brackets');
  t.equal(code(v6('sip:[::ffff:192.0.2.10]', 'SIP/2.0/UDP [::ffff:192.0.2.10]:19823;branch=z9hG4bKbh19')), 'ok', '4.6 IPv4-mapped');
  t.equal(code(v6('sip:[2001:db8::192.0.2.1]', 'SIP/2.0/UDP [2001:db8::192.0.2.1];branch=z9hG4bKas3')), 'ok', '4.7 embedded IPv4');
  t.equal(code(v6('sip:[2001:db8:::192.0.2.1]', 'SIP/2.0/UDP [2001:db8::9:1];branch=z9hG4bKas3')), 'SIP_ERR_BAD_REQUEST_URI', '4.7 three colons');
  t.equal(code(v6('sip:[2001:db8::10]', 'SIP/2.0/UDP [2001:db8::9:1];branch=z9hG4bKas3', '<sip:caller@[2001:db8:::1]>')), 'SIP_ERR_BAD_NAME_ADDR', 'bad reference in Contact');
});
