// `bench calls`: the highest call rate with zero failed calls, and the caller-side setup
// latency (INVITE→200) at that rate, for
//   ringfence: SIPp caller → SIP node (reserve on the DN's shard, committed grant, INVITE to
//              the agent) → agent phones, 2 shards × 3 replicas (--shards N) on 3
//              `ringfence store` processes (DESIGN.md, multi-raft stores; --layout stores,
//              the default); --layout replicas runs the layout before stores for the
//              comparison: 3 shard processes, each hosting one replica of every shard
//              (`ringfence shard --id s1-a,s2-a`), and --layout separate a process per
//              replica, 6 for 2 shards (co-hosted replicas used ~12% less CPU per call at
//              300 calls/s and ~30% less at 100 on this VM); `--layout stores,replicas`
//              runs both, one after the other, each with a result of its own. The phones are one SIPp
//              answering (agent-answer.xml) for every agent, each DN registered to it
//              through the SIP node with digest auth (register.xml); `--phones ringfence`
//              uses `ringfence phones` instead;
//   direct:    SIPp caller → SIPp answering (agent-answer.xml), the ceiling on this machine.
// Each target steps its rate up (bounded calls and time per step) and stops at the first
// step with a failure: a SIPp failed call (timeout, unexpected message), a final 4xx-6xx,
// or a call never answered. Latencies are SIPp's own response times (-trace_rtt, whole
// milliseconds). Calls are answered at once and hung up right after the ACK, and agents
// have no wrap-up, so a step measures call handling, not agents being busy. Both SIPps
// use 4 MB socket buffers (-buff_size), as do the SIP node's sockets. The SIP node runs
// at nice -5 as in every local cluster (LOCAL_ROLE_NICE; --sip-nice N to compare), and
// the report's sipNice says what the kernel gave it. The shards' leaders are wherever the
// first elections put them, and the report's `leaders` says where; `--leaders preferred`
// places shard i's leader on its replica i mod 3 (shards[].preferredLeader, one per
// process when co-hosted) and starts the steps once it is there. On this one 2-core VM,
// where every process shares the same cores, that made no consistent difference: in 10
// interleaved pairs at 300 calls/s, leaders spread over the processes or both in one,
// each had the lower median p99 in 5, and the replicas' CPU per call overlapped
// (2.79-3.30 ms together, 3.04-3.49 spread).
//
// Each rate runs --repeat times (default 3) and the result quotes the median p50 and p99
// of those runs: on a shared 2-core VM one run's p99 swings several-fold with the
// neighbours' load, and a median of runs is the figure that repeats. Each step records the
// machine's busy and stolen CPU shares over the step (/proc/stat), which say whether a slow
// step met a saturated machine or a busy neighbour, and the CPU time per call of the
// machine and of each group of processes (stores or replicas, SIP node, phones), which says where
// the CPU budget goes; the report's cpuMsPerCallAtBest gives their medians at the best rate.
// On the stores layout a step also counts what the calls cost the stores (storesPerCall:
// Raft entries, messages, frames, Ready passes, saves, LevelDB writes and fsyncs per call,
// from their /v1/status), which says why a call costs less CPU at a higher rate.

import { mkdtempSync, rmSync } from 'node:fs';
import { getPriority, tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePorts, type ProcessSet } from '../cluster/local-cluster.js';
import { intFlag } from '../common/args.js';
import type { BenchArgs, BenchReport } from './bench-args.js';
import type { ClusterConfig } from '../common/config.js';
import { formatPhases, scrapePhases, summarizePhases, type PhaseSummary } from './phases.js';
import { deltaPerUnit, groupCpuMs, hostBusyMs, hostCpuShare, hostCpuTicks, reapedChildrenCpuMs } from './procs.js';
import { median, round, summarizeLatencies } from './stats.js';
import { adminGet, getJson } from '../cluster/cluster-view.js';
import { ShardClient } from '../shards/client/shard-client.js';
import { storeCounts } from './store-cluster.js';
import { freeSippMediaPort, needSipp, scenarioPath, startSipp, type SippProcess, type SippResult } from '../cluster/sipp/driver.js';
import { passwordOf, SERVICE_NUMBER, startCallCluster } from '../cluster/sipp/call-cluster.js';

