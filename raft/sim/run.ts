// One simulation run: a seed picks the fault profile, the number of groups each store
// hosts, and drives every random choice; the cluster runs `steps` base ticks of storm,
// then a calm end in which faults stop, outstanding client calls finish and the end check
// (liveness.ts) demands recovery, then failover from the loss of the store leading the
// most groups. Each group's safety checks watch every Ready, and each group's client
// history is checked for linearizability at the end. The first violation ends the run and
// is returned with the seed.

import type { BugName } from './planted-bugs.js';
import { SafetyChecks } from './checks.js';
import type { Violation } from './checks.js';
import { Clients } from './clients.js';
import { Cluster } from './cluster.js';
import type { ClusterStats } from './cluster.js';
import { Faults } from './faults.js';
import { checkHistory, describeOperation } from './linearizability.js';
import {
  clientOpsPerColdGroupMax, clientsCount, clientsPerColdGroup, clientTimeoutMs, coldThinkFactor, eventsPerRunMax, failoverBoundMs,
  groupsMax, livenessBoundMs, quiesceWaitMsMax, stepsDefault, tickMsBase, votersInitial,
} from './limits.js';
import { EndCheck, quiescedBehind } from './liveness.js';
import { createPrng } from './prng.js';
import { drawProfile } from './profile.js';
import type { FaultProfile } from './profile.js';
import { Scheduler } from './scheduler.js';
import { Trace } from './trace.js';

/** How often the standing quiescence invariant is checked. */
const quiesceWatchMs = 50;

export type RunOptions = Readonly<{
  seed: number;
  bugs?: ReadonlySet<BugName>;
  steps?: number;
  verbose?: boolean;
  /** Groups per store; by default each seed draws 1..groupsMax. */
  groups?: number;
}>;

export type RunResult = Readonly<{
  seed: number;
  violation: Violation | null;
  groups: number;
  stores: number;
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
  cluster: ClusterStats;
  /** The store the end check killed, and how many groups it led then. */
  killed: Readonly<{ store: string; groups: number }> | null;
  /** Simulated ms from that kill until every group had a leader, a committed probe write
   * and its live replicas caught up; null without a kill. */
  failoverMs: number | null;
  log: readonly string[] | null;
}>;

function emptyStats(): ClusterStats {
  return {
    crashes: 0, restarts: 0, batches: 0, syncedBatches: 0, syncedReadies: 0, frames: 0, messages: 0, messageFrames: 0, quiesces: 0,
    followerQuiesces: 0, wakes: 0, silences: 0, campaignsHastened: 0, leadersSteppedDown: 0, ticks: 0, ticksSkipped: 0,
  };
}

export function drawGroups(seed: number): number {
  return createPrng(seed).fork('groups').range(1, groupsMax);
}

export function runSeed(o: RunOptions): RunResult {
  const steps = o.steps ?? stepsDefault;
  const root = createPrng(o.seed);
  const profile = drawProfile(root.fork('profile'));
  const groups = o.groups ?? drawGroups(o.seed);
  const sched = new Scheduler();
  const trace = new Trace(o.verbose === true);
  const violations: Violation[] = [];
  const checks = new SafetyChecks(() => sched.nowMs, violations);
  const voters = Array.from({ length: votersInitial }, (_, i) => `n${i + 1}`);
  let events = 0;
  let cluster: Cluster | null = null;
  let end: EndCheck | null = null;
  const clients: Clients[] = [];
  let inconclusive = false;
  let linStates = 0;
  try {
    cluster = new Cluster({ sched, prng: root.fork('cluster'), profile, bugs: o.bugs ?? new Set(), trace, violations, groups, initialVoters: voters });
    const c = cluster;
    for (const g of c.groups) {
      const hot = g.id === 0;
      const p = hot ? profile.clients : { ...profile.clients, thinkMsMax: profile.clients.thinkMsMax * coldThinkFactor };
      const limits = hot ? undefined : { opsPerRunMax: clientOpsPerColdGroupMax, opsIssuedMax: 3 * clientOpsPerColdGroupMax };
      const label = groups === 1 ? '' : ` g${g.id}`;
      clients.push(new Clients(sched, root.fork(hot ? 'clients' : `clients-${g.id}`), g.port, p, trace, hot ? clientsCount : clientsPerColdGroup, limits, label));
    }
    const faults = new Faults(sched, root.fork('faults'), profile, c, trace);
    const e = new EndCheck(sched, c, trace, (reason) => checks.report('liveness', reason));
    end = e;
    const stormEndMs = steps * tickMsBase;
    const clientsDoneMs = stormEndMs + clientTimeoutMs + 100;
    const endMs = stormEndMs + livenessBoundMs + quiesceWaitMsMax + failoverBoundMs + 200;
    sched.at(stormEndMs, () => {
      faults.calm();
      for (const cl of clients) cl.stop();
      e.start();
    });
    const watch = (): void => {
      const w = quiescedBehind(c);
      if (w !== null) checks.report('liveness', w);
      else sched.after(quiesceWatchMs, watch);
    };
    sched.after(quiesceWatchMs, watch);
    for (const cl of clients) cl.start();
    faults.start();
    while (violations.length === 0 && events < eventsPerRunMax && !(e.done && sched.nowMs >= clientsDoneMs) && sched.runNext(endMs)) events++;
    if (events >= eventsPerRunMax) checks.report('liveness', `event budget of ${eventsPerRunMax} exhausted at ${sched.nowMs.toFixed(0)} ms`);
  } catch (err) {
    const e = err as Error;
    const where = (e.stack ?? '').split('\n').find((l) => l.includes('/raft/')) ?? '';
    checks.report('exception', `${e.message}${where === '' ? '' : ` (${where.trim()})`}`);
  }
  for (let g = 0; violations.length === 0 && g < clients.length; g++) {
    const verdict = checkHistory(clients[g]!.history);
    inconclusive ||= verdict.inconclusive;
    linStates += verdict.keys.reduce((n, k) => n + k.statesExplored, 0);
    const bad = verdict.keys.find((k) => !k.linearizable && !k.inconclusive);
    if (bad !== undefined) {
      const stuck = bad.stuckOp === null ? '' : `; cannot linearize ${describeOperation(bad.stuckOp)}`;
      const label = groups === 1 ? '' : `group ${g}: `;
      checks.report('linearizability', `${label}key ${bad.key}: history of ${bad.ops} ops is not linearizable${stuck}`);
    }
  }
  const histories = clients.flatMap((cl) => cl.history);
  const v = violations[0] ?? null;
  if (v !== null) trace.record(v.timeMs, `VIOLATION ${v.kind}: ${v.reason}`);
  const groupChecks = cluster?.groups.map((g) => g.checks) ?? [];
  return {
    seed: o.seed,
    violation: v,
    groups,
    stores: cluster?.stores.size ?? 0,
    elections: groupChecks.reduce((n, k) => n + k.elections, 0),
    commits: groupChecks.reduce((n, k) => n + k.committedMax, 0),
    crashes: cluster?.crashes ?? 0,
    opsIssued: clients.reduce((n, cl) => n + cl.opsIssued, 0),
    opsOk: histories.filter((h) => h.type === 'ok').length,
    opsInfo: histories.filter((h) => h.type === 'info').length,
    linearizabilityInconclusive: inconclusive,
    linearizabilityStates: linStates,
    events,
    simulatedMs: sched.nowMs,
    traceHash: trace.hash(),
    profile,
    cluster: cluster?.stats ?? emptyStats(),
    killed: end?.killed ?? null,
    failoverMs: end?.failoverMs ?? null,
    log: trace.lines,
  };
}
