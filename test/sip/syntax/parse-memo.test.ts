// The speed-ups of the syntax layer must not change a single answer. Proves that:
//  1. parseVia / parseNameAddr / parseUri give the same result from the memo as from a
//     fresh parse (memo cleared), for generated values, valid and invalid, and keep
//     doing so after far more distinct values than the memo holds (it empties itself);
//  2. restampVia's text parses (fresh, memo cleared) to exactly the Via it handed to the
//     memo, and says the same as formatVia — for generated Vias with shuffled params;
//  3. header name lookup (now keyed by exact spelling with a bounded cache) maps every
//     spelling of every known header, compact forms and unknown names as before, also
//     past the cache bound;
//  4. isIPv4 (now one pass, no split) agrees with the dotted-quad grammar on edge cases;
//  5. a message with a header edited after parsing is re-read correctly (nothing caches
//     a header per message: every edit returns a new message whose reads see the edit).
// How: fast-check with the suite's fixed seed, plus tables of edge cases.

import t from 'tap';
import fc from 'fast-check';
import {
  clearParseMemos, formatVia, getHeader, parseMessage, parseNameAddr, parseUri, parseVia, restampVia,
  setHeader, removeHeader, prependHeader, canonicalHeaderName, headerKey, isIPv4, limits, type Via,
} from '../../../sip/syntax/index.js';

const digit = fc.integer({ min: 0, max: 300 });
const ipv4ish = fc.tuple(digit, digit, digit, digit).map((p) => p.join('.'));
const word = fc.string({ unit: fc.constantFrom(...'abcz09-._~%AZ'.split('')), minLength: 1, maxLength: 8 });
const paramName = fc.constantFrom('branch', 'received', 'rport', 'ttl', 'maddr', 'x', 'lr', '1', 'tag');
const param = fc.tuple(paramName, fc.option(fc.oneof(word, ipv4ish, fc.constant('[::1]'), fc.constant('5060')), { nil: null }))
  .map(([n, v]) => (v === null ? `;${n}` : `;${n}=${v}`));
const viaText = fc.tuple(
  fc.constantFrom('SIP/2.0/UDP', 'SIP/2.0/tcp', 'SIP / 2.0 / TLS', 'SIP/2.1/UDP'),
  fc.oneof(ipv4ish, word, fc.constant('[2001:db8::1]')),
  fc.option(fc.integer({ min: 0, max: 70000 }), { nil: undefined }),
  fc.array(param, { maxLength: 5 }),
).map(([proto, host, port, ps]) => `${proto} ${host}${port === undefined ? '' : `:${port}`}${ps.join('')}`);
const nameAddrText = fc.tuple(
  fc.constantFrom('', '"Bob" ', 'Bob ', '"a\\"b" '),
  fc.constantFrom('sip:', 'sips:', 'tel:', 'mailto:'),
  fc.oneof(word, fc.tuple(word, ipv4ish).map(([u, h]) => `${u}@${h}`)),
  fc.boolean(),
  fc.array(param, { maxLength: 3 }),
).map(([dn, scheme, rest, br, ps]) => (br ? `${dn}<${scheme}${rest}>${ps.join('')}` : `${scheme}${rest}${ps.join('')}`));

function fresh<T>(parse: (v: string) => T, v: string): T {
  clearParseMemos();
  return parse(v);
}

t.test('memoized parses equal fresh parses', async (t) => {
  fc.assert(fc.property(viaText, (v) => {
    const first = parseVia(v);
    const again = parseVia(v);
    t.equal(again, first, 'the second parse is the memoized object');
    t.same(fresh(parseVia, v), first);
  }), { numRuns: 300 });
  fc.assert(fc.property(nameAddrText, (v) => {
    const memo = parseNameAddr(v);
    t.same(fresh(parseNameAddr, v), memo);
    const uri = memo?.uri ?? v;
    const u = parseUri(uri);
    t.same(fresh(parseUri, uri), u);
  }), { numRuns: 300 });
});

t.test('the memo stays correct past its size bound', async (t) => {
  clearParseMemos();
  const n = limits.parseMemoEntriesMax * 2 + 17;
  let wrong = 0;
  for (let i = 0; i < n; i++) {
    const v = `SIP/2.0/UDP 10.0.${(i >> 8) & 255}.${i & 255}:5060;branch=z9hG4bK${i}`;
    const via = parseVia(v);
    if (via?.branch !== `z9hG4bK${i}` || via.host !== `10.0.${(i >> 8) & 255}.${i & 255}`) wrong++;
  }
  t.equal(wrong, 0);
  t.equal(parseVia('SIP/2.0/UDP 10.0.0.0:5060;branch=z9hG4bK0')?.branch, 'z9hG4bK0', 'an early value parses again after eviction');
  const long = `SIP/2.0/UDP host.example;x=${'a'.repeat(limits.parseMemoKeyCharsMax)}`;
  t.equal(parseVia(long)?.params['x'], 'a'.repeat(limits.parseMemoKeyCharsMax), 'values too long for the memo still parse');
});

