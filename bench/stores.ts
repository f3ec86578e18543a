// `npm run bench -- stores [--shards 100] [--stores 3] [--agents 10000] [--seconds 10]
//   [--idle-seconds 10] [--light-rate 100] [--concurrency 256] [--settle-seconds 30] [--json]`
// What a store costs (issue #20): N shards × 3 replicas on S `ringfence store` processes
// (fsync on), measured in phases on one cluster:
// 1. boot: spawn of every store → every shard has a leader (and → every ready line);
//    then the bench waits for each shard's leader to be its preferred replica
//    (`boot.leaders`), as an operator's cluster settles before its traffic;
// 2. fixed resources: Raft connections between the stores in all (sockets of the stores'
//    pids whose remote port is a store's Raft port, from /proc/net/tcp by inode), listening
//    ports per store, the client's connections;
// 3. memory: resident set per store with `--agents` provisioned READY, and again after the
//    write path (5), when each shard's change-feed ring has filled to its share of the
//    store's budget and each group's log runs between snapshots at its share of the
//    store's (`rssMbAfterLoad`, `feedRecords`, `logInMemory`), and once more after
//    `--settle-seconds` without load (`rssMbSettled`: what a burst leaves behind);
// 4. idle: CPU ms per second per store over `--idle-seconds`, once the groups quiesced
//    (right after provisioning: with the work a burst leaves behind), and again over the
//    second half of the settle period (`idleSettled`: a store that stays quiet);
//    then light load for as long: `--light-rate` reservations a second (reserve, release)
//    on random agents, each shard's group quiescing between its few commands; the stores'
//    CPU above idle per command, and their Raft messages, frames, saves and syncs per
//    command;
// 5. write path: log syncs per committed entry with every shard busy (closed-loop
//    reserve → confirm → release at `--concurrency` for `--seconds`), from each store's
//    ringfence_store_log_syncs_total against the commit indexes of its groups;
// 6. failover: SIGKILL the store leading the most shards (about 1/S of them); half of its
//    shards were busy before the kill and half idle (quiesced); from the kill on, two
//    workers per affected shard contend for two of its agents; per affected shard the time
//    from the kill to the first reservation granted by a request sent after it (median,
//    max), and double grants from the client's view (a second grant of an agent between a
//    grant's acknowledgement and its release being sent; must be 0);
// 7. catch-up: restart the killed store; time until each of its replicas applied the
//    commit index its shard's leader had when the load stopped.
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { ShardClient, ShardClientError } from '../shards/client/shard-client.js';
import type { Agent, Command, ShardResult } from '../shards/types.js';
import type { RaftStatus } from '../raft/types.js';
import type { BenchArgs, BenchReport } from './bench-args.js';
import { runClosedLoop, type OpOutcome } from './closed-loop.js';
import { benchDn, didNotRun } from './failover-load.js';
import { cpuTimeMs } from './procs.js';
import { connectionsTo, metricValue, rssBytes, tcpRows, tcpSocketsOf } from './sockets.js';
import { median, round } from './stats.js';
import { describeLeaders, preferredLeadersWaitMs, StoreCluster, storeCountNames, storeCounts, type PreferredLeaders } from './store-cluster.js';

const BOOT_MS_MAX = 120_000;
const QUIESCE_WAIT_MS_MAX = 15_000;
const FAILOVER_WAIT_MS_MAX = 15_000;
const CATCH_UP_MS_MAX = 60_000;
/** Load on the busy half of the affected shards before the kill. */
const PRE_KILL_LOAD_MS = 2000;
const PROVISION_CONCURRENCY = 256;
const FAILOVER_ATTEMPT_TIMEOUT_MS = 250;
const FAILOVER_CALL_DEADLINE_MS = 2000;
const RESERVATION_TTL_MS = 30_000;
const POLL_MS = 100;
/** Reservations the light-load phase lets wait at once before it skips a beat. */
const LIGHT_IN_FLIGHT_MAX = 256;

type Flags = { shards: number; stores: number; agents: number; seconds: number; idleSeconds: number; concurrency: number; lightRate: number; settleSeconds: number };