/** Who plays the agents' phones: one answering SIPp (the default, as the issue names SIPp
 * for agent phones, and the same UAS the direct ceiling uses), or `ringfence phones`
 * (our test UA, which also records every INVITE; it costs ~1.5 ms of CPU per call on
 * this machine, against SIPp's fraction of that). */
export type PhonesKind = 'sipp' | 'ringfence';

/** How shard replicas map to processes: 'stores' (3 `ringfence store` processes, each a
 * replica of every shard on one transport, one log, one ticker), 'replicas' (3 shard
 * processes, one per replica index, each hosting a replica of every shard: the layout
 * before stores) or 'separate' (one shard process per replica). */
export type ReplicaLayout = 'stores' | 'replicas' | 'separate';
const REPLICA_LAYOUTS: readonly ReplicaLayout[] = ['stores', 'replicas', 'separate'];
/** Stores of the 'stores' layout: one per replica of a shard, as the issue's three hosts. */
const STORES = 3;

/** 'elected' (default): whoever wins the first election leads. 'preferred': each shard has
 * a preferredLeader, spread over the replica processes, and the bench waits for them to
 * lead. */
export type LeaderPlacement = 'preferred' | 'elected';

export type CallsBenchOptions = { json: boolean; seconds?: number; rates?: readonly number[]; directRates?: readonly number[]; repeat?: number; agents?: number; shards?: number; phones?: PhonesKind; sipNice?: number; layouts?: readonly ReplicaLayout[]; leaders?: LeaderPlacement; log?: (line: string) => void };

/** SIPp's failure counters for a step with failed calls, and its last logged error. */
export type FailureDetail = { timeouts: number; unexpected: number; maxRetrans: number; lastError: string | null };

export type CallsStep = {
  target: 'ringfence' | 'direct'; layout?: ReplicaLayout; rate: number; run: number; calls: number; answered: number; failed: number; finalFailures: Record<number, number>; p50Ms: number; p99Ms: number; durationMs: number;
  failureDetail?: FailureDetail;
  /** ringfence only: how far the shards' Raft terms moved over the step, summed over the
   * shards (each election started moves its shard's term by one). On a saturated machine
   * elections under load, not CPU per call, are what fails calls (their 503s). */
  termsAdvanced?: number;
  /** ringfence only, on a step with failed calls: the SIP nodes' calls ended without an
   * answer over the step, by their reason (ringfence_sip_calls_failed_total), which says
   * what a final 503 stood for (lease lost, queue unavailable, ...). */
  failedByReason?: Record<string, number>;
  /** ringfence only: the SIP node's setup phases over the step (see bench/phases.ts). */
  phases?: Record<string, PhaseSummary>;
  /** The whole machine over the step (bench and SIPp included), from /proc/stat. */
  hostCpu?: { busyPct: number; stealPct: number };
  /** CPU time per call placed, in ms: `host` is the whole machine's busy time (SIPp, the
   * bench and the kernel included); the others are process groups from /proc/<pid>/stat
   * (all threads): `stores` (layout stores) or `replicas` (the shard processes of the
   * other layouts), `sipNode` and the agents' `phones`; and the `caller`
   * SIPp's, read when the bench reaps it at the step's end. It says where a rate's CPU
   * budget goes, e.g. why a 2-core machine saturates at some rate. */
  cpuMsPerCall?: Record<string, number>;
  /** Layout stores only: what the stores did per call placed (StoreCounts: Raft entries
   * committed, messages and frames sent, Ready passes, group saves, LevelDB writes and
   * fsyncs), which says what a call costs them beside its CPU. */
  storesPerCall?: Record<string, number>;
};
/** `p50Ms`/`p99Ms`: the medians over the runs at `cps` of each run's p50 and p99. */
export type CallsResult = { target: 'ringfence' | 'direct'; cps: number; failed: 0; p50Ms: number | null; p99Ms: number | null };

const DEFAULT_RATES = [10, 25, 50, 100, 200, 300, 400, 600, 800, 1000];
const DEFAULT_DIRECT_RATES = [100, 200, 300, 400, 600, 1000, 2000];
const DEFAULT_REPEAT = 3;
/** The issue's latency bar: p99 setup latency under this at 300 calls/s or more. */
export const P99_BAR_MS = 50;
/** A step that has not finished this long after its last call was placed is a failure. */
const STEP_GRACE_S = 30;

