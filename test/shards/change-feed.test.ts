// ChangeFeed.since against the obvious answer (every held record past the index, in
// order) for random push sequences, ring sizes and read positions: records sharing an
// index (one command changing an agent in two ways), a ring that has wrapped many times,
// and positions before, inside and after what the ring still holds.

import fc from 'fast-check';
import t from 'tap';
import { ChangeFeed, changeFeedCapacityFor } from '../../shards/change-feed.js';
import { changeFeedMax, changeFeedPerShardMin, storeChangeFeedRecordsMax } from '../../shards/limits.js';
import type { ChangeRecord } from '../../shards/types.js';

t.test('since returns exactly the held records past the index, oldest first', async (t) => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 12 }),
      fc.array(fc.integer({ min: 0, max: 3 }), { maxLength: 60 }),
      fc.array(fc.integer({ min: -1, max: 80 }), { minLength: 1, maxLength: 8 }),
      (capacity, steps, reads) => {
        const feed = new ChangeFeed(capacity);
        const all: ChangeRecord[] = [];
        let index = 0;
        for (const step of steps) {
          index += step; // 0: another record at the same index
          const r: ChangeRecord = { index, dn: `d${all.length}`, kind: 'wrapUpEnded', agent: null };
          feed.push(r);
          all.push(r);
        }
        const held = all.slice(Math.max(0, all.length - capacity));
        const droppedThrough = all.length > capacity ? all[all.length - capacity - 1]!.index : 0;
        for (const at of reads) {
          const page = feed.since(at);
          const want = held.filter((r) => r.index > at);
          if (page.changes.length !== want.length || page.changes.some((r, i) => r !== want[i])) return false;
          if (page.truncated !== droppedThrough > at) return false;
        }
        return feed.size === held.length;
      },
    ),
    { numRuns: 2000 },
  );
  t.pass('2000 random feeds agree with a linear scan');
});

t.test('a store shares one change-record budget among the shards it hosts', async (t) => {
  t.equal(changeFeedCapacityFor(1), changeFeedMax, 'a stand-alone replica keeps the full ring');
  t.equal(changeFeedCapacityFor(2), changeFeedMax, '2 shards: the budget covers full rings');
  t.ok(changeFeedCapacityFor(3) < changeFeedMax, '3 shards: each gets a share');
  t.equal(changeFeedCapacityFor(100), Math.floor(storeChangeFeedRecordsMax / 100), '100 shards: an equal share');
  t.ok(100 * changeFeedCapacityFor(100) <= storeChangeFeedRecordsMax, 'whose sum stays within the budget');
  t.equal(changeFeedCapacityFor(1000), changeFeedPerShardMin, '1000 shards: the floor');
  t.throws(() => changeFeedCapacityFor(0), /at least one shard/);
  const feed = new ChangeFeed(changeFeedCapacityFor(100));
  for (let i = 1; i <= 1000; i++) feed.push({ index: i, dn: 'd', kind: 'wrapUpEnded', agent: null });
  t.equal(feed.size, changeFeedCapacityFor(100), 'a ring holds its share, however many changes came');
  t.equal(feed.since(0).truncated, true, 'a reader from before it re-reads');
});