function intFlag(args: BenchArgs, name: string, fallback: number, min: number, max: number): number {
  const raw = args.flags.get(name);
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) throw new Error(`--${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(raw)}`);
  return n;
}

export function storesFlags(args: BenchArgs): Flags {
  return {
    shards: intFlag(args, 'shards', 100, 1, 1000),
    stores: intFlag(args, 'stores', 3, 3, 9),
    agents: intFlag(args, 'agents', 10_000, 1, 100_000),
    seconds: args.seconds ?? 10,
    idleSeconds: intFlag(args, 'idle-seconds', args.seconds ?? 10, 1, 600),
    concurrency: intFlag(args, 'concurrency', 256, 1, 4096),
    lightRate: intFlag(args, 'light-rate', 100, 1, 2000),
    settleSeconds: intFlag(args, 'settle-seconds', 30, 0, 600),
  };
}

export async function runBench(args: BenchArgs): Promise<BenchReport> {
  const f = storesFlags(args);
  const cluster = await StoreCluster.create({ shards: f.shards, stores: f.stores, log: args.log });
  const report: Record<string, unknown> = { bench: 'stores', shards: f.shards, stores: f.stores, agents: f.agents };
  try {
    args.log(`stores: ${f.shards} shards × 3 replicas on ${f.stores} store processes (fsync on) in ${cluster.dir}`);
    const booted = await boot(cluster);
    report.boot = booted;
    const pids = cluster.stores.map((st) => `${st.id}=${cluster.pid(st.id)}`).join(' ');
    args.log(`  boot: every store ready after ${booted.readyMs} ms, every shard led after ${booted.bootMs} ms (store pids ${pids}); ${describeLeaders(booted.leaders)}`);
    report.resources = resources(cluster);
    args.log(`  resources: ${JSON.stringify(report.resources)}`);
    const provisionMs = await provision(cluster.client, f.agents);
    report.provisionMs = provisionMs;
    report.rssMb = rssMbPerStore(cluster);
    args.log(`  ${f.agents} agents provisioned in ${provisionMs} ms; RSS MB per store ${JSON.stringify(report.rssMb)}`);
    report.idle = await idle(cluster, f.idleSeconds);
    args.log(`  idle: ${JSON.stringify(report.idle)}`);
    report.light = await light(cluster, f, (report.idle as { totalCpuMsPerS: number }).totalCpuMsPerS);
    args.log(`  light load: ${JSON.stringify(report.light)}`);
    report.writePath = await writePath(cluster, f);
    args.log(`  write path: ${JSON.stringify(report.writePath)}`);
    // The change-feed rings filled during the write path: memory as it stays under load.
    report.rssMbAfterLoad = rssMbPerStore(cluster);
    const held = await Promise.all(cluster.stores.map(async (s) => [s.id, await cluster.status(s.id)] as const));
    // What the resident set is made of: V8's heap (used, and what it holds from the OS)
    // and memory outside it (LevelDB's buffers and caches, sockets).
    report.heapMbAfterLoad = Object.fromEntries(await Promise.all(cluster.stores.map(async (s) => {
      const text = await cluster.metrics(s.id);
      const mb = (name: string, labels: Record<string, string> = {}): number | null => {
        const v = metricValue(text, name, labels);
        return v === null ? null : round(v / 2 ** 20, 1);
      };
      // V8's heap by space: the young generation's size is fixed by flags, the old one's
      // by V8's growing policy against what the last full collection left live.
      const spaces = Object.fromEntries(['new', 'old', 'code', 'large_object'].map((space) => [space, mb('nodejs_heap_space_size_total_bytes', { space })]));
      return [s.id, { used: mb('nodejs_heap_size_used_bytes'), total: mb('nodejs_heap_size_total_bytes'), external: mb('nodejs_external_memory_bytes'), spaces }] as const;
    })));
    report.feedRecords = Object.fromEntries(held.map(([id, st]) => [id, st.changeFeed ?? null]));
    report.logInMemory = Object.fromEntries(held.map(([id, st]) => [id, st.logInMemory ?? null]));
    args.log(`  after the write path: RSS MB per store ${JSON.stringify(report.rssMbAfterLoad)}; change records held (per store, and each shard's share) ${JSON.stringify(report.feedRecords)}; Raft log entries in memory (the budget, and the least and most a group may hold now) ${JSON.stringify(report.logInMemory)}; V8 heap MB ${JSON.stringify(report.heapMbAfterLoad)}`);
    if (f.settleSeconds > 0) {
      // Nothing runs meanwhile: the groups quiesce, and V8 gives back heap it no longer
      // needs once its isolate has been idle a while; malloc's arenas keep what they hold.
      // The idle figure (4) is taken right after a burst, with what the burst left to do
      // (snapshots as the groups' log shares move, collections, LevelDB compactions);
      // the settle period's last half says what a store that stays quiet costs.
      const windowS = f.settleSeconds / 2;
      await sleep((f.settleSeconds - windowS) * 1000);
      const cpuMsPerS = await cpuMsPerSecond(cluster, windowS);
      report.idleSettled = { cpuMsPerS, totalCpuMsPerS: totalOf(cpuMsPerS), afterQuietS: f.settleSeconds - windowS, seconds: windowS };
      report.rssMbSettled = rssMbPerStore(cluster);
      args.log(`  after ${f.settleSeconds} s without load: RSS MB per store ${JSON.stringify(report.rssMbSettled)}; CPU ms per second over its last ${windowS} s ${JSON.stringify(report.idleSettled)}`);
    }
    const failed = await failover(cluster, f, args.log);
    report.failover = failed.summary;
    args.log(`  failover: ${JSON.stringify(failed.summary)}`);
    report.catchUp = await catchUp(cluster, failed.victim, failed.targets);
    args.log(`  catch-up: ${JSON.stringify(report.catchUp)} (restarted pid ${cluster.pid(failed.victim)})`);
  } finally {
    await cluster.stop();
  }
  return report as BenchReport;
}

