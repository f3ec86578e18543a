// `npm run bench -- reserve [--json] [--seconds S] [--agents N] [--levels 1,16,64,256]
//   [--shards N] [--stores 3] [--layout stores|replicas|in-process] [--warmup-seconds 2]
//   [--snapshot-every N] [--busy-shards N]`
// Reservation cycles (reserve → confirm → release) against N shards × 3 replicas with
// fsync on, at several closed-loop concurrencies. Layouts: `stores` (the default when
// --shards is given): N shards on --stores `ringfence store` processes, the client holding
// one connection per store; `replicas` (the default without --shards, N = 2): every replica
// a process of its own, today's layout, for the comparison with earlier figures;
// `in-process`: the stores of the `stores` layout (real LevelDB, real loopback sockets)
// opened in the bench's own process beside its client, one event loop for all, so what a
// shard count costs can be told apart from what scheduling several processes on a small
// machine costs (its cpuMsPerCycle.client is then the stores' and the client's CPU
// together; one core at most). With stores, the bench waits for every shard to be led by
// its preferred replica before it provisions (the JSON's `leaders`): the first elections
// can leave one store leading none of 100 shards, and a handover waits until its
// preferred replica has been caught up for 3 s, which a load defers, so the handovers
// could land in the warm-up or a measured level. Beside it, when etcd is
// installed, the same reservation workload against a 3-member etcd as compare-and-swap
// transactions (ANCHORS.md): reserve, confirm and release are three transactions there as
// they are three commands here (ANCHORS.md's etcd figures were reserve → release only). The two targets alternate level by level so both see the
// same machine noise. Reports reservations/s and grant latency (the reserve call); the
// final JSON line names the layout and the shard count it ran (`"shards":N`). A discarded
// warm-up at concurrency 64 runs first: right after provisioning, the first seconds of
// load ran at two thirds of the next ones' rate with 100 shards (469 against 700
// cycles/s in one run), which would have charged the first level with it. Replicas
// snapshot every 200,000 entries unless --snapshot-every says otherwise (a cluster's
// default is 10,000): a level then measures the log path alone, or, with a small interval
// and many --agents, what snapshots cost the commands beside them.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { ProcessSet, writeLocalClusterConfig } from '../cluster/local-cluster.js';
import { intFlag } from '../common/args.js';
import type { ClusterConfig } from '../common/config.js';
import { raftSnapshotEveryEntriesMax, raftSnapshotEveryEntriesMin } from '../common/limits.js';
import { silentLogger } from '../common/logger.js';
import { ShardClient } from '../shards/client/shard-client.js';
import { ShardStore } from '../shards/node/store.js';
import { storeParts } from '../shards/node/store-parts.js';
import { ownedByAny } from '../shards/shard-map.js';
import type { BenchArgs, BenchReport } from './bench-args.js';
import { runClosedLoop, type OpOutcome } from './closed-loop.js';
import { EtcdCluster, etcdBinary } from './etcd-cluster.js';
import { createEtcdClient, runEtcdReservationLoad, seedAgents } from './etcd-workloads.js';
import { deltaPerUnit, groupCpuMs, hostBusyMs, hostCpuTicks, onExitCleanup, selfCpuTimeMs } from './procs.js';
import { round, summarizeLatencies } from './stats.js';
import { describeLeaders, preferredLeadersWaitMs, StoreCluster, storeCountNames, storeCounts, waitForPreferredLeaders, type PreferredLeaders, type StoreCounts } from './store-cluster.js';

type Layout = 'stores' | 'replicas' | 'in-process';
/** Processes beyond this many (3 per shard) make the per-replica layout a bench of the
 * machine's scheduler rather than of Ringfence. */
const replicaLayoutShardsMax = 8;
const storesLeadersMsMax = 120_000;

export type ReserveLayout = Readonly<{ layout: Layout; shards: number; stores: number }>;

