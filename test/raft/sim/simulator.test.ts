// Proves the whole simulator against the real Raft core: one seed replays one run event
// for event (same trace hash twice, different hashes for different seeds); a batch of
// seeds against the correct core ends with no violation while leaders get elected and
// entries committed; and a deliberately broken core (commit-old-term-by-count, Raft's
// figure 8) is caught within a bounded number of seeds, with the seed and a reason.

import t from 'tap';
import { runSeed } from '../../../raft/sim/run.js';

t.test('the same seed replays the same run', async (t) => {
  const a = runSeed({ seed: 11 });
  const b = runSeed({ seed: 11 });
  t.equal(a.traceHash, b.traceHash);
  t.equal(a.events, b.events);
  t.equal(a.commits, b.commits);
  t.not(runSeed({ seed: 12 }).traceHash, a.traceHash, 'another seed, another run');
});

t.test('a verbose replay is the same run, with its events written out', async (t) => {
  const quiet = runSeed({ seed: 5 });
  const loud = runSeed({ seed: 5, verbose: true });
  t.equal(loud.traceHash, quiet.traceHash);
  t.ok((loud.log ?? []).some((l) => / leader \d+\/n\d term \d+/.test(l)), 'the trace names leaders');
});

t.test('the correct core passes 30 seeds with elections and commits', async (t) => {
  let elections = 0;
  let commits = 0;
  let opsOk = 0;
  for (let seed = 1; seed <= 30; seed++) {
    const r = runSeed({ seed });
    t.equal(r.violation, null, r.violation === null ? `seed ${seed} clean` : `seed ${seed}: ${r.violation.kind} ${r.violation.reason}`);
    t.equal(r.linearizabilityInconclusive, false, `seed ${seed} linearizability check was exact`);
    elections += r.elections;
    commits += r.commits;
    opsOk += r.opsOk;
  }
  t.ok(elections >= 30, `leaders were elected (${elections})`);
  t.ok(commits >= 300, `entries were committed (${commits})`);
  t.ok(opsOk >= 300, `client operations succeeded (${opsOk})`);
});

t.test('commit-old-term-by-count is caught within 300 seeds', async (t) => {
  const bugs = new Set(['commit-old-term-by-count'] as const);
  let caught: ReturnType<typeof runSeed> | null = null;
  for (let seed = 1; seed <= 300 && caught === null; seed++) {
    const r = runSeed({ seed, bugs });
    if (r.violation !== null) caught = r;
  }
  t.not(caught, null, 'a violation was found');
  if (caught === null) return;
  t.match(caught.violation!.kind, /leader-completeness|state-machine-safety|log-matching|linearizability/);
  t.ok(caught.violation!.reason.length > 0);
  const again = runSeed({ seed: caught.seed, bugs });
  t.same(again.violation, caught.violation, 'the failing seed replays to the same violation');
});