function perStore<T>(cluster: StoreCluster, f: (pid: number, storeId: string) => T): Record<string, T | null> {
  const out: Record<string, T | null> = {};
  for (const s of cluster.stores) {
    const pid = cluster.pid(s.id);
    out[s.id] = pid === null ? null : f(pid, s.id);
  }
  return out;
}

async function waitFor(what: string, limitMs: number, check: () => Promise<boolean>): Promise<number> {
  const t0 = performance.now();
  while (!(await check())) {
    if (performance.now() - t0 > limitMs) throw new Error(`stores bench: ${what} not within ${limitMs} ms`);
    await sleep(POLL_MS);
  }
  return Math.round(performance.now() - t0);
}

/** Boots the stores: `bootMs` until every shard has a leader (the boot figure),
 * then waits for the leaders to move to their preferred replicas, so that the handovers
 * do not land in the idle figure after provisioning (store-cluster.ts says why they would). */
async function boot(cluster: StoreCluster): Promise<{ readyMs: number; bootMs: number; leaders: PreferredLeaders }> {
  const t0 = performance.now();
  await cluster.startAll();
  const readyMs = Math.round(performance.now() - t0);
  await waitFor('a leader for every shard', BOOT_MS_MAX, async () => [...(await cluster.leaders()).values()].every((l) => l !== null));
  const bootMs = Math.round(performance.now() - t0);
  return { readyMs, bootMs, leaders: await cluster.preferredLeaders(preferredLeadersWaitMs) };
}

function resources(cluster: StoreCluster): Record<string, unknown> {
  const rows = tcpRows();
  const pids = cluster.stores.map((s) => cluster.pid(s.id)).filter((p): p is number => p !== null);
  const raftPorts = new Set(cluster.stores.map((s) => s.raft.port));
  return {
    raftConnections: connectionsTo(pids, raftPorts, rows),
    listenersPerStore: perStore(cluster, (pid) => tcpSocketsOf(pid, rows).listening.length),
    clientConnections: cluster.client.connections,
  };
}

