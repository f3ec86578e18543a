// The host's log budget (raft/group/log-budget.ts): the entries a store's groups hold in
// memory are capped together and shared by how busy each group is.
// - the shares: every group gets its floor, the rest goes by recent apply rate (equally
//   when nothing applied), the shares never sum past the budget unless the floors do;
// - the rates: a group that starts applying takes most of the budget within a few sweeps,
//   and gives it back within a few more once it stops;
// - on a RaftHost (three stores over loop transports, ten groups): one busy group beside
//   nine idle ones holds several equal shares' worth of entries instead of snapshotting
//   every equal share, the groups together stay within the budget, and once it goes quiet
//   the sweep has it snapshot down to an equal share.
import t from 'tap';
import { logShares, LogBudgetShares } from '../../../raft/group/log-budget.js';
import { put, waitFor } from './helpers.js';
import { loopStoreCluster } from './host-helpers.js';

t.test('shares: floors first, the rest by rate', async (t) => {
  const budget = { entriesMax: 30_000, groupEntriesMin: 100 };
  t.same(logShares(budget, Array(100).fill(0)), Array(100).fill(300), 'nothing applied: an equal share each (today\'s 300 for 100 groups)');
  t.same(logShares(budget, Array(100).fill(7)), Array(100).fill(300), 'all equally busy: the same equal share');
  const twoBusy = logShares(budget, [50, 50, ...Array(98).fill(0)]);
  t.same(twoBusy.slice(0, 2), [10_100, 10_100], 'two busy groups beside 98 idle ones: half of what the floors leave, each');
  t.ok(twoBusy.slice(2).every((e) => e === 100), 'the idle ones: their floor');
  t.ok(twoBusy.reduce((a, b) => a + b, 0) <= budget.entriesMax, 'within the budget');
  t.same(logShares({ entriesMax: 1000, groupEntriesMin: 100 }, Array(20).fill(1)), Array(20).fill(100), 'floors past the budget: the floor each');
  t.same(logShares(budget, []), []);
  t.throws(() => logShares({ entriesMax: 0, groupEntriesMin: 100 }, [1]), /positive/);
});

t.test('rates: a busy group takes the budget and gives it back', async (t) => {
  const shares = new LogBudgetShares<string>({ entriesMax: 1000, groupEntriesMin: 10 });
  const applied = new Map(['a', 'b', 'c', 'd'].map((k) => [k, 0]));
  for (const k of applied.keys()) shares.add(k, 0);
  t.equal(shares.every('a'), 250, 'four groups, nothing applied: 250 each');
  for (let i = 0; i < 5; i++) {
    applied.set('a', applied.get('a')! + 200);
    shares.sweep((k) => applied.get(k)!);
  }
  t.equal(shares.every('a'), 970, 'the one applying takes all that the floors leave');
  t.equal(shares.every('b'), 10, 'the others keep their floor');
  applied.set('b', applied.get('b')! + 200);
  shares.sweep((k) => applied.get(k)!);
  t.ok(shares.every('b') > 100 && shares.every('a') > shares.every('b'), `a second group starting gets a growing part (${shares.every('b')}; a: ${shares.every('a')})`);
  applied.set('c', -5); // a count that went back (a restart): nothing counted
  shares.sweep((k) => applied.get(k)!);
  t.equal(shares.every('c'), 10, 'a count going back counts nothing');
  for (let i = 0; i < 30; i++) shares.sweep((k) => applied.get(k)!);
  t.same(['a', 'b', 'c', 'd'].map((k) => shares.every(k)), [250, 250, 250, 250], 'all gone quiet: equal shares again');
  shares.delete('a');
  shares.delete('b');
  t.equal(shares.every('c') + shares.every('d'), 1000, 'the groups that remain share the whole budget');
  t.equal(shares.every('zz'), 10, 'a group never added: the floor');
});

t.test('a busy group beside idle ones keeps more of the log; quiet again, it gives it back', async (t) => {
  const budget = { entriesMax: 1000, groupEntriesMin: 20 };
  const equalShare = budget.entriesMax / 10;
  const c = await loopStoreCluster({ stores: 3, groups: 10, logBudget: budget, logBudgetSweepMs: 25 });
  t.teardown(() => c.close());
  await waitFor(() => c.groupIds.every((g) => c.leaderStore(g) !== null), 'leaders');
  const busy = 'g0';
  const leader = c.replica(busy, c.leaderStore(busy)!)!;
  const held = (): number[] => c.stores.flatMap((s) => [...s.host.groups.values()].map((g) => g.status().lastIndex - g.status().snapshotIndex));
  let heldMax = 0;
  let sumMax = 0;
  for (let i = 0; i < 1500; i++) {
    await leader.propose(put('k', String(i)));
    if (i % 50 === 0) {
      const all = c.stores.map((s) => [...s.host.groups.values()].reduce((n, g) => n + g.status().lastIndex - g.status().snapshotIndex, 0));
      sumMax = Math.max(sumMax, ...all);
      heldMax = Math.max(heldMax, leader.status().lastIndex - leader.status().snapshotIndex);
    }
  }
  const st = leader.status();
  t.ok(heldMax > 2 * equalShare, `the busy group held up to ${heldMax} entries, more than twice an equal share (${equalShare})`);
  t.ok(st.snapshotIndex > 0, `and still snapshotted within its share (snapshot index ${st.snapshotIndex} of ${st.lastIndex})`);
  t.ok(sumMax <= budget.entriesMax * 1.5, `each store's groups held at most ${sumMax} entries together (budget ${budget.entriesMax}; a share is checked after each Ready)`);
  const range = c.stores[0]!.host.logShareRange()!;
  t.ok(range.max > 5 * range.min, `shares now run from ${range.min} to ${range.max}`);
  await waitFor(() => held().every((n) => n <= equalShare + 1), 'quiet, every replica snapshotted down to an equal share', 20_000);
  const now = held();
  t.ok(now.every((n) => n <= equalShare + 1), `held now: ${JSON.stringify(now)}`);
});
