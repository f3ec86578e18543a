// canonicalJson writes snapshots: equal state must give equal bytes whatever order the
// keys were added in. It is checked here against the plain definition (keys sorted by
// UTF-16 code unit at every level, undefined members left out), over random JSON values
// with their keys shuffled, including integer-like keys, which V8 would otherwise list
// first in numeric order, and "__proto__", which an object copied by assignment would
// take for its prototype.

import fc from 'fast-check';
import t from 'tap';
import { canonicalJson } from '../../shards/canonical-json.js';

function byDefinition(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(byDefinition).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const record = value as Record<string, unknown>;
    const keys = Object.keys(record).filter((k) => record[k] !== undefined).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${byDefinition(record[k])}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** The same value rebuilt with every object's keys added in a shuffled order. */
function reordered(value: unknown, rank: (key: string) => number): unknown {
  if (Array.isArray(value)) return value.map((v) => reordered(v, rank));
  if (value === null || typeof value !== 'object') return value;
  const record = value as Record<string, unknown>;
  // fromEntries defines each member, so a "__proto__" key stays a member of its own.
  return Object.fromEntries(Object.keys(record).sort((a, b) => rank(a) - rank(b) || (a < b ? -1 : 1)).map((k) => [k, reordered(record[k], rank)]));
}

const keyArb = fc.oneof(fc.string(), fc.constantFrom('0', '7', '10', '42', '4294967294', '4294967295', '01', '-1', 'a', 'B', 'é', '__proto__', 'toJSON'));
const valueArb = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constant(null),
    fc.boolean(),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.integer(),
    fc.string(),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(keyArb, tie('value'), { maxKeys: 5 }),
  ),
})).value;

t.test('equals the definition, whatever order the keys were added in', async (t) => {
  fc.assert(
    fc.property(valueArb, fc.func(fc.integer()), (value, rank) => {
      const expected = byDefinition(value);
      return canonicalJson(value) === expected && canonicalJson(reordered(value, (k) => rank(k))) === expected;
    }),
    { numRuns: 500 },
  );
});

t.test('integer-like keys are sorted as strings like the others', async (t) => {
  t.equal(canonicalJson({ b: 1, 10: 2, 9: 3, a: { 2: true, 1: false } }), '{"10":2,"9":3,"a":{"1":false,"2":true},"b":1}');
});

t.test('a member named __proto__ is written like any other (it was lost when its object was re-sorted)', async (t) => {
  t.equal(canonicalJson(JSON.parse('{"b":1,"__proto__":{"x":1},"a":2}')), '{"__proto__":{"x":1},"a":2,"b":1}');
  t.equal(canonicalJson(JSON.parse('{"z":{"y":1,"__proto__":2}}')), '{"z":{"__proto__":2,"y":1}}');
});

t.test('undefined members are left out; what JSON cannot say is refused', async (t) => {
  t.equal(canonicalJson({ z: 1, gone: undefined, a: [1, 'x'] }), '{"a":[1,"x"],"z":1}');
  t.throws(() => canonicalJson({ n: Number.NaN }), /non-finite/);
  t.throws(() => canonicalJson({ n: Number.POSITIVE_INFINITY }), /non-finite/);
  t.throws(() => canonicalJson([1, undefined]), /undefined in an array/);
  t.throws(() => canonicalJson(undefined), /cannot encode undefined/);
  t.throws(() => canonicalJson({ f: () => 1 }), /cannot encode function/);
  t.throws(() => canonicalJson({ big: 1n }), /cannot encode bigint/);
});