function failuresOf(r: SippResult, calls: number): number {
  const s = r.stats;
  if (s === null) return calls;
  const unanswered = calls - r.rttMs.length;
  return Math.max(s.failed + r.finalFailuresTotal + r.unexpected, unanswered);
}

/** Process groups whose CPU a step accounts for, by name (see CallsStep.cpuMsPerCall). */
type CpuGroups = Readonly<Record<string, readonly number[]>>;

/** The sum over the shards of the highest Raft term any of its replicas reports (null
 * when a shard has no replica answering). */
async function termSum(config: ClusterConfig): Promise<number | null> {
  const client = new ShardClient({ shards: config.shards, auth: { secret: config.secret, principal: 'launcher' } });
  try {
    const perShard = await Promise.all(config.shards.map(async (shard) => {
      const statuses = await Promise.all(shard.replicas.map((r) => client.replicaStatus(shard.id, r.id, 2000).then((st) => (st as { term?: number }).term ?? null, () => null)));
      const terms = statuses.filter((x): x is number => x !== null);
      return terms.length === 0 ? null : Math.max(...terms);
    }));
    return perShard.some((x) => x === null) ? null : perShard.reduce<number>((a, b) => a + b!, 0);
  } finally {
    client.close();
  }
}

const FAILED_LINE = /^ringfence_sip_calls_failed_total\{[^}]*reason="([^"]*)"[^}]*\} (\d+(?:\.\d+)?)$/;

/** Every SIP node's ringfence_sip_calls_failed_total, by reason, summed over the nodes. */
async function failedCallsByReason(config: ClusterConfig): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const n of config.sip) {
    const res = await adminGet(n.admin, '/metrics', config.tokens.read, 10_000);
    if (res.status !== 200) throw new Error(`GET /metrics on ${n.id}: HTTP ${res.status}`);
    for (const line of res.text.split('\n')) {
      const m = FAILED_LINE.exec(line);
      if (m !== null) out.set(m[1]!, (out.get(m[1]!) ?? 0) + Number(m[2]));
    }
  }
  return out;
}

async function runStep(o: { target: 'ringfence' | 'direct'; remote: string; rate: number; run: number; seconds: number; dir: string; config: ClusterConfig | null; cpuGroups: CpuGroups }): Promise<CallsStep> {
  const calls = Math.max(1, Math.round(o.rate * o.seconds));
  const [port] = await freePorts(1);
  const media = await freeSippMediaPort();
  const termsBefore = o.config === null ? null : await termSum(o.config);
  const failedBefore = o.config === null ? null : await failedCallsByReason(o.config);
  const phasesBefore = o.config === null ? null : await scrapePhases(o.config);
  const withStores = o.config !== null && (o.config.stores ?? []).length > 0;
  const countsBefore = withStores ? await storeCounts(o.config!) : null;
  const started = Date.now();
  const cpuBefore = hostCpuTicks();
  const groupsBefore = { ...groupCpuMs(o.cpuGroups), caller: reapedChildrenCpuMs() };
  const sipp = startSipp({
    scenario: scenarioPath('caller'), dir: join(o.dir, `${o.target}-${o.rate}-${o.run}`), remote: o.remote, localPort: port!, mediaPort: media,
    service: SERVICE_NUMBER, rate: o.rate, maxCalls: calls, timeoutS: Math.ceil(o.seconds + STEP_GRACE_S),
    set: { hold_min_ms: 0, hold_spread_ms: 0 },
  });
  const r = await sipp.done;
  const cpuAfter = hostCpuTicks();
  // The caller SIPp has exited and been reaped (sipp.done waits for its exit), so its
  // whole run is in this process's children's time; no other child exits during a step.
  const groupsAfter = { ...groupCpuMs(o.cpuGroups), caller: reapedChildrenCpuMs() };
  const hostCpu = hostCpuShare(cpuBefore, cpuAfter);
  const hostMs = hostBusyMs(cpuBefore, cpuAfter);
  const cpuMsPerCall = { ...(hostMs === null ? {} : { host: round(hostMs / calls, 2) }), ...deltaPerUnit(groupsBefore, groupsAfter, calls) };
  const durationMs = Date.now() - started;
  const lat = summarizeLatencies(r.rttMs);
  // Released calls still confirm for a moment after SIPp is done.
  if (o.config !== null) await new Promise((res) => setTimeout(res, 500));
  const phases = o.config === null || phasesBefore === null ? undefined : summarizePhases(phasesBefore, await scrapePhases(o.config));
  const storesPerCall = countsBefore === null ? undefined : deltaPerUnit(countsBefore, await storeCounts(o.config!), calls);
  const termsAfter = o.config === null ? null : await termSum(o.config);
  const termsAdvanced = termsBefore === null || termsAfter === null ? undefined : termsAfter - termsBefore;
  const failedAfter = o.config === null ? null : await failedCallsByReason(o.config);
  const failedByReason: Record<string, number> = {};
  for (const [reason, n] of failedAfter ?? []) if (n > (failedBefore?.get(reason) ?? 0)) failedByReason[reason] = n - (failedBefore?.get(reason) ?? 0);
  const failed = failuresOf(r, calls);
  return {
    target: o.target, rate: o.rate, run: o.run, calls, answered: r.rttMs.length, failed, finalFailures: { ...r.finalFailures },
    ...(failed > 0 ? { failureDetail: failureDetailOf(r) } : {}),
    ...(failed > 0 && o.config !== null ? { failedByReason } : {}),
    p50Ms: round(lat.p50Ms, 2), p99Ms: round(lat.p99Ms, 2), durationMs, ...(termsAdvanced === undefined ? {} : { termsAdvanced }), ...(phases === undefined ? {} : { phases }),
    ...(hostCpu === null ? {} : { hostCpu }),
    ...(Object.keys(cpuMsPerCall).length === 0 ? {} : { cpuMsPerCall }),
    ...(storesPerCall === undefined ? {} : { storesPerCall }),
  };
}

