// `npm run bench -- failover [--json] [--kills N] [--agents N] [--steady-ms MS] [--etcd false] [--keep]
//    [--tick-ms MS] [--election-ticks N] [--heartbeat-ticks N]`
// Kills the leader of a shard (3 replicas, real processes, fsync on) under steady
// reservation load, N times (20 by default), and times each kill → first committed
// reservation write acknowledged by a survivor. With etcd installed, the same run measures
// a 3-member etcd the same way with default timing ('etcd') and heartbeat 50 / election
// 300 ms ('etcd-fast'), as ANCHORS.md describes: concurrency 16, 250 ms per-attempt
// deadline, 10 ms pause after an error. Reports min, median, p99 and max of the gaps and
// double grants (client's view; must be 0). --keep leaves the Ringfence cluster directory
// (cluster file, replica logs) in place for a closer look.

import { loadavg } from 'node:os';
import { intFlag } from '../common/args.js';
import type { BenchArgs, BenchReport } from './bench-args.js';
import { EtcdCluster, etcdBinary, type EtcdTiming } from './etcd-cluster.js';
import { measureEtcdFailover } from './etcd-workloads.js';
import { measureRingfenceFailover } from './failover-ringfence.js';
import { median, percentile, round } from './stats.js';

const CONCURRENCY = 16;
const ATTEMPT_TIMEOUT_MS = 250;
const RETRY_PAUSE_MS = 10;
/** A Ringfence call (its own retries across replicas included) gives up after this long
 * and settles its outcome by a read; longer than any failover we expect. */
const CALL_DEADLINE_MS = 2_000;
const ROUND_TIMEOUT_MS = 15_000;
const ETCD_START_ATTEMPTS_MAX = 3;

export type FailoverRow = {
  target: 'ringfence' | 'etcd' | 'etcd-fast';
  kills: number;
  gapMsMin: number;
  gapMsMedian: number;
  gapMsP99: number;
  gapMsMax: number;
  doubleGrants: number;
  /** Rounds in which no write committed within the round timeout (their gap is left out). */
  noWriteRounds: number;
  granted: number;
  unknown: number;
  /** Ringfence only: medians of kill → first campaign and kill → new leader, from the replicas' logs. */
  campaignMsMedian?: number;
  leaderMsMedian?: number;
  /** Ringfence only: medians of kill → new leader seen and → its no-op seen committed, polled from outside. */
  leaderSeenMsMedian?: number;
  leaderCommitSeenMsMedian?: number;
  splitVotes?: number;
  /** Ringfence only: calls that certainly had no effect, by error code. */
  definiteErrors?: Readonly<Record<string, number>>;
};

export async function runBench(args: BenchArgs): Promise<BenchReport> {
  const kills = intFlag(args.flags.get('kills'), 'kills', 1, 10_000, 20);
  const agents = intFlag(args.flags.get('agents'), 'agents', 1, 1_000_000, 1000);
  const steadyMs = intFlag(args.flags.get('steady-ms'), 'steady-ms', 1, 3_600_000, 2000);
  const withEtcd = etcdBinary() !== null && args.flags.get('etcd') !== 'false';
  const loadStart = loadavg()[0]!;
  args.log(`failover: ${kills} leader kills per target, concurrency ${CONCURRENCY}, ${ATTEMPT_TIMEOUT_MS} ms per attempt, ${RETRY_PAUSE_MS} ms retry pause; load average ${loadStart.toFixed(2)}`);
  const results: FailoverRow[] = [];

  const rf = await measureRingfenceFailover({
    rounds: kills,
    concurrency: CONCURRENCY,
    agents,
    attemptTimeoutMs: ATTEMPT_TIMEOUT_MS,
    retryPauseMs: RETRY_PAUSE_MS,
    callDeadlineMs: CALL_DEADLINE_MS,
    steadyMs,
    roundTimeoutMs: ROUND_TIMEOUT_MS,
    raft: raftOverrides(args.flags),
    keepDir: args.flags.get('keep') === 'true',
    log: args.log,
  });
  const finite = (xs: readonly (number | null)[]): number[] => xs.filter((x): x is number => x !== null && Number.isFinite(x));
  results.push({
    ...summarize('ringfence', rf.rounds.map((r) => r.gapMs)),
    doubleGrants: rf.load.doubleGrants,
    granted: rf.load.granted,
    unknown: rf.load.unknown,
    campaignMsMedian: round(median(finite(rf.rounds.map((r) => r.campaignMs)))),
    leaderMsMedian: round(median(finite(rf.rounds.map((r) => r.leaderMs)))),
    leaderSeenMsMedian: round(median(finite(rf.rounds.map((r) => r.leaderSeenMs)))),
    leaderCommitSeenMsMedian: round(median(finite(rf.rounds.map((r) => r.leaderCommitSeenMs)))),
    splitVotes: rf.rounds.filter((r) => r.elections > 1).length,
    definiteErrors: rf.load.definiteErrors,
  });
  args.log(rowLine(results[results.length - 1]!));

  if (withEtcd) {
    for (const timing of ['default', 'fast'] as const satisfies readonly EtcdTiming[]) {
      results.push(await etcdRow(timing, kills, agents, steadyMs, args.log));
      args.log(rowLine(results[results.length - 1]!));
    }
  } else {
    args.log(etcdBinary() === null ? 'failover: etcd not installed (apt-get install -y etcd-server) — measuring Ringfence alone' : 'failover: --etcd false — measuring Ringfence alone');
  }
  const loadEnd = loadavg()[0]!;
  args.log(`failover: load average ${loadStart.toFixed(2)} at start, ${loadEnd.toFixed(2)} at end`);
  return { bench: 'failover', loadAverage: [round(loadStart), round(loadEnd)], results };
}

