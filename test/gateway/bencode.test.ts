// Proves the bencode codec round-trips every value the ng protocol can carry (property
// test over generated values, including non-ASCII strings and negative integers), writes
// dictionary keys sorted, and rejects malformed input with a typed error instead of
// crashing or reading past the buffer (a table of broken encodings, plus random bytes).

import fc from 'fast-check';
import t from 'tap';
import { bdecode, bencode, type BValue } from '../../gateway/bencode.js';
import { GatewayErrorCode, isGatewayError } from '../../gateway/errors.js';

const value: fc.Arbitrary<BValue> = fc.letrec<{ v: BValue }>((tie) => ({
  v: fc.oneof(
    { depthSize: 'small' },
    fc.string({ unit: 'grapheme', maxLength: 20 }),
    fc.maxSafeInteger(),
    fc.array(tie('v'), { maxLength: 4 }),
    fc.dictionary(fc.string({ maxLength: 8 }), tie('v'), { maxKeys: 4 }).map((d) => ({ ...d })),
  ),
})).v;

t.test('round trip', async (t) => {
  fc.assert(
    fc.property(value, (v) => {
      t.same(bdecode(bencode(v)), v);
    }),
    { numRuns: 300 },
  );
  t.equal(bencode({ b: 1, a: 'x', 'é': [] }).toString(), 'd1:a1:x1:bi1e2:élee', 'keys sorted bytewise');
});

t.test('known encodings', async (t) => {
  t.equal(bencode('spam').toString(), '4:spam');
  t.equal(bencode(-3).toString(), 'i-3e');
  t.equal(bencode(['a', 0]).toString(), 'l1:ai0ee');
  t.equal(bencode({ cow: 'moo', spam: 'eggs' }).toString(), 'd3:cow3:moo4:spam4:eggse');
  t.equal(bencode('ü').toString('latin1'), '2:\xc3\xbc', 'length counts UTF-8 bytes');
  t.same(bdecode(Buffer.from('d8:sdp-textl1:ai42eee')), { 'sdp-text': ['a', 42] });
  t.throws(() => bencode(1.5), { code: GatewayErrorCode.BENCODE_MALFORMED });
});

t.test('malformed input is a typed error', async (t) => {
  const bad = [
    '', 'i', 'ie', 'i-e', 'i-0e', 'i03e', 'i12', 'ixe', '5:abc', '-1:a', '3abc', 'l', 'li1e', 'd', 'd1:a',
    'di1ei2ee', 'd1:ae', 'x', 'i1ei2e', '1:ab', 'd1:ai1e1:ai2ee', 'i99999999999999999999e',
  ];
  for (const s of bad) {
    t.throws(() => bdecode(Buffer.from(s)), { code: GatewayErrorCode.BENCODE_MALFORMED }, JSON.stringify(s));
  }
  const deep = Buffer.from('l'.repeat(100) + 'e'.repeat(100));
  t.throws(() => bdecode(deep), { code: GatewayErrorCode.BENCODE_TOO_DEEP });
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 40 }), (bytes) => {
      try {
        bdecode(bytes);
      } catch (e) {
        if (!isGatewayError(e)) throw e;
      }
    }),
    { numRuns: 2000 },
  );
});