/** What SIPp said about failed calls, so a failing step can be read without rerunning it
 * (the step's directory is removed unless RINGFENCE_KEEP_BENCH_DATA is set). */
function failureDetailOf(r: SippResult): FailureDetail {
  const events = r.errorLog.split(/(?=\d{4}-\d\d-\d\d\t)/).map((e) => e.replace(/\s+/g, ' ').trim()).filter((e) => e !== '' && !/watchdog/i.test(e));
  return {
    timeouts: r.stats?.failedTimeouts ?? 0,
    unexpected: r.unexpected,
    maxRetrans: r.stats?.failedRetrans ?? 0,
    lastError: events.length === 0 ? null : events[events.length - 1]!.slice(0, 400),
  };
}

function formatCpu(c: Record<string, number>): string {
  const parts = Object.entries(c).filter(([k]) => k !== 'host').map(([k, v]) => `${k} ${v}`);
  return `CPU ms per call: host ${c.host ?? '?'}${parts.length > 0 ? ` (${parts.join(', ')})` : ''}`;
}

type StepPlan = { rates: readonly number[]; repeat: number; seconds: number; dir: string; log: (l: string) => void };

/** `cpsUnderBar`: the highest rate stepped through with zero failures whose median p99
 * was under P99_BAR_MS (0 if none). */
type SteppedUp = { best: CallsResult; cpsUnderBar: number; steps: CallsStep[]; bestCpuMsPerCall: Record<string, number>; bestStoresPerCall: Record<string, number> };

/** Per name, the median over the runs of one per-call figure (CPU per group, the stores'
 * counts), for the names every run measured. */
function medianPerCall(runs: readonly CallsStep[], field: 'cpuMsPerCall' | 'storesPerCall'): Record<string, number> {
  const out: Record<string, number> = {};
  const first = runs[0]?.[field];
  if (first === undefined) return out;
  for (const k of Object.keys(first)) {
    const xs = runs.map((r) => r[field]?.[k]);
    if (xs.every((x): x is number => x !== undefined)) out[k] = round(median(xs), 2);
  }
  return out;
}

