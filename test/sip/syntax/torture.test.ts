// Proves the parser meets RFC 4475: every message in test/sip/torture/valid parses, every
// one in invalid/ is rejected with the code (and canRespond) recorded in index.json, and
// a few valid ones are checked field by field where the RFC says what a parser must see.
// Each valid message is also re-serialized and re-parsed to the same message.

import t from 'tap';
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  parseMessage, serializeMessage, getHeader, getHeaders, parseVia, parseNameAddr, parseUri, parseCSeq,
  buildResponse, statusForError, reasonPhraseForError, appendHeader, type SipMessage,
} from '../../../sip/syntax/index.js';

const dir = join(dirname(fileURLToPath(import.meta.url)), '..', 'torture');
type Entry = { file: string; section: string; title: string; code?: string; canRespond?: boolean; reason?: string };
const index = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as { valid: Entry[]; invalid: Entry[] };
const load = (kind: string, file: string): Buffer => readFileSync(join(dir, kind, file));
const parseOk = (kind: string, file: string): SipMessage => {
  const r = parseMessage(load(kind, file));
  if (!r.ok) throw new Error(`${file}: ${r.error.code} ${r.error.reason}`);
  return r.message;
};

t.test('index lists every vector file exactly once', async (t) => {
  for (const kind of ['valid', 'invalid'] as const) {
    const files = readdirSync(join(dir, kind)).filter((f) => f.endsWith('.sip')).sort();
    t.same(index[kind].map((e) => e.file).sort(), files, kind);
  }
});

t.test('valid messages parse and survive a serialize/parse round trip', async (t) => {
  for (const e of index.valid) {
    const r = parseMessage(load('valid', e.file));
    t.ok(r.ok, `${e.section} ${e.file} ${r.ok ? '' : `${r.error.code}: ${r.error.reason}`}`);
    if (!r.ok) continue;
    const again = parseMessage(serializeMessage(r.message));
    t.ok(again.ok, `${e.file} re-parses`);
    // The serializer always states Content-Length (inv2543 has none): expect it added.
    const expected = getHeader(r.message, 'Content-Length') === undefined
      ? appendHeader(r.message, 'Content-Length', String(r.message.body.length))
      : r.message;
    if (again.ok) t.same(again.message, expected, `${e.file} round trip`);
  }
});

t.test('invalid messages are rejected with their recorded code', async (t) => {
  for (const e of index.invalid) {
    const r = parseMessage(load('invalid', e.file));
    t.notOk(r.ok, `${e.section} ${e.file} rejected`);
    if (r.ok) continue;
    t.equal(r.error.code, e.code, `${e.file} code (${r.error.reason})`);
    t.equal(r.error.canRespond, e.canRespond, `${e.file} canRespond`);
    t.equal(r.error.partial !== undefined, r.error.canRespond, `${e.file} partial iff canRespond`);
    t.ok(r.error.reason.length > 0, 'reason names the problem');
  }
});

t.test('3.1.1.1 wsinv: folding, compact forms, LWS everywhere, lists split', async (t) => {
  const m = parseOk('valid', 'wsinv.sip');
  t.equal(m.kind, 'request');
  if (m.kind !== 'request') return;
  t.equal(m.method, 'INVITE');
  t.equal(getHeader(m, 'To'), 'sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n');
  t.same(parseNameAddr(getHeader(m, 'to') ?? '')?.params, { tag: '1918181833n' });
  t.equal(parseNameAddr(getHeader(m, 'f') ?? '')?.displayName, 'J Rosenberg \\"');
  t.same(parseCSeq(getHeader(m, 'CSeq') ?? ''), { seq: 9, method: 'INVITE' });
  t.equal(getHeader(m, 'Max-Forwards'), '0068');
  t.equal(getHeader(m, 'Subject'), '');
  t.equal(getHeader(m, 'NewFangledHeader'), 'newfangled value continued newfangled value');
  t.equal(getHeader(m, 'UnknownHeaderWithUnusualValue'), ';;,,;;,;');
  const vias = getHeaders(m, 'Via').map((v) => parseVia(v));
  t.same(vias.map((v) => [v?.transport, v?.host, v?.branch]), [
    ['UDP', '192.0.2.2', '390skdjuw'],
    ['TCP', 'spindle.example.com', 'z9hG4bK9ikj8'],
    ['UDP', '192.168.255.111', 'z9hG4bK30239'],
  ]);
  const contact = parseNameAddr(getHeader(m, 'm') ?? '');
  t.equal(contact?.displayName, 'Quoted string ""');
  t.same(contact?.params, { newparam: 'newvalue', secondparam: null, q: '0.33' });
  t.same(parseUri(m.uri)?.params, { unknownparam: null });
  t.equal(m.body.length, 150);
});

t.test('3.1.1.2 intmeth: unusual method, URI userinfo, UTF-8 and controls in quotes', async (t) => {
  const m = parseOk('valid', 'intmeth.sip');
  if (m.kind !== 'request') return t.fail('not a request');
  t.equal(m.method, "!interesting-Method0123456789_*+`.%indeed'~");
  const u = parseUri(m.uri);
  t.equal(u?.user, "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*");
  t.equal(u?.password, "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)");
  t.equal(parseNameAddr(getHeader(m, 'To') ?? '')?.displayName, 'BEL:\x07 NUL:\x00 DEL:\x7f');
  t.equal(parseNameAddr(getHeader(m, 'From') ?? '')?.params["fromparam''~+*_!.-%"], '"работающий"');
});

