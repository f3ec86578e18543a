// `npm run bench -- raft [--json] [--seconds S] [--levels 1,16,64,256] [--targets ringfence,etcd]
//                        [--etcd-timing default|fast] [--raft-timing etcd|group]
//                        [--connections 4] [--repeat N] [--profile DIR] [--snapshot-every N]`
// Commit throughput and latency of a 3-replica Ringfence Raft group (3 OS processes,
// loopback, fsync on) against a 3-member etcd doing the same work as CAS transactions.
// Closed loop at each concurrency level for S seconds; the order of targets alternates
// per level so both see the same machine noise. Both clusters stay up the whole run.
// By default the Ringfence replicas get the same heartbeat/election timing as the etcd
// members (--raft-timing etcd), so neither side is more prone to spurious elections on a
// loaded machine; --raft-timing group keeps the RaftGroup defaults.

import { mkdirSync } from 'node:fs';
import type { Etcd3 } from 'etcd3';
import type { BenchArgs, BenchReport } from './bench-args.js';
import { runClosedLoop, type ClosedLoopResult, type OpOutcome } from './closed-loop.js';
import { EtcdCluster, etcdBinary, type EtcdTiming } from './etcd-cluster.js';
import { createEtcdClient, runEtcdCasLoad } from './etcd-workloads.js';
import { cpuTimeMs, ioSyscalls, selfCpuTimeMs } from './procs.js';
import { RaftBenchClient } from './raft-client.js';
import { RaftBenchCluster } from './raft-cluster.js';
import { formatCount, formatMs, median, round, summarizeLatencies } from './stats.js';

export type Target = 'ringfence' | 'etcd';

export type RaftBenchResult = Readonly<{
  target: Target;
  concurrency: number;
  opsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Operations that failed or had unknown outcome (should be 0 in a healthy run). */
  errors: number;
  /** Errors by code (Raft error codes, or 'connection' for a dropped connection). */
  errorCodes: Record<string, number>;
  /** Leader changes seen during the level (Ringfence only; null for etcd). */
  leaderChanges: number | null;
  /** Pauses of ≥ 200 ms in applying while proposals waited, on the replica serving the
   * clients (Ringfence only), as "id: gap ms @appliedIndex"; log compaction every 10,000
   * entries shows up here. */
  stalls: string[] | null;
  /** CPU of the server processes (all replicas / members) in cores, over the level. */
  serverCpuCores: number;
  /** CPU of the bench process (the client) in cores, over the level. */
  clientCpuCores: number;
  /** Server CPU per committed operation, in microseconds (all replicas / members). */
  serverCpuUsPerOp: number;
  /** write(2)-family system calls of all server processes per committed operation
   * (socket writes to peers and clients, log writes; fsyncs are not counted). */
  serverWriteSyscallsPerOp: number;
}>;

const VALUE_BYTES = 64;
const LEVELS_DEFAULT = [1, 16, 64, 256];
const SECONDS_DEFAULT = 10;
const LEADER_WAIT_MS = 20_000;
const ERROR_PAUSE_MS = 10;
/** etcd's --heartbeat-interval / --election-timeout for each timing (etcd-cluster.ts). */
const ETCD_TIMING_MS: Record<EtcdTiming, { heartbeatMs: number; electionMs: number }> = {
  default: { heartbeatMs: 100, electionMs: 1000 },
  fast: { heartbeatMs: 50, electionMs: 300 },
};

type Runner = {
  target: Target;
  pids: () => number[];
  leaderChanges: () => number | null;
  /** Stall reports so far (a mark) and those after a mark; null when not observable. */
  stallCount: () => number;
  stallsFrom: (mark: number) => string[] | null;
  run: (concurrency: number, durationMs: number) => Promise<ClosedLoopResult>;
  /** Error codes seen since the last call (and forgets them). */
  takeErrorCodes: () => Record<string, number>;
};