/** The layout flags, checked before anything starts. */
export function reserveLayout(args: BenchArgs): ReserveLayout {
  const shardsFlag = args.flags.get('shards');
  const layoutFlag = args.flags.get('layout') ?? (shardsFlag === undefined ? 'replicas' : 'stores');
  if (layoutFlag !== 'stores' && layoutFlag !== 'replicas' && layoutFlag !== 'in-process') throw new Error(`--layout wants stores, replicas or in-process, got ${layoutFlag}`);
  const shardsMax = layoutFlag === 'replicas' ? replicaLayoutShardsMax : 1000;
  const shards = shardsFlag === undefined ? 2 : Number(shardsFlag);
  if (!Number.isInteger(shards) || shards < 1 || shards > shardsMax) throw new Error(`--shards must be an integer from 1 to ${shardsMax} with --layout ${layoutFlag}, got ${JSON.stringify(shardsFlag)}`);
  const storesFlag = args.flags.get('stores');
  const stores = storesFlag === undefined ? 3 : Number(storesFlag);
  if (!Number.isInteger(stores) || stores < 3 || stores > 9) throw new Error(`--stores must be an integer from 3 to 9, got ${JSON.stringify(storesFlag)}`);
  if (layoutFlag === 'replicas' && storesFlag !== undefined) throw new Error('--stores applies to --layout stores only');
  return { layout: layoutFlag, shards, stores };
}

/** The shards under test, running; stop() ends every process. */
type Target = Readonly<{
  config: ClusterConfig;
  client: ShardClient;
  describe: string;
  serverPids(): number[];
  /** Running totals of what the stores did, summed over them (stores layout only). */
  storeCounts?: () => Promise<StoreCounts>;
  /** Where the leaders were when the bench began (stores layouts: at their preferred
   * replicas, spread over the stores, unless the wait for them ran out). */
  leaders?: PreferredLeaders;
  stop(): Promise<void>;
}>;


/** Replicas' snapshot interval without --snapshot-every: the log path alone is measured. */
const SNAPSHOT_EVERY_DEFAULT = 200_000;

async function startReplicas(shards: number, snapshotEveryEntries: number, profileDir: string | undefined): Promise<Target> {
  const dir = mkdtempSync(join(tmpdir(), 'ringfence-bench-reserve-'));
  const { path, config } = await writeLocalClusterConfig({ dir, shards, raft: { snapshotEveryEntries } });
  const procs = new ProcessSet(path, { logFile: join(dir, 'cluster.log'), ...(profileDir ? { nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] } : {}) });
  const cleanup = onExitCleanup(() => procs.killAllNow());
  const client = new ShardClient({ shards: config.shards, auth: { secret: config.secret, principal: 'launcher' }, deadlineMs: 10_000, attemptTimeoutMs: 2000 });
  const stop = async (): Promise<void> => {
    client.close();
    await procs.stopAll(2000);
    cleanup();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await Promise.all(config.shards.flatMap((s) => s.replicas.map((r) => procs.start('shard', r.id, [], 120_000))));
  } catch (err) {
    await stop();
    throw err;
  }
  const serverPids = (): number[] => config.shards.flatMap((s) => s.replicas.map((r) => procs.pid(r.id))).filter((p): p is number => p !== null);
  return { config, client, describe: `${shards} shards × 3 replicas, one process each (fsync on), in ${dir}`, serverPids, stop };
}

async function startStores(shards: number, stores: number, snapshotEveryEntries: number, profileDir: string | undefined, log: (line: string) => void): Promise<Target> {
  const cluster = await StoreCluster.create({ shards, stores, log, raft: { snapshotEveryEntries }, ...(profileDir ? { nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] } : {}) });
  try {
    await cluster.startAll();
    // A store is ready once its groups are open; the measured commands should not wait
    // for elections.
    for (const deadline = Date.now() + storesLeadersMsMax; ; ) {
      const leaders = await cluster.leaders();
      if ([...leaders.values()].every((l) => l !== null)) break;
      if (Date.now() > deadline) throw new Error(`reserve: ${[...leaders.values()].filter((l) => l === null).length} of ${shards} shards have no leader ${storesLeadersMsMax} ms after the stores were ready`);
      await new Promise((r) => setTimeout(r, 100));
    }
  } catch (err) {
    await cluster.stop();
    throw err;
  }
  const leaders = await cluster.preferredLeaders(preferredLeadersWaitMs);
  const storeIds = (cluster.config.stores ?? []).map((s) => s.id);
  const serverPids = (): number[] => storeIds.map((id) => cluster.pid(id)).filter((p): p is number => p !== null);
  const counts = (): Promise<StoreCounts> => storeCounts(cluster.config);
  return { config: cluster.config, client: cluster.client, describe: `${shards} shards × 3 replicas on ${stores} store processes (fsync on), in ${cluster.dir}`, serverPids, storeCounts: counts, leaders, stop: () => cluster.stop() };
}