async function provision(client: ShardClient, agents: number): Promise<number> {
  const t0 = performance.now();
  let next = 0;
  await Promise.all(Array.from({ length: PROVISION_CONCURRENCY }, async () => {
    while (next < agents) {
      const dn = benchDn(next++);
      const commands: Command[] = [
        { type: 'provision', dn, name: `bench ${dn}`, skills: { support: 50 }, wrapUpMs: 0, maxNoAnswer: 0, credentials: null },
        { type: 'login', dn },
        { type: 'ready', dn },
      ];
      for (const command of commands) {
        const r = await client.command(dn, command, { deadlineMs: 30_000 });
        if (!r.ok) throw new Error(`provisioning ${dn}: ${r.code} ${r.reason}`);
      }
    }
  }));
  return Math.round(performance.now() - t0);
}

/** Groups quiesced on a store now (its ringfence_store_groups_quiesced), null if unknown. */
async function quiesced(cluster: StoreCluster, storeId: string): Promise<number | null> {
  return metricValue(await cluster.metrics(storeId), 'ringfence_store_groups_quiesced');
}

async function idle(cluster: StoreCluster, seconds: number): Promise<Record<string, unknown>> {
  const groupsPerStore = (storeId: string): number => cluster.config.shards.filter((s) => s.replicas.some((r) => r.store === storeId)).length;
  let quiescedAll = true;
  const waitedMs = await waitFor('quiescence', QUIESCE_WAIT_MS_MAX, async () => {
    const counts = await Promise.all(cluster.stores.map((s) => quiesced(cluster, s.id)));
    if (counts.some((c) => c === null)) {
      quiescedAll = false;
      return true; // the store reports no quiescence: measure as it is
    }
    return cluster.stores.every((s, i) => counts[i] === groupsPerStore(s.id));
  }).catch(() => {
    quiescedAll = false;
    return QUIESCE_WAIT_MS_MAX;
  });
  const cpuMsPerS = await cpuMsPerSecond(cluster, seconds);
  const quiescedAtEnd = Object.fromEntries(await Promise.all(cluster.stores.map(async (s) => [s.id, await quiesced(cluster, s.id)] as const)));
  return { cpuMsPerS, totalCpuMsPerS: totalOf(cpuMsPerS), quiescedAll, quiesceWaitMs: waitedMs, quiescedAtEnd };
}

/** Each store's CPU ms per second over the next `seconds` (null for a store not running). */
async function cpuMsPerSecond(cluster: StoreCluster, seconds: number): Promise<Record<string, number | null>> {
  const before = perStore(cluster, (pid) => cpuTimeMs(pid));
  const t0 = performance.now();
  await sleep(seconds * 1000);
  const elapsedS = (performance.now() - t0) / 1000;
  const after = perStore(cluster, (pid) => cpuTimeMs(pid));
  const cpuMsPerS: Record<string, number | null> = {};
  for (const s of cluster.stores) {
    const a = after[s.id];
    const b = before[s.id];
    cpuMsPerS[s.id] = a == null || b == null ? null : round((a - b) / elapsedS, 1);
  }
  return cpuMsPerS;
}

/** The stores' figures summed (NaN if one is missing). */
function totalOf(perStoreFigures: Record<string, number | null>): number {
  return round(Object.values(perStoreFigures).reduce<number>((x, y) => x + (y ?? Number.NaN), 0), 1);
}

/** Each store's resident set now, in MB. */
function rssMbPerStore(cluster: StoreCluster): Record<string, number | null> {
  return perStore(cluster, (pid) => round((rssBytes(pid) ?? Number.NaN) / 2 ** 20, 1));
}

/** Light load, as a contact center's shards mostly see it: `lightRate` reservations a
 * second (each reserve then release, two commands) on random agents, so each of the
 * shards gets one every few seconds and its group has quiesced in between. Open loop
 * (a late answer does not slow the next), at most LIGHT_IN_FLIGHT_MAX in flight. The
 * stores' CPU above their idle figure, per committed command, and what the stores did per
 * command (storeCounts). */