export async function runBench(args: BenchArgs): Promise<BenchReport> {
  const o = parseOptions(args);
  let raft: { cluster: RaftBenchCluster; client: RaftBenchClient } | null = null;
  let etcd: { cluster: EtcdCluster; client: Etcd3 } | null = null;
  try {
    const runners: Runner[] = [];
    if (o.targets.includes('ringfence')) {
      raft = await startRingfence(o, args.log);
      runners.push(ringfenceRunner(raft.cluster, raft.client));
    }
    if (o.targets.includes('etcd')) {
      etcd = await startEtcd(o, args.log);
      runners.push(etcdRunner(etcd.cluster, etcd.client));
    }
    if (runners.length === 0) throw new Error('nothing to measure (--targets ringfence,etcd)');

    // Warm up (JIT, connection pools, LevelDB/etcd files) so level 1 is not a cold start.
    const warmMs = Math.min(2_000, (o.seconds * 1000) / 4);
    for (const r of runners) await r.run(16, warmMs);

    // Levels in order; within a level the targets alternate which goes first, and with
    // --repeat the whole sequence runs again (results are then per-field medians).
    const runs: RaftBenchResult[] = [];
    let turn = 0;
    for (let rep = 0; rep < o.repeat; rep++) {
      for (const level of o.levels) {
        const ordered = turn++ % 2 === 0 ? runners : [...runners].reverse();
        for (const r of ordered) {
          const res = await measure(r, level, o.seconds * 1000);
          runs.push(res);
          args.log(progressLine(res));
        }
      }
    }
    const results = o.repeat === 1 ? runs : medians(runs);
    return {
      bench: 'raft',
      seconds: o.seconds,
      repeat: o.repeat,
      valueBytes: VALUE_BYTES,
      etcdTiming: etcd ? o.etcdTiming : null,
      raftTiming: o.raftTiming === 'etcd' ? ETCD_TIMING_MS[o.etcdTiming] : 'group defaults',
      results,
      comparison: compare(results),
      ...(o.repeat > 1 ? { runs } : {}),
    };
  } finally {
    raft?.client.close();
    etcd?.client.close();
    await Promise.all([raft?.cluster.stop(), etcd?.cluster.stop()]);
  }
}

type Options = Readonly<{
  seconds: number;
  levels: number[];
  repeat: number;
  targets: Target[];
  etcdTiming: EtcdTiming;
  raftTiming: 'etcd' | 'group';
  connections: number;
  profileDir: string | null;
  snapshotEveryEntries: number | null;
}>;

function parseOptions(args: BenchArgs): Options {
  const f = args.flags;
  const levels = (f.get('levels') ?? LEVELS_DEFAULT.join(',')).split(',').map(Number);
  if (levels.some((c) => !Number.isInteger(c) || c < 1)) throw new Error('--levels wants positive integers, e.g. 1,16,64');
  const repeat = Number(f.get('repeat') ?? 1);
  if (!Number.isInteger(repeat) || repeat < 1) throw new Error('--repeat wants a positive integer');
  const etcdTiming = f.get('etcd-timing') ?? 'default';
  if (etcdTiming !== 'default' && etcdTiming !== 'fast') throw new Error('--etcd-timing wants default or fast');
  const raftTiming = f.get('raft-timing') ?? 'etcd';
  if (raftTiming !== 'etcd' && raftTiming !== 'group') throw new Error('--raft-timing wants etcd or group');
  const wanted = (f.get('targets') ?? 'ringfence,etcd').split(',');
  const targets: Target[] = [];
  if (wanted.includes('ringfence')) targets.push('ringfence');
  if (wanted.includes('etcd')) {
    if (etcdBinary() !== null) targets.push('etcd');
    else args.log('etcd is not installed: measuring Ringfence only');
  }
  const snapshotEvery = f.get('snapshot-every');
  return {
    seconds: args.seconds ?? SECONDS_DEFAULT,
    levels,
    repeat,
    targets,
    etcdTiming,
    raftTiming,
    connections: Number(f.get('connections') ?? 4),
    profileDir: f.get('profile') ?? null,
    snapshotEveryEntries: snapshotEvery !== undefined ? Number(snapshotEvery) : null,
  };
}

async function startRingfence(o: Options, log: (line: string) => void): Promise<{ cluster: RaftBenchCluster; client: RaftBenchClient }> {
  if (o.profileDir) mkdirSync(o.profileDir, { recursive: true });
  const cluster = await RaftBenchCluster.start({
    nodeFlags: o.profileDir ? ['--cpu-prof', `--cpu-prof-dir=${o.profileDir}`] : [],
    ...(o.raftTiming === 'etcd' ? ETCD_TIMING_MS[o.etcdTiming] : {}),
    ...(o.snapshotEveryEntries !== null ? { snapshotEveryEntries: o.snapshotEveryEntries } : {}),
  });
  const client = new RaftBenchClient(cluster.clientAddresses, o.connections);
  try {
    const leader = await client.waitForLeader(payloadFor(0, 0), LEADER_WAIT_MS);
    log(`ringfence: 3 replicas up (pids ${cluster.pids.join(', ')}), leader ${leader}`);
    return { cluster, client };
  } catch (err) {
    client.close();
    await cluster.stop();
    throw err;
  }
}