async function stepUp(target: 'ringfence' | 'direct', remote: string, plan: StepPlan, cpuGroups: CpuGroups, config: ClusterConfig | null = null): Promise<SteppedUp> {
  const steps: CallsStep[] = [];
  let best: CallsResult = { target, cps: 0, failed: 0, p50Ms: null, p99Ms: null };
  let cpsUnderBar = 0;
  let bestCpuMsPerCall: Record<string, number> = {};
  let bestStoresPerCall: Record<string, number> = {};
  for (const rate of plan.rates) {
    const runs: CallsStep[] = [];
    for (let run = 1; run <= plan.repeat; run++) {
      const s = await runStep({ target, remote, rate, run, seconds: plan.seconds, dir: plan.dir, config, cpuGroups });
      runs.push(s);
      steps.push(s);
      const which = plan.repeat > 1 ? ` run ${run}/${plan.repeat}` : '';
      plan.log(`[bench calls] ${target.padEnd(9)} ${String(rate).padStart(5)} calls/s${which}: ${s.answered}/${s.calls} answered, ${s.failed} failed ${JSON.stringify(s.finalFailures)}, INVITE→200 p50 ${s.p50Ms} ms p99 ${s.p99Ms} ms${s.hostCpu === undefined ? '' : `; host CPU ${s.hostCpu.busyPct}% busy, ${s.hostCpu.stealPct}% stolen`}`);
      if (s.failureDetail !== undefined) plan.log(`[bench calls]                  SIPp: ${s.failureDetail.timeouts} timeouts, ${s.failureDetail.unexpected} unexpected, ${s.failureDetail.maxRetrans} out of retransmissions; last error: ${s.failureDetail.lastError ?? 'none logged'}`);
      if (s.failedByReason !== undefined) plan.log(`[bench calls]                  calls the SIP node failed, by reason: ${JSON.stringify(s.failedByReason)}`);
      if (s.cpuMsPerCall !== undefined) plan.log(`[bench calls]                  ${formatCpu(s.cpuMsPerCall)}${s.termsAdvanced === undefined ? '' : `; Raft terms advanced ${s.termsAdvanced}`}`);
      if (s.storesPerCall !== undefined) plan.log(`[bench calls]                  per call in the stores: ${Object.entries(s.storesPerCall).map(([k, v]) => `${k} ${v}`).join(', ')}`);
      if (s.phases !== undefined) plan.log(`[bench calls]                  phases p50/p99 (histogram bucket bounds, ms): ${formatPhases(s.phases)}`);
      if (s.failed > 0) break;
    }
    if (runs.some((s) => s.failed > 0)) break;
    best = { target, cps: rate, failed: 0, p50Ms: median(runs.map((s) => s.p50Ms)), p99Ms: median(runs.map((s) => s.p99Ms)) };
    bestCpuMsPerCall = medianPerCall(runs, 'cpuMsPerCall');
    bestStoresPerCall = medianPerCall(runs, 'storesPerCall');
    if (best.p99Ms !== null && best.p99Ms < P99_BAR_MS) cpsUnderBar = rate;
    if (plan.repeat > 1) plan.log(`[bench calls] ${target.padEnd(9)} ${String(rate).padStart(5)} calls/s median of ${runs.length} runs: p50 ${best.p50Ms} ms p99 ${best.p99Ms} ms${Object.keys(bestCpuMsPerCall).length > 0 ? `; ${formatCpu(bestCpuMsPerCall)}` : ''}`);
  }
  return { best, cpsUnderBar, steps, bestCpuMsPerCall, bestStoresPerCall };
}

/** Steps the ringfence target up, noting the SIP node's nice value as the kernel has it
 * (what the bench measured under). */
async function stepUpRingfence(cluster: { procs: ProcessSet; shardProcs: readonly string[]; sipTargets: readonly string[]; config: ClusterConfig }, o: StepPlan & { layout: ReplicaLayout }, phonePids: readonly number[]): Promise<SteppedUp & { sipNice: number | null; leaders: Record<string, string | null> }> {
  const leaders = await shardLeaders(cluster.config, LEADER_PLACEMENT_WAIT_MS);
  o.log(`[bench calls] shard leaders: ${Object.entries(leaders).map(([s, l]) => `${s} ${l ?? 'none'}`).join(', ')}`);
  const pid = cluster.procs.pid('sip1');
  const sipNice = pid === null ? null : getPriority(pid);
  o.log(`[bench calls] the SIP node runs at nice ${sipNice ?? 'unknown'}`);
  const pids = (ids: readonly string[]): number[] => ids.map((id) => cluster.procs.pid(id)).filter((p): p is number => p !== null);
  const shardPids = pids(cluster.shardProcs);
  if (shardPids.length !== cluster.shardProcs.length) throw new Error(`only ${shardPids.length} of ${cluster.shardProcs.length} shard-hosting processes are running (${cluster.shardProcs.join(' ')})`);
  const cpuGroups = {
    [o.layout === 'stores' ? 'stores' : 'replicas']: shardPids,
    sipNode: pid === null ? [] : [pid],
    phones: phonePids,
  };
  return { ...(await stepUp('ringfence', cluster.sipTargets[0]!, o, cpuGroups, cluster.config)), sipNice, leaders };
}

