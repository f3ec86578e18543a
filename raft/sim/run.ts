// One simulation run: a seed picks the fault profile and drives every random choice;
// the cluster runs `steps` base ticks of storm, then a calm tail in which faults stop
// and outstanding client calls finish; the safety checks watch every Ready, and the
// client history is checked for linearizability at the end. The first violation ends
// the run and is returned with the seed.

import type { BugName } from './planted-bugs.js';
import { SafetyChecks } from './checks.js';
import type { Violation } from './checks.js';
import { Clients } from './clients.js';
import { Cluster } from './cluster.js';
import { Faults } from './faults.js';
import { checkHistory, describeOperation } from './linearizability.js';
import { clientsCount, clientTimeoutMs, eventsPerRunMax, stepsDefault, tickMsBase, votersInitial } from './limits.js';
import { createPrng } from './prng.js';
import { drawProfile } from './profile.js';
import type { FaultProfile } from './profile.js';
import { Scheduler } from './scheduler.js';
import { Trace } from './trace.js';

export type RunOptions = Readonly<{ seed: number; bugs?: ReadonlySet<BugName>; steps?: number; verbose?: boolean }>;

export type RunResult = Readonly<{
  seed: number;
  violation: Violation | null;
  elections: number;
  commits: number;
  crashes: number;
  opsIssued: number;
  opsOk: number;
  opsInfo: number;
  linearizabilityInconclusive: boolean;
  /** Search states the linearizability check visited, summed over keys. */
  linearizabilityStates: number;
  events: number;
  simulatedMs: number;
  traceHash: string;
  profile: FaultProfile;
  log: readonly string[] | null;
}>;

export function runSeed(o: RunOptions): RunResult {
  const steps = o.steps ?? stepsDefault;
  const root = createPrng(o.seed);
  const profile = drawProfile(root.fork('profile'));
  const sched = new Scheduler();
  const trace = new Trace(o.verbose === true);
  const checks = new SafetyChecks(() => sched.nowMs);
  const voters = Array.from({ length: votersInitial }, (_, i) => `n${i + 1}`);
  let events = 0;
  let cluster: Cluster | null = null;
  let clients: Clients | null = null;
  let inconclusive = false;
  let linStates = 0;
  try {
    cluster = new Cluster({ sched, prng: root.fork('cluster'), profile, bugs: o.bugs ?? new Set(), trace, checks, initialVoters: voters });
    const c = cluster;
    clients = new Clients(sched, root.fork('clients'), c, profile.clients, trace, clientsCount);
    const faults = new Faults(sched, root.fork('faults'), profile, c, trace);
    const stormEndMs = steps * tickMsBase;
    const endMs = stormEndMs + clientTimeoutMs + 100;
    const cl = clients;
    sched.at(stormEndMs, () => {
      faults.quiesce();
      cl.stop();
    });
    clients.start();
    faults.start();
    while (checks.violations.length === 0 && events < eventsPerRunMax && sched.runNext(endMs)) events++;
    if (events >= eventsPerRunMax) checks.report('liveness', `event budget of ${eventsPerRunMax} exhausted at ${sched.nowMs.toFixed(0)} ms`);
  } catch (err) {
    const e = err as Error;
    const where = (e.stack ?? '').split('\n').find((l) => l.includes('/raft/')) ?? '';
    checks.report('exception', `${e.message}${where === '' ? '' : ` (${where.trim()})`}`);
  }
  if (checks.violations.length === 0 && clients !== null) {
    const verdict = checkHistory(clients.history);
    inconclusive = verdict.inconclusive;
    linStates = verdict.keys.reduce((n, k) => n + k.statesExplored, 0);
    const bad = verdict.keys.find((k) => !k.linearizable && !k.inconclusive);
    if (bad !== undefined) {
      const stuck = bad.stuckOp === null ? '' : `; cannot linearize ${describeOperation(bad.stuckOp)}`;
      checks.report('linearizability', `key ${bad.key}: history of ${bad.ops} ops is not linearizable${stuck}`);
    }
  }
  const history = clients?.history ?? [];
  const v = checks.violations[0] ?? null;
  if (v !== null) trace.record(v.timeMs, `VIOLATION ${v.kind}: ${v.reason}`);
  return {
    seed: o.seed,
    violation: v,
    elections: checks.elections,
    commits: checks.committedMax,
    crashes: cluster?.crashes ?? 0,
    opsIssued: clients?.opsIssued ?? 0,
    opsOk: history.filter((h) => h.type === 'ok').length,
    opsInfo: history.filter((h) => h.type === 'info').length,
    linearizabilityInconclusive: inconclusive,
    linearizabilityStates: linStates,
    events,
    simulatedMs: sched.nowMs,
    traceHash: trace.hash(),
    profile,
    log: trace.lines,
  };
}