t.test('3.1.1.3/4 escapes are decoded in URI components', async (t) => {
  const m = parseOk('valid', 'esc01.sip');
  if (m.kind !== 'request') return t.fail('not a request');
  t.equal(parseUri(m.uri)?.user, 'sips:user@example.com');
  const c = parseUri(parseNameAddr(getHeader(m, 'Contact') ?? '')?.uri ?? '');
  t.equal(c?.user, 'caller');
  t.same(c?.params, { lr: null, name: 'value%41' });
  const n = parseOk('valid', 'escnull.sip');
  t.equal(parseUri(getHeaders(n, 'Contact').map((v) => parseNameAddr(v)?.uri ?? '')[1] ?? '')?.user, '\0\0');
});

t.test('3.1.1.5 esc02: %-method is unknown, C%6Fntact is an unknown header', async (t) => {
  const m = parseOk('valid', 'esc02.sip');
  if (m.kind !== 'request') return t.fail('not a request');
  t.equal(m.method, 'RE%47IST%45R');
  t.equal(getHeaders(m, 'Contact').length, 2);
  t.equal(getHeader(m, 'C%6Fntact'), '<sip:alias2@host2.example.com>');
});

t.test('3.1.1.8 dblreq: bytes beyond Content-Length in a datagram are discarded', async (t) => {
  const m = parseOk('valid', 'dblreq.sip');
  t.equal(m.kind === 'request' && m.method, 'REGISTER');
  t.equal(m.body.length, 0);
});

t.test('3.1.1.11 mpart01: multipart body passes through byte-exact', async (t) => {
  const raw = load('valid', 'mpart01.sip');
  const m = parseOk('valid', 'mpart01.sip');
  const start = raw.indexOf('\r\n\r\n') + 4;
  t.same(Buffer.from(m.body), raw.subarray(start, start + Number(getHeader(m, 'Content-Length'))));
});

t.test('3.1.1.12/13 reason phrases: UTF-8 and empty', async (t) => {
  const u = parseOk('valid', 'unreason.sip');
  t.equal(u.kind === 'response' && u.reason, '= 2**3 * 5**2 но сто девяносто девять - простое');
  const n = parseOk('valid', 'noreason.sip');
  t.equal(n.kind === 'response' && n.status, 100);
  t.equal(n.kind === 'response' && n.reason, '');
});

t.test('3.1.1.10 transports: unknown transport tokens are kept', async (t) => {
  const m = parseOk('valid', 'transports.sip');
  t.same(getHeaders(m, 'Via').map((v) => parseVia(v)?.transport), ['UDP', 'SCTP', 'TLS', 'UNKNOWN', 'TCP']);
});

t.test('rejected requests that can be answered yield a usable 400', async (t) => {
  const r = parseMessage(load('invalid', 'mismatch01.sip'));
  if (r.ok || r.error.partial === undefined) return t.fail('expected a partial');
  const resp = buildResponse(r.error.partial, statusForError(r.error.code), 'Bad Request', { toTag: 'abc' });
  const back = parseMessage(serializeMessage(resp));
  t.ok(back.ok, 'the 400 itself parses');
  if (!back.ok) return;
  t.equal(back.message.kind === 'response' && back.message.status, 400);
  t.equal(getHeader(back.message, 'Call-ID'), getHeader(r.error.partial, 'Call-ID'));
  t.match(getHeader(back.message, 'To'), /;tag=abc$/);
});

t.test('every answerable torture request earns one 400 (505/513) naming its problem, no bigger than the request', async (t) => {
  // RFC 4475 §3.1.2: "ideally" a 400 whenever a response can be addressed. Answerable
  // means a request (not ACK) with a usable top Via, whatever else is missing or broken.
  for (const e of index.invalid) {
    const bytes = load('invalid', e.file);
    const r = parseMessage(bytes);
    if (r.ok || !r.error.canRespond || r.error.partial === undefined) continue;
    const reason = reasonPhraseForError(r.error);
    if (e.reason !== undefined) t.equal(reason, e.reason, `${e.file} reason`);
    const resp = buildResponse(r.error.partial, statusForError(r.error.code), reason);
    const wire = serializeMessage(resp);
    t.ok(wire.length < bytes.length + 64, `${e.file}: ${wire.length}-byte answer to a ${bytes.length}-byte request`);
    t.equal(getHeaders(resp, 'Via').length, getHeaders(r.error.partial, 'Via').length, `${e.file} copies every Via`);
    for (const name of ['From', 'To', 'Call-ID', 'CSeq']) t.ok(getHeaders(resp, name).length <= 1, `${e.file}: at most one ${name}`);
  }
  const insuf = parseMessage(load('invalid', 'insuf.sip'));
  if (insuf.ok || insuf.error.partial === undefined) return t.fail('insuf.sip should be answerable');
  const resp = buildResponse(insuf.error.partial, 400, reasonPhraseForError(insuf.error));
  t.equal(resp.reason, 'Missing From, To, Call-ID headers');
  t.equal(getHeader(resp, 'CSeq'), getHeader(insuf.error.partial, 'CSeq'), 'the CSeq it had is copied');
  const multi = parseMessage(load('invalid', 'multi01.sip'));
  t.equal(!multi.ok && multi.error.canRespond && getHeaders(multi.error.partial!, 'Call-ID').length, 1, 'multi01: one Call-ID in the answer');
});