async function etcdRow(timing: EtcdTiming, kills: number, agents: number, steadyMs: number, log: (line: string) => void): Promise<FailoverRow> {
  const target = timing === 'default' ? 'etcd' : 'etcd-fast';
  const cluster = await startEtcd(timing, log);
  try {
    log(`failover: 3-member etcd up (${timing} timing; pids ${cluster.members.map((m) => m.proc?.pid ?? '?').join(', ')})`);
    const r = await measureEtcdFailover(cluster, {
      rounds: kills,
      concurrency: CONCURRENCY,
      agents,
      deadlineMs: ATTEMPT_TIMEOUT_MS,
      retryPauseMs: RETRY_PAUSE_MS,
      steadyMs,
      roundTimeoutMs: ROUND_TIMEOUT_MS,
      log: (line) => log(`  ${target} ${line.replace(/^etcd failover /, '')}`),
    });
    return { ...summarize(target, r.recoveryMs), doubleGrants: r.doubleGrants, granted: r.granted, unknown: r.unknown };
  } finally {
    await cluster.stop();
  }
}

/** Free ports are picked, released, then bound by etcd: on this busy machine another
 * process can take one in between, so a failed start is tried again on new ports. */
async function startEtcd(timing: EtcdTiming, log: (line: string) => void): Promise<EtcdCluster> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await EtcdCluster.start({ timing });
    } catch (err) {
      if (attempt >= ETCD_START_ATTEMPTS_MAX) throw err;
      log(`failover: etcd start failed (${(err as Error).message.slice(0, 200)}); again on new ports`);
    }
  }
}

function summarize(target: FailoverRow['target'], gapsMs: readonly number[]): Omit<FailoverRow, 'doubleGrants' | 'granted' | 'unknown'> {
  const ok = gapsMs.filter((x) => Number.isFinite(x));
  return {
    target,
    kills: gapsMs.length,
    gapMsMin: round(ok.length ? Math.min(...ok) : Number.NaN),
    gapMsMedian: round(median(ok)),
    gapMsP99: round(percentile(ok, 99)),
    gapMsMax: round(ok.length ? Math.max(...ok) : Number.NaN),
    noWriteRounds: gapsMs.length - ok.length,
  };
}

function rowLine(r: FailoverRow): string {
  const phases =
    r.campaignMsMedian !== undefined
      ? `; median kill → campaign ${r.campaignMsMedian} ms, → leader ${r.leaderMsMedian} ms (polled: seen ${r.leaderSeenMsMedian}, no-op committed ${r.leaderCommitSeenMsMedian}), rounds with more than one election ${r.splitVotes}; failed calls without effect ${JSON.stringify(r.definiteErrors)}`
      : '';
  return (
    `failover ${r.target}: ${r.kills} kills, gap min ${r.gapMsMin} / median ${r.gapMsMedian} / p99 ${r.gapMsP99} / max ${r.gapMsMax} ms, ` +
    `double grants ${r.doubleGrants}, no-write rounds ${r.noWriteRounds} (granted ${r.granted}, unknown ${r.unknown})${phases}`
  );
}

/** --tick-ms / --election-ticks / --heartbeat-ticks: the cluster file's raft section, for
 * trying other timings (defaults: writeLocalClusterConfig's, as a deployment gets them). */
function raftOverrides(flags: ReadonlyMap<string, string>): { tickMs?: number; electionTimeoutTicks?: number; heartbeatTicks?: number } {
  const out: { tickMs?: number; electionTimeoutTicks?: number; heartbeatTicks?: number } = {};
  const tick = flags.get('tick-ms');
  const election = flags.get('election-ticks');
  const heartbeat = flags.get('heartbeat-ticks');
  if (tick !== undefined) out.tickMs = intFlag(tick, 'tick-ms', 1, 1000, 0);
  if (election !== undefined) out.electionTimeoutTicks = intFlag(election, 'election-ticks', 3, 1000, 0);
  if (heartbeat !== undefined) out.heartbeatTicks = intFlag(heartbeat, 'heartbeat-ticks', 1, 100, 0);
  return out;
}
