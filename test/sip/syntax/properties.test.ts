// Property tests (fast-check, fixed seeds so failures replay):
//  1. parse(serialize(m)) equals m for generated requests and responses whose URIs, Via,
//     From/To, CSeq and unknown headers come from the formatters — so the formatters are
//     checked against the parser too;
//  2. parseUri(formatUri(u)) and parseNameAddr(formatNameAddr(n)) are identities;
//  3. random bytes, and RFC 4475 messages with random byte edits, give ok or a typed
//     error, never a throw and never SIP_ERR_INTERNAL — through parseMessage and through
//     the stream parser fed in random chunks.

import t from 'tap';
import fc from 'fast-check';
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  parseMessage, serializeMessage, formatUri, parseUri, formatVia, formatNameAddr, parseNameAddr, formatCSeq,
  SipStreamParser, SipErrorCodes, type SipMessage, type SipUri, type ParseResult, type NameAddr,
} from '../../../sip/syntax/index.js';

const SEED = 4475;
const tokenChars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.!%*_+`'~".split('');
const token = fc.string({ unit: fc.constantFrom(...tokenChars), minLength: 1, maxLength: 12 });
const lowerToken = token.map((s) => s.toLowerCase());
const text = fc.string({ unit: 'grapheme', maxLength: 20 });
const label = fc.string({ unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789'.split('')), minLength: 1, maxLength: 10 });
const hostname = fc.array(label, { minLength: 1, maxLength: 3 }).map((ls) => [...ls, 'example'].join('.'));
const ipv4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((p) => p.join('.'));
const ipv6 = fc.array(fc.integer({ min: 0, max: 0xffff }), { minLength: 8, maxLength: 8 }).map((g) => g.map((x) => x.toString(16)).join(':'));
const host = fc.oneof(hostname, ipv4, ipv6);
const record = <V>(keys: fc.Arbitrary<string>, vals: fc.Arbitrary<V>): fc.Arbitrary<Record<string, V>> =>
  fc.uniqueArray(fc.tuple(keys, vals), { maxLength: 4, selector: (e) => e[0] }).map((es) => Object.fromEntries(es));

const sipUri: fc.Arbitrary<SipUri> = fc.record({
  scheme: fc.constantFrom('sip' as const, 'sips' as const),
  user: fc.option(text.filter((s) => s.length > 0), { nil: undefined }),
  password: fc.option(text, { nil: undefined }),
  host,
  port: fc.option(fc.integer({ min: 0, max: 65535 }), { nil: undefined }),
  params: record(text.filter((s) => s.length > 0).map((s) => s.toLowerCase()).filter((s) => s.length > 0), fc.option(text.filter((s) => s.length > 0), { nil: null })),
  headers: record(text.filter((s) => s.length > 0), text),
}, { requiredKeys: ['scheme', 'host', 'params', 'headers'] }).map((u) => {
  // A password only exists after a user.
  const { password, ...rest } = u;
  return u.user === undefined || password === undefined ? rest : u;
});

const genValue = fc.oneof(token, text.map((s) => JSON.stringify(s.replace(/[\\"\r\n]/g, ''))));
const nameAddr: fc.Arbitrary<NameAddr> = fc.record({
  displayName: fc.option(text.map((s) => s.replace(/[\r\n]/g, '')), { nil: undefined }),
  uri: sipUri.map((u) => formatUri({ ...u, headers: {} })),
  params: record(lowerToken, fc.option(genValue, { nil: null })),
}, { requiredKeys: ['uri', 'params'] });

const headerValue = fc.string({ unit: fc.constantFrom(...'ab ,;:"<>\\\té日😀='.split(/(?:)/u)), maxLength: 30 })
  .map((s) => s.trim().replace(/^\t+|\t+$/g, '').trim());

const message: fc.Arbitrary<SipMessage> = fc.record({
  isRequest: fc.boolean(),
  method: token,
  ruri: sipUri.map((u) => formatUri({ ...u, headers: {} })),
  status: fc.integer({ min: 100, max: 699 }),
  reason: text.map((s) => s.replace(/[\x00-\x08\x0a-\x1f\x7f]/g, '')),
  via: fc.array(fc.record({ transport: fc.constantFrom('UDP', 'TCP', 'TLS', 'WS'), host, branch: token.map((b) => 'z9hG4bK' + b), params: fc.constant({}) }), { minLength: 1, maxLength: 3 }),
  from: nameAddr.map((n) => ({ ...n, params: { ...n.params, tag: 'f1' } })),
  to: nameAddr,
  callId: token,
  seq: fc.nat(),
  extra: fc.array(fc.tuple(token.map((n) => 'X-' + n), headerValue), { maxLength: 6 }),
  body: fc.uint8Array({ maxLength: 200 }),
}).map((g): SipMessage => {
  const method = g.isRequest ? g.method : 'INVITE';
  const headers = [
    ...g.via.map((v) => ({ name: 'Via', value: formatVia(v) })),
    { name: 'From', value: formatNameAddr(g.from) },
    { name: 'To', value: formatNameAddr(g.to) },
    { name: 'Call-ID', value: g.callId },
    { name: 'CSeq', value: formatCSeq({ seq: g.seq, method }) },
    ...g.extra.map(([name, value]) => ({ name, value })),
    { name: 'Content-Length', value: String(g.body.length) },
  ];
  return g.isRequest
    ? { kind: 'request', method: g.method, uri: g.ruri, headers, body: g.body }
    : { kind: 'response', status: g.status, reason: g.reason, headers, body: g.body };
});

// fast-check builds null-prototype records with explicit undefined keys; compare data.
const plain = (x: unknown): unknown => JSON.parse(JSON.stringify(x));

t.test('parse(serialize(m)) equals m', async (t) => {
  fc.assert(fc.property(message, (m) => {
    const r = parseMessage(serializeMessage(m));
    if (!r.ok) throw new Error(`${r.error.code}: ${r.error.reason}`);
    t.strictSame(plain({ ...r.message, body: [] }), plain({ ...m, body: [] }));
    t.strictSame(Buffer.from(r.message.body), Buffer.from(m.body));
    return true;
  }), { seed: SEED, numRuns: 300 });
  t.pass('property held');
});

t.test('URI and name-addr formatters round-trip through their parsers', async (t) => {
  fc.assert(fc.property(sipUri, (u) => {
    t.strictSame(plain(parseUri(formatUri(u))), plain(u));
  }), { seed: SEED, numRuns: 300 });
  fc.assert(fc.property(nameAddr, (n) => {
    t.strictSame(plain(parseNameAddr(formatNameAddr(n))), plain(n));
  }), { seed: SEED, numRuns: 300 });
  t.pass('properties held');
});

const tortureDir = join(dirname(fileURLToPath(import.meta.url)), '..', 'torture');
const corpus = ['valid', 'invalid'].flatMap((k) => readdirSync(join(tortureDir, k)).map((f) => readFileSync(join(tortureDir, k, f))));

const typed = (r: ParseResult): boolean =>
  r.ok ? r.message.kind === 'request' || r.message.kind === 'response' : Object.hasOwn(SipErrorCodes, r.error.code) && r.error.code !== 'SIP_ERR_INTERNAL';

const mutated = fc.tuple(
  fc.nat(corpus.length - 1),
  fc.array(fc.tuple(fc.constantFrom('flip', 'insert', 'delete', 'cut'), fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }),
).map(([i, edits]) => {
  let b = Array.from(corpus[i] ?? []);
  for (const [op, at, byte] of edits) {
    const p = b.length === 0 ? 0 : at % b.length;
    if (op === 'flip') b[p] = byte;
    else if (op === 'insert') b.splice(p, 0, byte);
    else if (op === 'delete') b.splice(p, 1);
    else b = b.slice(0, p);
  }
  return Uint8Array.from(b);
});

t.test('random and mutated input: ok or a typed error, never a throw', async (t) => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 600 }), (bytes) => typed(parseMessage(bytes))), { seed: SEED, numRuns: 1000 });
  fc.assert(fc.property(mutated, (bytes) => typed(parseMessage(bytes))), { seed: SEED, numRuns: 3000 });
  fc.assert(fc.property(mutated, fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 30 }), (bytes, cuts) => {
    const p = new SipStreamParser();
    let pos = 0;
    for (let i = 0; pos < bytes.length; i++) {
      const n = cuts[i % cuts.length] ?? 1;
      for (const r of p.push(bytes.subarray(pos, pos + n))) if (!typed(r)) return false;
      pos += n;
    }
    return true;
  }), { seed: SEED, numRuns: 1000 });
  t.pass('no throw, no internal error');
});