async function startEtcd(o: Options, log: (line: string) => void): Promise<{ cluster: EtcdCluster; client: Etcd3 }> {
  const cluster = await EtcdCluster.start({ timing: o.etcdTiming });
  const leader = await cluster.leader();
  if (!leader) {
    await cluster.stop();
    throw new Error('etcd has no leader');
  }
  // The leader's endpoint only: like our client, no follower → leader forwarding hop.
  const client = createEtcdClient([leader.clientHost]);
  const pids = cluster.members.map((m) => m.proc!.pid).join(', ');
  log(`etcd: 3 members up (pids ${pids}), ${o.etcdTiming} timing, client on leader ${leader.name}`);
  return { cluster, client };
}

/** One result per (target, concurrency): the median of each numeric field over repeats. */
function medians(runs: readonly RaftBenchResult[]): RaftBenchResult[] {
  const groups = new Map<string, RaftBenchResult[]>();
  for (const r of runs) {
    const k = `${r.target}/${r.concurrency}`;
    groups.set(k, [...(groups.get(k) ?? []), r]);
  }
  return [...groups.values()].map((g) => {
    const m = (pick: (r: RaftBenchResult) => number): number => round(median(g.map(pick)), 3);
    const errorCodes: Record<string, number> = {};
    for (const r of g) for (const [c, n] of Object.entries(r.errorCodes)) errorCodes[c] = (errorCodes[c] ?? 0) + n;
    return {
      target: g[0]!.target,
      concurrency: g[0]!.concurrency,
      opsPerSec: m((r) => r.opsPerSec),
      p50Ms: m((r) => r.p50Ms),
      p99Ms: m((r) => r.p99Ms),
      maxMs: m((r) => r.maxMs),
      errors: g.reduce((s, r) => s + r.errors, 0),
      errorCodes,
      leaderChanges: g[0]!.leaderChanges === null ? null : g.reduce((s, r) => s + (r.leaderChanges ?? 0), 0),
      stalls: g[0]!.stalls === null ? null : g.flatMap((r) => r.stalls ?? []),
      serverCpuCores: m((r) => r.serverCpuCores),
      clientCpuCores: m((r) => r.clientCpuCores),
      serverCpuUsPerOp: m((r) => r.serverCpuUsPerOp),
      serverWriteSyscallsPerOp: m((r) => r.serverWriteSyscallsPerOp),
    };
  });
}

async function measure(r: Runner, concurrency: number, durationMs: number): Promise<RaftBenchResult> {
  const pids = r.pids();
  const cpu0 = pids.map((p) => cpuTimeMs(p) ?? 0);
  const io0 = pids.map((p) => ioSyscalls(p)?.writes ?? 0);
  const self0 = selfCpuTimeMs();
  r.takeErrorCodes();
  const leaders0 = r.leaderChanges();
  const stallMark = r.stallCount();
  const res = await r.run(concurrency, durationMs);
  const leaders1 = r.leaderChanges();
  const errorCodes = r.takeErrorCodes();
  const serverCpuMs = pids.reduce((sum, p, i) => sum + ((cpuTimeMs(p) ?? cpu0[i]!) - cpu0[i]!), 0);
  const clientCpuMs = selfCpuTimeMs() - self0;
  const writes = pids.reduce((sum, p, i) => sum + ((ioSyscalls(p)?.writes ?? io0[i]!) - io0[i]!), 0);
  const ops = Math.max(1, res.okCount);
  const lat = summarizeLatencies(res.latenciesMs);
  return {
    target: r.target,
    concurrency,
    opsPerSec: round((res.okCount * 1000) / res.elapsedMs, 1),
    p50Ms: round(lat.p50Ms, 3),
    p99Ms: round(lat.p99Ms, 3),
    maxMs: round(lat.maxMs, 1),
    errors: res.failCount + res.errorCount,
    errorCodes,
    leaderChanges: leaders0 === null || leaders1 === null ? null : leaders1 - leaders0,
    stalls: r.stallsFrom(stallMark),
    serverCpuCores: round(serverCpuMs / res.elapsedMs, 2),
    clientCpuCores: round(clientCpuMs / res.elapsedMs, 2),
    serverCpuUsPerOp: round((serverCpuMs * 1000) / ops, 0),
    serverWriteSyscallsPerOp: round(writes / ops, 2),
  };
}