/** How long the bench waits for every shard's preferred leader to lead (a handoff starts
 * 3 s after the preferred replica is caught up). */
const LEADER_PLACEMENT_WAIT_MS = 30_000;

/** Each shard's leader as its replicas report it. With a preferredLeader, waits up to
 * `waitMs` for that replica to lead. */
async function shardLeaders(config: ClusterConfig, waitMs: number): Promise<Record<string, string | null>> {
  const deadline = Date.now() + waitMs;
  const client = new ShardClient({ shards: config.shards, auth: { secret: config.secret, principal: 'launcher' } });
  const out: Record<string, string | null> = {};
  try {
    for (const shard of config.shards) {
      for (;;) {
        out[shard.id] = (await client.leaderStatus(shard.id))?.id ?? null;
        const placed = shard.preferredLeader === undefined ? out[shard.id] !== null : out[shard.id] === shard.preferredLeader;
        if (placed || Date.now() > deadline) break;
        await new Promise((res) => setTimeout(res, 200));
      }
    }
  } finally {
    client.close();
  }
  return out;
}

async function benchRingfence(o: StepPlan & { agents: number; shards: number; phones: PhonesKind; sipNice: number | undefined; layout: ReplicaLayout; leaders: LeaderPlacement }): Promise<SteppedUp & { sipNice: number | null; leaders: Record<string, string | null> }> {
  const agents = Array.from({ length: o.agents }, (_, i) => ({ dn: String(4001 + i), behaviour: 'answer' as const }));
  const processes = o.layout === 'stores' ? `${STORES} store processes` : o.layout === 'replicas' ? '3 shard processes' : `${o.shards * 3} shard processes`;
  o.log(`[bench calls] starting ${o.shards} shard${o.shards === 1 ? '' : 's'} x 3 replicas in ${processes} (layout ${o.layout}), 1 SIP node, ${o.agents} agents on ${o.phones === 'sipp' ? 'one answering SIPp' : '`ringfence phones`'}`);
  const placement = o.layout === 'stores' ? { stores: STORES } : { coHostReplicas: o.layout === 'replicas', preferredLeaders: o.leaders === 'preferred' };
  const spec = { dir: join(o.dir, 'cluster'), shards: o.shards, sipNodes: 1, agents, answerAfterMs: 0, ringTimeoutMs: 5000, queueWaitMs: 20_000, wrapUpMs: 0, ...placement, ...(o.sipNice !== undefined ? { sipNice: o.sipNice } : {}) };
  if (o.phones === 'ringfence') {
    const cluster = await startCallCluster(spec);
    try {
      return await stepUpRingfence(cluster, o, [cluster.procs.pid('phones1')].filter((p): p is number => p !== null));
    } finally {
      await cluster.stop();
    }
  }
  // SIPp 3.6 answers only the first of the node's challenges (SHA-256, then MD5) and can
  // do only MD5, so this node offers MD5 alone, as test/gateway/sipp-echo.test.ts does.
  const cluster = await startCallCluster({ ...spec, phones: 'none', sipFlags: ['--digest-algorithms', 'MD5'] });
  let uas: SippProcess | null = null;
  try {
    const [uasPort] = await freePorts(1);
    uas = startSipp({ scenario: scenarioPath('agent-answer'), dir: join(o.dir, 'agents-uas'), localPort: uasPort!, mediaPort: await freeSippMediaPort(), set: { ring_ms: 0 } });
    await registerSippAgents(cluster.sipTargets[0]!, agents.map((a) => a.dn), uasPort!, join(o.dir, 'register'));
    await waitForRegistrations(cluster.config, agents.length);
    o.log(`[bench calls] ${agents.length} agents registered to the answering SIPp on port ${uasPort}`);
    return await stepUpRingfence(cluster, o, [uas.pid]);
  } finally {
    await uas?.kill();
    await cluster.stop();
  }
}

