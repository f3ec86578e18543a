// FailoverTracker, fed scripted sequences of polls: a leader change is one failover even
// with leaderless polls in between; the first leader seen, a steady leader and a
// re-election of the same replica are not failovers; shards are independent; the recent
// list is newest first and bounded while the count keeps growing.
import t from 'tap';
import { FailoverTracker } from '../../../cluster/dashboard/failover-tracker.js';

t.test('leader changes across polls', async (t) => {
  const f = new FailoverTracker();
  t.same(f.observe([{ id: 's1', leader: 'a', term: 1 }, { id: 's2', leader: 'x', term: 1 }], 1000), [], 'first sight is not a failover');
  t.same(f.observe([{ id: 's1', leader: 'a', term: 1 }, { id: 's2', leader: 'x', term: 1 }], 2000), [], 'steady');
  t.same(f.observe([{ id: 's1', leader: null, term: 2 }, { id: 's2', leader: 'x', term: 1 }], 3000), [], 'leaderless poll: nothing yet');
  t.same(f.observe([{ id: 's1', leader: 'b', term: 2 }, { id: 's2', leader: 'x', term: 3 }], 4000), [{ shard: 's1', from: 'a', to: 'b', term: 2, atMs: 4000 }], 'a → b across the gap; x re-elected is not a failover');
  t.equal(f.count, 1);
  f.observe([{ id: 's1', leader: 'c', term: 3 }, { id: 's2', leader: 'y', term: 4 }], 5000);
  t.equal(f.count, 3);
  t.same(f.recent.map((x) => `${x.shard}:${x.from}>${x.to}`), ['s2:x>y', 's1:b>c', 's1:a>b'], 'newest first');
});

t.test('recent list is bounded, count is not', async (t) => {
  const f = new FailoverTracker(3);
  for (let i = 0; i < 10; i++) f.observe([{ id: 's1', leader: `r${i % 2}`, term: i }], i);
  t.equal(f.count, 9);
  t.equal(f.recent.length, 3);
  t.equal(f.recent[0]!.atMs, 9);
});
