// The entry key layout is what every log on disk already holds: a group's entries sort by
// index (LevelDB compares bytes), so the key of index i must be the prefix, 'e' and i as
// 8 bytes big-endian, exactly, over the whole range a Raft index takes (up to 2^53 - 1,
// past the 32-bit boundary where hand-rolled byte code goes wrong), and indexOf must
// read back what entryKey wrote.

import fc from 'fast-check';
import t from 'tap';
import { GroupKeys, TAG_ENTRY } from '../../../raft/storage/log-keys.js';

/** The layout as the storage code first wrote it, through BigInt and a DataView. */
function referenceKey(groupId: string, index: number): Uint8Array {
  const id = new TextEncoder().encode(groupId);
  const k = new Uint8Array(id.length + 10);
  k.set(id);
  k[id.length] = 0;
  k[id.length + 1] = TAG_ENTRY;
  new DataView(k.buffer).setBigUint64(id.length + 2, BigInt(index));
  return k;
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}

const index = fc.oneof(fc.nat({ max: 0xffff_ffff }), fc.integer({ min: 0xffff_fff0, max: 0x1_0000_0010 }), fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }));

t.test('entry keys are the 8-byte big-endian layout, round-trip, and sort by index', (t) => {
  const keys = new GroupKeys('shard-7');
  for (const i of [0, 1, 255, 256, 0xffff_ffff, 0x1_0000_0000, 0x1_0000_0001, 2 ** 40 + 5, Number.MAX_SAFE_INTEGER]) {
    t.same(keys.entryKey(i), referenceKey('shard-7', i), `index ${i}`);
    t.equal(keys.indexOf(keys.entryKey(i)), i, `index ${i} reads back`);
  }
  fc.assert(
    fc.property(fc.string({ minLength: 1, maxLength: 12 }).filter((g) => !g.includes('\0')), index, index, (groupId, a, b) => {
      const keys = new GroupKeys(groupId);
      const ka = keys.entryKey(a);
      if (compareBytes(ka, referenceKey(groupId, a)) !== 0) return false;
      if (keys.indexOf(ka) !== a) return false;
      return Math.sign(compareBytes(ka, keys.entryKey(b))) === Math.sign(a - b);
    }),
    { numRuns: 2000 },
  );
  t.end();
});