t.test('restampVia text parses to the Via it remembered', async (t) => {
  const received = fc.option(fc.oneof(ipv4ish, fc.constant('[2001:db8::7]'), fc.constant('host.example'), fc.constant('::1')), { nil: undefined });
  const rport = fc.option(fc.oneof(fc.constant(true as const), fc.integer({ min: -1, max: 70000 })), { nil: undefined });
  let seeded = 0;
  fc.assert(fc.property(viaText, received, rport, (text, rec, rp) => {
    const via = fresh(parseVia, text);
    if (via === null) return;
    const value = restampVia(via, rec, rp);
    const expected: Via = { ...via, received: rec, rport: rp };
    t.equal(value, formatVia(expected), 'same text as formatVia');
    const remembered = parseVia(value);
    const reparsed = fresh(parseVia, value);
    t.same(remembered, reparsed, value);
    if (reparsed !== null) seeded++;
  }), { numRuns: 1500 });
  t.ok(seeded > 60, `enough valid stamps were checked (${seeded})`);
});

t.test('header names: every spelling maps as before', async (t) => {
  const cases: Array<[string, string, string]> = [
    ['Via', 'Via', 'via'], ['v', 'Via', 'via'], ['V', 'Via', 'via'], ['vIA', 'Via', 'via'],
    ['call-id', 'Call-ID', 'call-id'], ['CALL-ID', 'Call-ID', 'call-id'], ['i', 'Call-ID', 'call-id'],
    ['cseq', 'CSeq', 'cseq'], ['l', 'Content-Length', 'content-length'], ['X-Custom', 'X-Custom', 'x-custom'],
    ['x-CUSTOM', 'x-CUSTOM', 'x-custom'],
  ];
  for (const [name, canon, key] of cases) {
    t.equal(canonicalHeaderName(name), canon, name);
    t.equal(headerKey(name), key, name);
  }
  // Far more odd spellings than the name cache keeps: still right.
  for (let i = 0; i < limits.headerNamesCachedMax * 2; i++) {
    const odd = `X-Odd-${i}`;
    if (headerKey(odd) !== odd.toLowerCase() || canonicalHeaderName(odd) !== odd) t.fail(odd);
  }
  t.equal(headerKey('ViA'), 'via', 'mixed case after the cache filled');
});

t.test('isIPv4 edge cases', async (t) => {
  const yes = ['0.0.0.0', '255.255.255.255', '127.0.0.1', '001.02.3.004'];
  const no = ['', '1.2.3', '1.2.3.4.', '.1.2.3.4', '1..2.3', '256.1.1.1', '1.2.3.4.5', '1.2.3.0004', 'a.b.c.d', '1.2.3.-4', '1.2.3.4 ', '१.2.3.4'];
  for (const s of yes) t.ok(isIPv4(s), s);
  for (const s of no) t.notOk(isIPv4(s), JSON.stringify(s));
});

t.test('header edits after parsing are seen by later reads', async (t) => {
  const r = parseMessage(Buffer.from([
    'INVITE sip:bob@example.com SIP/2.0', 'Via: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKa', 'From: <sip:a@example.com>;tag=1',
    'To: <sip:bob@example.com>', 'Call-ID: c1', 'CSeq: 1 INVITE', 'Content-Length: 0', '', '',
  ].join('\r\n')));
  if (!r.ok) throw new Error(r.error.reason);
  const m = r.message;
  t.equal(getHeader(m, 'To'), '<sip:bob@example.com>');
  const tagged = setHeader(m, 't', '<sip:bob@example.com>;tag=2');
  t.equal(getHeader(tagged, 'To'), '<sip:bob@example.com>;tag=2', 'compact name sets To');
  t.equal(getHeader(m, 'To'), '<sip:bob@example.com>', 'the original is unchanged');
  t.equal(getHeader(removeHeader(tagged, 'TO'), 'to'), undefined);
  const twoVias = prependHeader(m, 'v', 'SIP/2.0/UDP 10.0.0.2;branch=z9hG4bKb');
  t.equal(parseVia(getHeader(twoVias, 'Via') ?? '')?.branch, 'z9hG4bKb', 'the new top Via is read');
});