async function light(cluster: StoreCluster, f: Flags, idleCpuMsPerS: number): Promise<Record<string, unknown>> {
  const before = perStore(cluster, (pid) => cpuTimeMs(pid));
  const countsBefore = await storeCounts(cluster.config);
  let inFlight = 0;
  let skipped = 0;
  let failed = 0;
  let commands = 0;
  const cycle = async (i: number): Promise<void> => {
    const dn = benchDn(Math.floor(Math.random() * f.agents));
    const reservationId = `l${process.pid}-${i}`;
    const r = await cluster.client.command(dn, { type: 'reserve', dn, reservationId, callId: reservationId, owner: 'bench', ttlMs: RESERVATION_TTL_MS });
    commands++;
    if (!r.ok) return void failed++;
    await cluster.client.command(dn, { type: 'release', dn, reservationId, outcome: 'failed' });
    commands++;
  };
  const t0 = performance.now();
  const endMs = t0 + f.idleSeconds * 1000;
  for (let i = 0; performance.now() < endMs; i++) {
    if (inFlight >= LIGHT_IN_FLIGHT_MAX) skipped++;
    else {
      inFlight++;
      void cycle(i).catch(() => void failed++).finally(() => inFlight--);
    }
    const dueMs = t0 + ((i + 1) * 1000) / f.lightRate;
    await sleep(Math.max(0, dueMs - performance.now()));
  }
  // The last reservations finish before anything is read, so the CPU, the stores' counts
  // and `commands` all cover the same commands.
  await waitFor('the light load to drain', 10_000, async () => inFlight === 0).catch(() => {});
  const elapsedS = (performance.now() - t0) / 1000;
  const after = perStore(cluster, (pid) => cpuTimeMs(pid));
  const countsAfter = await storeCounts(cluster.config);
  let cpuMs = 0;
  for (const s of cluster.stores) cpuMs += (after[s.id] ?? Number.NaN) - (before[s.id] ?? Number.NaN);
  const totalCpuMsPerS = cpuMs / elapsedS;
  const perCommand = Object.fromEntries(storeCountNames.map((k) => [k, commands === 0 ? null : round((countsAfter[k] - countsBefore[k]) / commands, 2)]));
  return {
    reservationsPerSec: f.lightRate, seconds: round(elapsedS, 1), commands, failed, skipped,
    totalCpuMsPerS: round(totalCpuMsPerS, 1),
    cpuMsPerCommand: commands === 0 ? null : round(((totalCpuMsPerS - idleCpuMsPerS) * elapsedS) / commands, 3),
    perCommand,
  };
}

/** Commit index of every shard's leader (0 for a shard without one). */
async function commits(cluster: StoreCluster): Promise<Map<string, number>> {
  const leaders = await cluster.leaders();
  return new Map([...leaders].map(([shard, st]) => [shard, st?.commit ?? 0]));
}