/** The stores layout's stores opened in this process (ShardStore.start, as `ringfence
 * store` does), each with its admin app listening so storeCounts reads them as it reads
 * store processes. */
async function startStoresInProcess(shards: number, stores: number, snapshotEveryEntries: number, profileDir: string | undefined): Promise<Target> {
  const profiler = profileDir === undefined ? null : await startCpuProfile();
  const dir = mkdtempSync(join(tmpdir(), 'ringfence-bench-in-process-'));
  const { config } = await writeLocalClusterConfig({ dir, shards, stores, raft: { snapshotEveryEntries } });
  const opened: ShardStore[] = [];
  let leaders: PreferredLeaders | undefined;
  const client = new ShardClient({ shards: config.shards, auth: { secret: config.secret, principal: 'launcher' }, deadlineMs: 10_000, attemptTimeoutMs: 2000 });
  const stop = async (): Promise<void> => {
    client.close();
    await Promise.all(opened.map((st) => st.close()));
    rmSync(dir, { recursive: true, force: true });
    if (profiler !== null) await profiler.stopInto(profileDir!);
  };
  try {
    for (const st of config.stores ?? []) opened.push(await ShardStore.start({ config, storeId: st.id, parts: storeParts, log: silentLogger, listenAdmin: true }));
    const leaderOf = (): Map<string, string> => new Map(opened.flatMap((st) => [...st.replicas].filter(([, r]) => r.node.group.isLeader()).map(([, r]) => [r.shard.id, r.node.replicaId] as const)));
    for (const deadline = Date.now() + storesLeadersMsMax; ; ) {
      const led = leaderOf();
      if (led.size === shards) break;
      if (Date.now() > deadline) throw new Error(`reserve: ${shards - led.size} of ${shards} shards have no leader ${storesLeadersMsMax} ms after the stores opened`);
      await new Promise((r) => setTimeout(r, 100));
    }
    leaders = await waitForPreferredLeaders(config, async () => leaderOf(), preferredLeadersWaitMs);
  } catch (err) {
    await stop();
    throw err;
  }
  return { config, client, describe: `${shards} shards × 3 replicas on ${stores} stores in this process (fsync on), in ${dir}`, serverPids: () => [], storeCounts: () => storeCounts(config), leaders, stop };
}

/** A V8 CPU profile of this process from now until stopInto(dir) writes it there, named as
 * `node --cpu-prof` names its own, so the same tools read both (profile-summary.ts). */
async function startCpuProfile(): Promise<{ stopInto(dir: string): Promise<void> }> {
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.start');
  return {
    async stopInto(dir) {
      const { profile } = await session.post('Profiler.stop');
      session.disconnect();
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, `CPU.in-process.${process.pid}.cpuprofile`), JSON.stringify(profile));
    },
  };
}

/** CPU per reservation cycle (ms): the whole machine's busy time, and the Ringfence
 * servers' and this bench client's own, so a change in throughput can be told apart from
 * a change in cost (the machine is saturated at c=64, so throughput follows the cost). */
type CycleCpu = { host?: number; servers?: number; client?: number };
type Row = { target: 'ringfence' | 'etcd'; concurrency: number; opsPerSec: number; p50Ms: number; p99Ms: number; denied: number; unknown: number; cpuMsPerCycle?: CycleCpu; storesPerCycle?: StoreCounts };