/** Registers each DN through the SIP node (register.xml: REGISTER, 401 challenge,
 * REGISTER with digest credentials, 200), every binding naming the one answering SIPp. */
async function registerSippAgents(sipTarget: string, dns: readonly string[], contactPort: number, dir: string): Promise<void> {
  const queue = [...dns];
  const worker = async (): Promise<void> => {
    for (let dn = queue.shift(); dn !== undefined; dn = queue.shift()) {
      const [port] = await freePorts(1);
      const r = await startSipp({
        scenario: scenarioPath('register'), dir: join(dir, dn), remote: sipTarget, localPort: port!, service: dn, maxCalls: 1, timeoutS: 30,
        keys: { contact_host: '127.0.0.1', contact_port: contactPort, expires: 3600 }, extra: ['-au', dn, '-ap', passwordOf(dn)],
      }).done;
      if (r.stats?.successful !== 1) throw new Error(`registering agent ${dn} through SIPp failed: ${r.errorLog || r.stderr}`);
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
}

/** Waits until the shards list `count` registrations (each SIP node routes only to agents
 * with a binding, which its change feed brings a moment later). */
async function waitForRegistrations(config: ClusterConfig, count: number): Promise<void> {
  const admin = config.sip[0]!.admin;
  const deadline = Date.now() + 30_000;
  for (;;) {
    const res = await getJson(admin, '/v1/registrations', config.tokens.read, 5000);
    const n = res.status === 200 ? (res.body as { registrations: unknown[] }).registrations.length : -1;
    if (n >= count) break;
    if (Date.now() > deadline) throw new Error(`only ${n} of ${count} agents registered after 30 s`);
    await new Promise((r) => setTimeout(r, 200));
  }
  await new Promise((r) => setTimeout(r, 1000)); // the change feed's way to the router
}

async function benchDirect(o: StepPlan): Promise<SteppedUp> {
  const [port] = await freePorts(1);
  const media = await freeSippMediaPort();
  const uas = startSipp({ scenario: scenarioPath('agent-answer'), dir: join(o.dir, 'direct-uas'), localPort: port!, mediaPort: media, set: { ring_ms: 0 } });
  try {
    await new Promise((r) => setTimeout(r, 500));
    return await stepUp('direct', `127.0.0.1:${port}`, o, { phones: [uas.pid] });
  } finally {
    await uas.kill();
  }
}

export async function runCallsBench(opts: CallsBenchOptions): Promise<BenchReport> {
  const log = opts.log ?? ((l: string) => (opts.json ? process.stderr : process.stdout).write(l + '\n'));
  needSipp({ skip: () => { throw new Error('bench calls needs sipp (apt-get install -y sip-tester)'); } });
  const seconds = opts.seconds ?? 5;
  const dir = mkdtempSync(join(tmpdir(), 'ringfence-bench-calls-'));
  try {
    const repeat = opts.repeat ?? DEFAULT_REPEAT;
    const layouts = opts.layouts ?? ['stores'];
    const leaders = opts.leaders ?? 'elected';
    if (layouts.includes('stores') && leaders === 'preferred') throw new Error(preferredWithStores);
    // One layout after the other on the same machine, each on a cluster of its own, so
    // their figures compare within one run.
    const byLayout: (SteppedUp & { layout: ReplicaLayout; sipNice: number | null; leaders: Record<string, string | null> })[] = [];
    for (const layout of layouts) {
      const r = await benchRingfence({ rates: opts.rates ?? DEFAULT_RATES, repeat, seconds, agents: opts.agents ?? 100, shards: opts.shards ?? 2, phones: opts.phones ?? 'sipp', sipNice: opts.sipNice, layout, leaders, dir, log });
      byLayout.push({ ...r, layout, steps: r.steps.map((st) => ({ ...st, layout })) });
    }
    const ringfence = byLayout[0]!;
    const direct = await benchDirect({ rates: opts.directRates ?? DEFAULT_DIRECT_RATES, repeat, seconds, dir, log });
    log(`[bench calls] highest rate with zero failures and median p99 under ${P99_BAR_MS} ms: ${byLayout.map((r) => `ringfence (${r.layout}) ${r.cpsUnderBar} calls/s`).join(', ')}, direct ${direct.cpsUnderBar} calls/s`);
    return {
      bench: 'calls',
      // One ringfence result per layout, in the order run, each with its CPU per call at
      // its best rate; the first layout's figures are also the top-level ringfence ones.
      results: [...byLayout.map((r) => ({ ...r.best, layout: r.layout, cpsWithP99UnderBar: r.cpsUnderBar, cpuMsPerCall: r.bestCpuMsPerCall, ...(Object.keys(r.bestStoresPerCall).length > 0 ? { storesPerCall: r.bestStoresPerCall } : {}) })), direct.best],
      cpsWithP99UnderBar: { barMs: P99_BAR_MS, ringfence: ringfence.cpsUnderBar, direct: direct.cpsUnderBar },
      sipNice: ringfence.sipNice,
      layout: ringfence.layout,
      layouts,
      leaderPlacement: leaders,
      leaders: Object.fromEntries(byLayout.map((r) => [r.layout, r.leaders])),
      cpuMsPerCallAtBest: { ringfence: ringfence.bestCpuMsPerCall, direct: direct.bestCpuMsPerCall },
      steps: [...byLayout.flatMap((r) => r.steps), ...direct.steps],
      secondsPerStep: seconds,
      runsPerRate: repeat,
    };
  } finally {
    if (!process.env.RINGFENCE_KEEP_BENCH_DATA) rmSync(dir, { recursive: true, force: true });
  }
}

const preferredWithStores = '--leaders preferred applies to --layout replicas or separate: a stores layout places its leaders itself';

function isLayout(v: string): v is ReplicaLayout {
  return (REPLICA_LAYOUTS as readonly string[]).includes(v);
}

function rateList(v: string | undefined): number[] | undefined {
  if (v === undefined) return undefined;
  const rates = v.split(',').map(Number);
  if (rates.some((r) => !Number.isInteger(r) || r <= 0)) throw new Error(`rates must be positive integers, got ${v}`);
  return rates;
}

/** bench/cli.ts entry: --rates 100,200 --direct-rates 500,1000 --repeat 3 --agents 100 --shards 2 --phones sipp|ringfence --sip-nice -5 --layout stores|replicas|separate (or a list, run one after the other: stores,replicas) --leaders preferred|elected. */
export function runBench(args: BenchArgs): Promise<BenchReport> {
  const rates = rateList(args.flags.get('rates'));
  const directRates = rateList(args.flags.get('direct-rates'));
  const phones = args.flags.get('phones');
  if (phones !== undefined && phones !== 'sipp' && phones !== 'ringfence') throw new Error(`--phones wants sipp or ringfence, got ${phones}`);
  const layoutFlag = args.flags.get('layout');
  const layouts = layoutFlag?.split(',');
  const bad = layouts?.find((l) => !isLayout(l));
  if (layouts !== undefined && (bad !== undefined || new Set(layouts).size !== layouts.length)) throw new Error(`--layout wants stores, replicas or separate, or several of them once each (stores,replicas), got ${layoutFlag}`);
  const leaders = args.flags.get('leaders');
  if (leaders !== undefined && leaders !== 'preferred' && leaders !== 'elected') throw new Error(`--leaders wants preferred or elected, got ${leaders}`);
  if (leaders === 'preferred' && (layouts ?? ['stores']).includes('stores')) throw new Error(preferredWithStores);
  return runCallsBench({
    json: args.json,
    log: args.log,
    ...(args.seconds !== null ? { seconds: args.seconds } : {}),
    ...(rates ? { rates } : {}),
    ...(directRates ? { directRates } : {}),
    repeat: intFlag(args.flags.get('repeat'), 'repeat', 1, 20, DEFAULT_REPEAT),
    agents: intFlag(args.flags.get('agents'), 'agents', 1, 10_000, 100),
    shards: intFlag(args.flags.get('shards'), 'shards', 1, 64, 2),
    ...(phones !== undefined ? { phones } : {}),
    ...(layouts !== undefined ? { layouts: layouts as ReplicaLayout[] } : {}),
    ...(leaders !== undefined ? { leaders } : {}),
    ...(args.flags.has('sip-nice') ? { sipNice: intFlag(args.flags.get('sip-nice'), 'sip-nice', -20, 19, 0) } : {}),
  });
}