async function writePath(cluster: StoreCluster, f: Flags): Promise<Record<string, unknown>> {
  const syncs = async (): Promise<Record<string, number | null>> => Object.fromEntries(await Promise.all(cluster.stores.map(async (s) => [s.id, metricValue(await cluster.metrics(s.id), 'ringfence_store_log_syncs_total')] as const)));
  const commitsBefore = await commits(cluster);
  const syncsBefore = await syncs();
  let granted = 0;
  let seq = 0;
  const res = await runClosedLoop({
    concurrency: f.concurrency,
    durationMs: f.seconds * 1000,
    errorPauseMs: 10,
    op: async (w): Promise<OpOutcome> => {
      const dn = benchDn(Math.floor(Math.random() * f.agents));
      const reservationId = `w${process.pid}-${w}-${seq++}`;
      const r = await cluster.client.command(dn, { type: 'reserve', dn, reservationId, callId: reservationId, owner: 'bench', ttlMs: RESERVATION_TTL_MS });
      if (!r.ok) return 'fail';
      granted++;
      await cluster.client.command(dn, { type: 'confirm', dn, reservationId });
      await cluster.client.command(dn, { type: 'release', dn, reservationId, outcome: 'completed' });
      return 'ok';
    },
  });
  const syncsAfter = await syncs();
  const commitsAfter = await commits(cluster);
  let committed = 0;
  let busyShards = 0;
  for (const [shard, after] of commitsAfter) {
    const delta = after - (commitsBefore.get(shard) ?? 0);
    committed += Math.max(0, delta);
    if (delta > 0) busyShards++;
  }
  // Every store holds a replica of every shard it is placed on; count the entries of those.
  const syncsPerCommit: Record<string, number | null> = {};
  for (const s of cluster.stores) {
    const hosted = cluster.config.shards.filter((sh) => sh.replicas.some((r) => r.store === s.id));
    const entries = hosted.reduce((n, sh) => n + Math.max(0, (commitsAfter.get(sh.id) ?? 0) - (commitsBefore.get(sh.id) ?? 0)), 0);
    const a = syncsAfter[s.id];
    const b = syncsBefore[s.id];
    syncsPerCommit[s.id] = a == null || b == null || entries === 0 ? null : round((a - b) / entries, 3);
  }
  return { seconds: round(res.elapsedMs / 1000, 1), cyclesPerSec: round(res.okCount / (res.elapsedMs / 1000), 1), granted, committedEntries: committed, busyShards, syncsPerCommit };
}