export async function runBench(args: BenchArgs): Promise<BenchReport> {
  const seconds = args.seconds ?? 10;
  const agents = intFlag(args.flags.get('agents'), 'agents', 1, 100_000, 2000);
  const snapshotEvery = intFlag(args.flags.get('snapshot-every'), 'snapshot-every', raftSnapshotEveryEntriesMin, raftSnapshotEveryEntriesMax, SNAPSHOT_EVERY_DEFAULT);
  const levels = (args.flags.get('levels') ?? '1,16,64,256').split(',').map(Number);
  const warmupSeconds = Number(args.flags.get('warmup-seconds') ?? 2);
  if (!Number.isFinite(warmupSeconds) || warmupSeconds < 0) throw new Error(`--warmup-seconds wants a number ≥ 0, got ${args.flags.get('warmup-seconds')}`);
  const withEtcd = etcdBinary() !== null && args.flags.get('etcd') !== 'false';
  const layout = reserveLayout(args);
  // --busy-shards N: every agent lives on one of the first N shards (by id), the others
  // stay idle: what idle groups cost a store, told apart from what spreading the load does.
  const busyShards = intFlag(args.flags.get('busy-shards'), 'busy-shards', 1, layout.shards, layout.shards);
  // --profile DIR: every replica (or store) writes a V8 CPU profile there when it stops;
  // in process, the bench's own process does (stores and client together).
  const profileDir = args.flags.get('profile');
  let target: Target | null = null;
  let etcd: EtcdCluster | null = null;
  const rows: Row[] = [];
  try {
    args.log(`reserve: starting ${layout.shards} shards × 3 replicas, layout ${layout.layout}`);
    target =
      layout.layout === 'stores' ? await startStores(layout.shards, layout.stores, snapshotEvery, profileDir, args.log)
      : layout.layout === 'in-process' ? await startStoresInProcess(layout.shards, layout.stores, snapshotEvery, profileDir)
      : await startReplicas(layout.shards, snapshotEvery, profileDir);
    args.log(`reserve: ${target.describe}`);
    if (target.leaders !== undefined) args.log(`reserve: ${describeLeaders(target.leaders)}`);
    const client = target.client;
    const dns = agentDns(target.config.shards.map((sh) => sh.id), agents, busyShards);
    await provision(client, dns);
    args.log(`reserve: ${agents} agents provisioned and READY`);
    if (withEtcd) {
      etcd = await EtcdCluster.start({ timing: 'default' });
      const seedClient = createEtcdClient(etcd.clientHosts);
      await seedAgents(seedClient, agents);
      seedClient.close();
      args.log(`reserve: 3-member etcd up, ${agents} agent keys seeded`);
    } else {
      args.log(etcdBinary() === null ? 'reserve: etcd not installed (apt-get install -y etcd-server) — measuring Ringfence alone' : 'reserve: --etcd false — measuring Ringfence alone');
    }
    if (warmupSeconds > 0) {
      const w = await ringfenceLevel(target, dns, 64, warmupSeconds);
      args.log(`reserve: warm-up (not reported): ${line(w).trim()}`);
    }
    for (const c of levels) {
      rows.push(await ringfenceLevel(target, dns, c, seconds));
      args.log(line(rows[rows.length - 1]!));
      if (etcd) {
        const ec = createEtcdClient(etcd.clientHosts);
        const r = await runEtcdReservationLoad(ec, { concurrency: c, durationMs: seconds * 1000, agents, confirm: true });
        ec.close();
        const lat = summarizeLatencies(r.reserveLatenciesMs);
        rows.push({ target: 'etcd', concurrency: c, opsPerSec: round(r.granted / (r.elapsedMs / 1000), 1), p50Ms: round(lat.p50Ms), p99Ms: round(lat.p99Ms), denied: r.denied, unknown: r.unknown });
        args.log(line(rows[rows.length - 1]!));
      }
    }
  } finally {
    await etcd?.stop();
    await target?.stop();
  }
  const results = rows.map(({ target: t, concurrency, opsPerSec, p50Ms, p99Ms, cpuMsPerCycle, storesPerCycle }) => ({ target: t, concurrency, opsPerSec, p50Ms, p99Ms, ...(cpuMsPerCycle ? { cpuMsPerCycle } : {}), ...(storesPerCycle ? { storesPerCycle } : {}) }));
  const leaders = target?.leaders;
  return { bench: 'reserve', layout: layout.layout, shards: layout.shards, ...(busyShards < layout.shards ? { busyShards } : {}), ...(layout.layout !== 'replicas' ? { stores: layout.stores } : {}), ...(leaders !== undefined ? { leaders: { atPreferred: leaders.atPreferred, perStore: leaders.perStore } } : {}), snapshotEveryEntries: snapshotEvery, results };
}

function line(r: Row): string {
  const cpu = r.cpuMsPerCycle ? `; CPU ms/cycle host ${r.cpuMsPerCycle.host ?? '?'}, servers ${r.cpuMsPerCycle.servers ?? '?'}, client ${r.cpuMsPerCycle.client ?? '?'}` : '';
  const counts = r.storesPerCycle ? `\n            per cycle in the stores: ${storeCountNames.map((k) => `${k} ${r.storesPerCycle![k]}`).join(', ')}` : '';
  return `  ${r.target.padEnd(9)} c=${String(r.concurrency).padStart(3)}  ${String(r.opsPerSec).padStart(8)} reservations/s  grant p50 ${r.p50Ms} ms  p99 ${r.p99Ms} ms  (denied ${r.denied}, unknown ${r.unknown})${cpu}${counts}`;
}

