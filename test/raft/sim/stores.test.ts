// Proves the simulator's stores, each hosting one replica of several groups: a seed with
// several groups replays event for event; the correct driver passes seeds of 8 groups per
// store with elections, commits, quiescence (leaders and followers), wakes and a final
// store kill that fails every group it led over, while one fsync serves several groups'
// Readies and one frame carries several messages; and each planted store-driver bug is
// caught from a seed found to catch it, replays to the same violation, and the same seed
// passes without the bug (so the bug, not the seed, is what fails it).

import t from 'tap';
import type { BugName } from '../../../raft/sim/planted-bugs.js';
import { runSeed } from '../../../raft/sim/run.js';

t.test('a seed with several groups replays the same run', async (t) => {
  const a = runSeed({ seed: 3 });
  const b = runSeed({ seed: 3 });
  t.ok(a.groups > 1, `seed 3 draws ${a.groups} groups`);
  t.equal(a.traceHash, b.traceHash);
  t.same(a.cluster, b.cluster);
  t.not(runSeed({ seed: 3, groups: 2 }).traceHash, a.traceHash, 'another group count, another run');
});

t.test('the correct driver passes 8-group seeds, quiescing, waking and failing over', async (t) => {
  const total = { elections: 0, commits: 0, quiesces: 0, followerQuiesces: 0, wakes: 0, syncedBatches: 0, syncedReadies: 0, messages: 0, messageFrames: 0, failedOver: 0 };
  for (let seed = 1; seed <= 6; seed++) {
    const r = runSeed({ seed, groups: 8 });
    t.equal(r.violation, null, r.violation === null ? `seed ${seed} clean` : `seed ${seed}: ${r.violation.kind} ${r.violation.reason}`);
    t.equal(r.linearizabilityInconclusive, false, `seed ${seed}: every group's history checked exactly`);
    total.elections += r.elections;
    total.commits += r.commits;
    for (const k of ['quiesces', 'followerQuiesces', 'wakes', 'syncedBatches', 'syncedReadies', 'messages', 'messageFrames'] as const) total[k] += r.cluster[k];
    if (r.killed !== null && r.killed.groups > 0) total.failedOver += r.killed.groups;
  }
  t.ok(total.elections >= 6 * 8, `leaders were elected (${total.elections})`);
  t.ok(total.commits >= 6 * 8 * 4, `entries were committed (${total.commits})`);
  t.ok(total.quiesces > 0 && total.followerQuiesces > 0, `leaders quiesced groups (${total.quiesces}) and followers followed (${total.followerQuiesces})`);
  t.ok(total.wakes > 0, `quiesced replicas woke (${total.wakes})`);
  t.ok(total.failedOver > 0, `the final kill took leaders of ${total.failedOver} groups, and each group elected another`);
  t.ok(total.syncedBatches < total.syncedReadies, `one fsync served several Readies (${total.syncedReadies} in ${total.syncedBatches} fsyncs)`);
  t.ok(total.messages > total.messageFrames, `one frame carried several messages (${total.messages} in ${total.messageFrames} frames)`);
});

/** Seeds found to catch each bug quickly (npm run sim -- --bug NAME --seeds 2000 --json). */
const catching: readonly [BugName, number, RegExp][] = [
  // With raft/group's notice (the leader's commit index, not min(match, commit) as a
  // heartbeat carries) a lagging follower with a stale suffix even commits it: either a
  // liveness or a safety violation shows the bug.
  ['quiesce-with-lagging-follower', 21, /liveness|state-machine-safety|leader-completeness|log-matching|linearizability/],
  ['no-wake-on-leader-store-loss', 1, /liveness/],
  ['shared-batch-acked-before-sync', 3, /election-safety|leader-completeness|state-machine-safety|log-matching|linearizability/],
];

for (const [bug, from, kind] of catching) {
  t.test(`${bug} is caught within 10 seeds from seed ${from}`, async (t) => {
    const bugs = new Set([bug]);
    let caught: ReturnType<typeof runSeed> | null = null;
    for (let seed = from; seed < from + 10 && caught === null; seed++) {
      const r = runSeed({ seed, bugs });
      if (r.violation !== null) caught = r;
    }
    t.not(caught, null, 'a violation was found');
    if (caught === null) return;
    t.match(caught.violation!.kind, kind);
    t.ok(caught.violation!.reason.length > 0, caught.violation!.reason);
    const again = runSeed({ seed: caught.seed, bugs });
    t.same(again.violation, caught.violation, 'the failing seed replays to the same violation');
    t.equal(again.traceHash, caught.traceHash);
    t.equal(runSeed({ seed: caught.seed }).violation, null, 'the same seed passes without the bug');
  });
}
