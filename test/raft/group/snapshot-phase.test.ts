// Replicas of one group take turns to snapshot (raft/group/snapshot-phase.ts), so the
// three never serialize their state machines at the same index and a quorum keeps
// committing while one of them is busy:
// - the pure rule, over any voter set and interval: applying one entry at a time from any
//   starting snapshot, each replica snapshots between every/2 and `every` entries apart,
//   and once each has taken its first, no two voters ever snapshot at the same index;
// - end to end on three RaftGroups: after 70 writes each replica holds a snapshot no more
//   than `every` entries behind its log, and no two hold the same one.

import t from 'tap';
import fc from 'fast-check';
import { snapshotDue, snapshotPhase } from '../../../raft/group/snapshot-phase.js';
import { LoopCluster, put, waitFor } from './helpers.js';

/** The indices at which `self` snapshots while applying start+1..end one at a time. */
function snapshotsOf(self: string, voters: readonly string[], every: number, start: number, end: number): number[] {
  const taken: number[] = [];
  let last = start;
  for (let applied = start + 1; applied <= end; applied++) {
    if (snapshotDue(applied, last, every, self, voters)) {
      taken.push(applied);
      last = applied;
    }
  }
  return taken;
}

t.test('the rule: spaced between every/2 and every, and never two voters at one index', async (t) => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 2, max: 400 }), fc.integer({ min: 0, max: 1000 }), (n, every, start) => {
      const voters = Array.from({ length: n }, (_, i) => `r${(i * 7) % n}`);
      const end = start + every * 6;
      const all = voters.map((v) => snapshotsOf(v, voters, every, start, end));
      for (const taken of all) {
        if (taken.length < 5) return false; // one at least every `every` entries
        let prev = start;
        for (const at of taken) {
          if (at - prev < Math.ceil(every / 2) || at - prev > every) return false;
          prev = at;
        }
      }
      // After the first round each voter is on its own phase: distinct indices.
      if (every >= 2 * n) {
        const later = all.flatMap((taken) => taken.slice(1));
        if (new Set(later).size !== later.length) return false;
      }
      return true;
    }),
  );
  t.same([0, 1, 2].map((i) => snapshotPhase(`n${i}`, ['n2', 'n0', 'n1'], 300)), [0, 100, 200], 'phases spread over the interval, by sorted id');
  t.equal(snapshotPhase('learner', ['a', 'b', 'c'], 300), 0, 'a member that is not a voter snapshots at phase 0');
});

t.test('three replicas snapshot at different indices, each within every entries of its log', async (t) => {
  const every = 20;
  const c = new LoopCluster(['a', 'b', 'c'], { snapshotEveryEntries: every });
  t.teardown(() => c.closeAll());
  for (const id of c.voters) await c.open(id);
  const leader = await c.leader();
  for (let i = 0; i < 70; i++) await leader.group.propose(put(`k${i % 30}`, `${i}`));
  const last = leader.group.status().lastIndex;
  await waitFor(() => [...c.members.values()].every((m) => m.group.status().applied === last), 'every replica applied the log');
  await waitFor(() => [...c.members.values()].every((m) => last - m.group.status().snapshotIndex <= every), 'every replica snapshotted within the interval');
  const at = [...c.members.values()].map((m) => m.group.status().snapshotIndex);
  t.equal(new Set(at).size, 3, `no two replicas share a snapshot index (${at.join(', ')} of ${last})`);
});