/** `agents` DNs from 100000 up, skipping those not owned by one of the first `busyShards`
 * shards (by id). */
export function agentDns(shardIds: readonly string[], agents: number, busyShards: number): string[] {
  const busy = new Set([...shardIds].sort().slice(0, busyShards));
  const dns: string[] = [];
  for (let n = 100000; dns.length < agents; n++) {
    const dn = String(n);
    if (busy.size === shardIds.length || ownedByAny(dn, shardIds, busy)) dns.push(dn);
  }
  return dns;
}

async function provision(client: ShardClient, dns: readonly string[]): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: 64 }, async () => {
    while (next < dns.length) {
      const dn = dns[next++]!;
      for (const command of [
        { type: 'provision', dn, name: `bench ${dn}`, skills: { support: 50 }, wrapUpMs: 0, maxNoAnswer: 0, credentials: null },
        { type: 'login', dn },
        { type: 'ready', dn },
      ] as const) {
        const r = await client.command(dn, command);
        if (!r.ok) throw new Error(`provisioning ${dn}: ${r.code} ${r.reason}`);
      }
    }
  }));
}

/** One closed-loop level: each worker reserves a random agent; on a grant it confirms and
 * releases it (the call "ends" at once), then starts over. */
async function ringfenceLevel(target: Target, dns: readonly string[], concurrency: number, seconds: number): Promise<Row> {
  const client = target.client;
  const pids = target.serverPids();
  const hostBefore = hostCpuTicks();
  const countsBefore = await target.storeCounts?.();
  // In process (no server pids) the client's CPU is the stores' too: no servers figure.
  const serverCpu = (): Record<string, number | null> => (pids.length > 0 ? groupCpuMs({ servers: pids }) : {});
  const cpuBefore = { ...serverCpu(), client: selfCpuTimeMs() };
  let denied = 0;
  let seq = 0;
  const grantLatencies: number[] = [];
  const res = await runClosedLoop({
    concurrency,
    durationMs: seconds * 1000,
    errorPauseMs: 10,
    op: async (w): Promise<OpOutcome> => {
      const dn = dns[Math.floor(Math.random() * dns.length)]!;
      const reservationId = `b${process.pid}-${w}-${seq++}`;
      const t0 = performance.now();
      const r = await client.command(dn, { type: 'reserve', dn, reservationId, callId: reservationId, owner: 'bench', ttlMs: 30_000 });
      if (!r.ok) {
        denied++;
        return 'fail';
      }
      const grantMs = performance.now() - t0;
      await client.command(dn, { type: 'confirm', dn, reservationId });
      await client.command(dn, { type: 'release', dn, reservationId, outcome: 'completed' });
      // The closed loop measures the whole cycle; the grant latency is what callers wait for.
      grantLatencies.push(grantMs);
      return 'ok';
    },
  });
  const cpuAfter = { ...serverCpu(), client: selfCpuTimeMs() };
  const hostMs = hostBusyMs(hostBefore, hostCpuTicks());
  const countsAfter = await target.storeCounts?.();
  // Every started cycle cost CPU, granted or denied.
  const cycles = res.okCount + denied;
  const storesPerCycle = countsBefore && countsAfter && cycles > 0 ? (deltaPerUnit(countsBefore, countsAfter, cycles) as StoreCounts) : undefined;
  const cpuMsPerCycle: CycleCpu = { ...(hostMs === null || cycles === 0 ? {} : { host: round(hostMs / cycles, 3) }), ...deltaPerUnit(cpuBefore, cpuAfter, cycles) };
  const lat = summarizeLatencies(grantLatencies);
  return { target: 'ringfence', concurrency, opsPerSec: round(res.okCount / (res.elapsedMs / 1000), 1), p50Ms: round(lat.p50Ms), p99Ms: round(lat.p99Ms), denied, unknown: res.errorCount, cpuMsPerCycle, ...(storesPerCycle ? { storesPerCycle } : {}) };
}

