// A proposal's bytes stay in the in-memory log until a snapshot covers the entry, so the
// log must hold them in a buffer of their own: a small Buffer is a slice of one of Node's
// shared 8 KB pool slabs, and an entry holding the slice held the whole slab (a busy
// store's leaders held 844 slabs, 6.9 MB, for entries of 150-250 bytes).

import t from 'tap';
import { ownBytes } from '../../../raft/codec-bytes.js';
import { LoopCluster, waitFor } from './helpers.js';

t.test('the log keeps a proposal in its own buffer, not a slice of the caller\'s', async (t) => {
  const c = new LoopCluster(['a', 'b', 'c']);
  t.teardown(() => c.closeAll());
  for (const id of c.voters) await c.open(id);
  const leader = await c.leader();
  const pooled = Buffer.from('k=pooled', 'utf8');
  t.ok(pooled.buffer.byteLength > pooled.byteLength, 'precondition: Buffer.from gives a slice of the pool');
  const r = await leader.group.propose(pooled);
  const held = (await leader.storage.load()).entries.find((e) => e.index === r.index)!;
  t.equal(Buffer.from(held.data).toString(), 'k=pooled', 'the entry holds the proposed bytes');
  t.equal(held.data.buffer.byteLength, held.data.byteLength, 'in a buffer of exactly their size');
  t.not(held.data.buffer, pooled.buffer, 'not the pool slab');
  // The caller's pool slab may now be reused for anything: the entry does not change.
  pooled.write('k=changed');
  t.equal(Buffer.from(held.data).toString(), 'k=pooled', 'writing into the caller\'s buffer leaves the entry alone');
  await waitFor(() => [...c.members.values()].every((m) => m.sm.map.get('k') === 'pooled'), 'k applied everywhere');
});

t.test('ownBytes copies views only', async (t) => {
  const whole = new TextEncoder().encode('abc');
  t.equal(ownBytes(whole), whole, 'a buffer of its own is kept as is');
  const big = new Uint8Array(16).fill(7);
  const view = big.subarray(4, 8);
  const owned = ownBytes(view);
  t.not(owned, view);
  t.same([...owned], [7, 7, 7, 7]);
  t.equal(owned.buffer.byteLength, 4, 'a view is copied into a buffer of its size');
  const head = big.subarray(0, 8);
  t.equal(ownBytes(head).buffer.byteLength, 8, 'a view at offset 0 of a larger buffer too');
});