/** A worker's view of who holds each agent, for the double-grant count (see the header). */
class GrantBook {
  readonly #holder = new Map<string, string>();
  doubleGrants = 0;
  granted(dn: string, id: string): void {
    if (this.#holder.has(dn)) this.doubleGrants++;
    this.#holder.set(dn, id);
  }
  releasing(dn: string, id: string): void {
    if (this.#holder.get(dn) === id) this.#holder.delete(dn);
  }
}

/** Whether a linearizable read finds reservation `id` on `dn` (false when no read answers). */
async function holds(client: ShardClient, shard: string, dn: string, id: string): Promise<boolean> {
  for (let attempt = 0; attempt < 20; attempt++) {
    try {
      const agent = (await client.read(shard, { type: 'agent', dn }, 'linearizable')) as Agent;
      const s = agent.status;
      return (s.state === 'RESERVED' || s.state === 'BUSY') && s.reservation.reservationId === id;
    } catch {
      await sleep(20);
    }
  }
  return false;
}

type Failover = { victim: string; targets: Map<string, number>; summary: Record<string, unknown> };

async function failover(cluster: StoreCluster, f: Flags, log: (line: string) => void): Promise<Failover> {
  const leaders = await cluster.leaders();
  const ledBy = new Map<string, string[]>();
  for (const [shard, st] of leaders) {
    const store = st === null ? null : cluster.storeOf(st.id);
    if (store !== null) ledBy.set(store, [...(ledBy.get(store) ?? []), shard]);
  }
  const [victim, affected] = [...ledBy].reduce((a, b) => (b[1].length > a[1].length ? b : a));
  const busy = new Set(affected.filter((_, i) => i % 2 === 0));
  // Two agents of each affected shard, contended for by two workers.
  const dnsOf = new Map<string, string[]>(affected.map((s) => [s, []]));
  for (let i = 0; i < f.agents && [...dnsOf.values()].some((l) => l.length < 2); i++) {
    const dn = benchDn(i);
    const list = dnsOf.get(cluster.client.shardFor(dn));
    if (list !== undefined && list.length < 2) list.push(dn);
  }
  const client = new ShardClient({ shards: cluster.config.shards, auth: { secret: cluster.config.secret, principal: 'launcher' }, attemptTimeoutMs: FAILOVER_ATTEMPT_TIMEOUT_MS, deadlineMs: FAILOVER_CALL_DEADLINE_MS });
  const book = new GrantBook();
  let killAt = Number.POSITIVE_INFINITY;
  const firstGrantMs = new Map<string, number>();
  let stop = false;
  const worker = async (shard: string, w: number): Promise<void> => {
    const dns = dnsOf.get(shard)!;
    for (let n = 0; !stop && dns.length > 0; n++) {
      const dn = dns[(w + n) % dns.length]!;
      const id = `k${process.pid}-${shard}-${w}-${n}`;
      const sentAt = performance.now();
      let r: ShardResult | null = null;
      try {
        r = await client.command(dn, { type: 'reserve', dn, reservationId: id, callId: id, owner: 'bench', ttlMs: RESERVATION_TTL_MS });
      } catch (err) {
        if (!(err instanceof ShardClientError)) throw err;
        // Outcome unknown: a grant the client never heard of still counts for the double
        // grants, and is released so the agent does not sit out its TTL.
        if (err.maybeApplied && (await holds(client, shard, dn, id))) r = { ok: true } as ShardResult;
      }
      if (r === null || !r.ok) {
        await sleep(r !== null && didNotRun(r) ? 5 : 10);
        continue;
      }
      book.granted(dn, id);
      if (sentAt >= killAt && !firstGrantMs.has(shard)) firstGrantMs.set(shard, performance.now() - killAt);
      book.releasing(dn, id);
      // Until it commits the agent stays RESERVED (denied to the other worker); its TTL
      // frees it if this release is lost with the killed leader.
      await client.command(dn, { type: 'release', dn, reservationId: id, outcome: 'completed' }).catch(() => null);
    }
  };
  const workers: Promise<void>[] = [];
  for (const shard of busy) workers.push(worker(shard, 0), worker(shard, 1));
  await sleep(PRE_KILL_LOAD_MS);
  const quiescedAtKill = await quiesced(cluster, victim).catch(() => null);
  log(`  failover: SIGKILL store ${victim}, leading ${affected.length} of ${leaders.size} shards (${busy.size} busy, ${affected.length - busy.size} idle; store reports ${quiescedAtKill ?? '?'} groups quiesced)`);
  killAt = performance.now();
  await cluster.procs.kill(victim, 'SIGKILL');
  for (const shard of affected) if (!busy.has(shard)) workers.push(worker(shard, 0), worker(shard, 1));
  await waitFor('a grant on every affected shard', FAILOVER_WAIT_MS_MAX, async () => firstGrantMs.size === affected.length).catch(() => 0);
  stop = true;
  await Promise.all(workers);
  client.close();
  const all = [...firstGrantMs.values()];
  const of = (set: (s: string) => boolean): number[] => [...firstGrantMs].filter(([s]) => set(s)).map(([, ms]) => ms);
  const survivors = cluster.stores.map((s) => s.id).filter((id) => id !== victim);
  const targets = await commits(cluster);
  return {
    victim,
    targets,
    summary: {
      victim,
      affectedShards: affected.length,
      recovered: all.length,
      firstGrantMsMedian: round(median(all)),
      firstGrantMsMax: round(Math.max(...all)),
      busyMedianMs: round(median(of((s) => busy.has(s)))),
      idleMedianMs: round(median(of((s) => !busy.has(s)))),
      doubleGrants: book.doubleGrants,
      survivors,
    },
  };
}

async function catchUp(cluster: StoreCluster, victim: string, targets: Map<string, number>): Promise<Record<string, unknown>> {
  const t0 = performance.now();
  await cluster.start(victim);
  const readyMs = Math.round(performance.now() - t0);
  const replicaOf = new Map(cluster.config.shards.map((s) => [s.id, s.replicas.find((r) => r.store === victim)?.id ?? null]));
  let lagging = 0;
  await waitFor(`store ${victim} catching up`, CATCH_UP_MS_MAX, async () => {
    const statuses = await cluster.statuses([victim]);
    lagging = 0;
    for (const [shard, target] of targets) {
      const replica = replicaOf.get(shard);
      const st: RaftStatus | null | undefined = replica == null ? null : statuses.get(replica);
      if (replica != null && (st == null || st.applied < target)) lagging++;
    }
    return lagging === 0;
  });
  return { victim, readyMs, caughtUpMs: Math.round(performance.now() - t0), groups: targets.size };
}