function ringfenceRunner(cluster: RaftBenchCluster, client: RaftBenchClient): Runner {
  let codes: Record<string, number> = {};
  const note = (code: string): void => void (codes[code] = (codes[code] ?? 0) + 1);
  return {
    target: 'ringfence',
    pids: () => cluster.pids,
    leaderChanges: () => cluster.leadersSeen.length,
    stallCount: () => cluster.stalls.length,
    stallsFrom: (mark) => cluster.stalls.slice(mark).map((s) => `${s.id}: ${s.gapMs} ms @${s.appliedIndex}`),
    takeErrorCodes: () => {
      const c = codes;
      codes = {};
      return c;
    },
    run: (concurrency, durationMs) =>
      runClosedLoop({
        concurrency,
        durationMs,
        errorPauseMs: ERROR_PAUSE_MS,
        op: async (w, seq): Promise<OpOutcome> => {
          try {
            const res = await client.propose(payloadFor(w, seq));
            if (res.ok) return 'ok';
            note(res.code);
          } catch {
            note('connection');
          }
          return 'error';
        },
      }),
  };
}

function etcdRunner(cluster: EtcdCluster, client: Etcd3): Runner {
  let round = 0;
  let codes: Record<string, number> = {};
  return {
    target: 'etcd',
    pids: () => cluster.members.flatMap((m) => (m.proc && !m.proc.exited ? [m.proc.pid] : [])),
    leaderChanges: () => null,
    stallCount: () => 0,
    stallsFrom: () => null,
    takeErrorCodes: () => {
      const c = codes;
      codes = {};
      return c;
    },
    run: async (concurrency, durationMs) => {
      const res = await runEtcdCasLoad(client, { concurrency, durationMs, valueBytes: VALUE_BYTES, keyPrefix: `bench/cas/${round++}/` });
      if (res.failCount > 0) codes['CAS_MISMATCH'] = res.failCount;
      if (res.errorCount > 0) codes['RPC_ERROR'] = res.errorCount;
      return res;
    },
  };
}

/** A 64-byte proposal naming its worker and sequence number (distinct per operation). */
function payloadFor(worker: number, seq: number): Uint8Array {
  const b = Buffer.alloc(VALUE_BYTES, 0x2e);
  b.write(`w${worker}-${seq}`, 0, 'ascii');
  return b;
}

function progressLine(r: RaftBenchResult): string {
  return (
    `${r.target.padEnd(9)} c=${String(r.concurrency).padStart(3)}  ${formatCount(r.opsPerSec).padStart(7)} commits/s  ` +
    `p50 ${formatMs(r.p50Ms).padStart(5)} ms  p99 ${formatMs(r.p99Ms).padStart(5)} ms  max ${formatMs(r.maxMs).padStart(5)} ms  ` +
    `server cpu ${r.serverCpuCores.toFixed(2)} (${r.serverCpuUsPerOp} µs/op, ${r.serverWriteSyscallsPerOp} writes/op)  ` +
    `client cpu ${r.clientCpuCores.toFixed(2)}` +
    (r.leaderChanges ? `  leader changes ${r.leaderChanges}` : '') +
    (r.stalls && r.stalls.length > 0 ? `  stalls [${r.stalls.join(', ')}]` : '') +
    (r.errors > 0 ? `  errors ${r.errors} ${JSON.stringify(r.errorCodes)}` : '')
  );
}

/** Per level: our throughput over etcd's and both p99s (when both were measured). */
function compare(results: readonly RaftBenchResult[]): Array<Record<string, number>> {
  const out: Array<Record<string, number>> = [];
  for (const ours of results.filter((r) => r.target === 'ringfence')) {
    const theirs = results.find((r) => r.target === 'etcd' && r.concurrency === ours.concurrency);
    if (!theirs) continue;
    out.push({
      concurrency: ours.concurrency,
      throughputRatio: round(ours.opsPerSec / theirs.opsPerSec, 2),
      p99MsOurs: ours.p99Ms,
      p99MsEtcd: theirs.p99Ms,
    });
  }
  return out;
}
