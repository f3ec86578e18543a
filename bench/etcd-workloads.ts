// Workloads that drive the etcd reference the way ANCHORS.md describes, with the `etcd3`
// client's own retry and circuit-breaker policies turned off (a failed call fails; the
// workload decides what to do):
//  (a) CAS writes of 64-byte values at concurrency C (the `bench raft` counterpart);
//  (b) agent reservations as transactions over 10,000 `agent/<n>` keys, with an error
//      meaning "outcome unknown", settled by reading the key; optionally with a confirm
//      transaction between grant and release, so that a cycle is the same three state
//      changes as Ringfence's reserve → confirm → release;
//  (c) failover: steady reservation load at concurrency 16, SIGKILL the leader, time
//      kill → first successful write, restart the member, repeat.

import { performance } from 'node:perf_hooks';
import { Etcd3 } from 'etcd3';
import { noop } from 'cockatiel';
import { runClosedLoop, type ClosedLoopResult, type OpOutcome } from './closed-loop.js';
import type { EtcdCluster } from './etcd-cluster.js';
import { median } from './stats.js';

export const AGENT_KEY_PREFIX = 'agent/';
export const AGENT_FREE = 'free';
/** etcd's default --max-txn-ops is 128. */
const SEED_PUTS_PER_TXN = 100;
/** How long past the end of a run an unknown outcome may still be settled. */
const SETTLE_AFTER_END_MS = 5_000;

export type EtcdClientOptions = Readonly<{
  /** Per-call gRPC deadline; none when omitted. */
  deadlineMs?: number;
}>;

/** An etcd3 client over `hosts` (host:port) with no retries and no circuit breaker. */
export function createEtcdClient(hosts: readonly string[], opts: EtcdClientOptions = {}): Etcd3 {
  const deadlineMs = opts.deadlineMs;
  return new Etcd3({
    hosts: hosts.map((h) => `http://${h}`),
    faultHandling: { host: () => noop, global: noop },
    ...(deadlineMs !== undefined
      ? { defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + deadlineMs }) }
      : {}),
  });
}

// ---------------------------------------------------------------- (a) CAS writes

export type CasLoadOptions = Readonly<{
  concurrency: number;
  durationMs: number;
  valueBytes?: number;
  keyPrefix?: string;
}>;

/** Each worker owns one key and replaces its value with a fresh `valueBytes`-long value
 * in a transaction that compares the previous value (a compare-and-swap that always
 * matches unless something else wrote the key). A non-matching CAS counts as 'fail'. */
export async function runEtcdCasLoad(client: Etcd3, opts: CasLoadOptions): Promise<ClosedLoopResult> {
  const valueBytes = opts.valueBytes ?? 64;
  const prefix = opts.keyPrefix ?? `bench/cas/${Date.now()}/`;
  const last: string[] = [];
  for (let w = 0; w < opts.concurrency; w++) {
    last[w] = fixedValue(`w${w}-init`, valueBytes);
    await client.put(prefix + w).value(last[w]!);
  }
  return runClosedLoop({
    concurrency: opts.concurrency,
    durationMs: opts.durationMs,
    op: async (w, seq): Promise<OpOutcome> => {
      const key = prefix + w;
      const next = fixedValue(`w${w}-${seq}`, valueBytes);
      const res = await client.if(key, 'Value', '==', last[w]!).then(client.put(key).value(next)).commit();
      if (!res.succeeded) return 'fail';
      last[w] = next;
      return 'ok';
    },
  });
}

/** `tag` padded with '.' to exactly `bytes` characters (ASCII, so bytes = characters). */
export function fixedValue(tag: string, bytes: number): string {
  return tag.length >= bytes ? tag.slice(0, bytes) : tag + '.'.repeat(bytes - tag.length);
}

// ---------------------------------------------------------------- (b) reservations

export type ReserveOutcome = 'granted' | 'denied' | 'unknown';

export function agentKey(n: number): string {
  return AGENT_KEY_PREFIX + n;
}

export function reservationValue(reservationId: string): string {
  return `reserved:${reservationId}`;
}

export function busyValue(reservationId: string): string {
  return `busy:${reservationId}`;
}

/** Puts `free` into agent/0 … agent/<count-1>, in transactions of 100 puts. */
export async function seedAgents(client: Etcd3, count: number): Promise<void> {
  for (let start = 0; start < count; start += SEED_PUTS_PER_TXN) {
    const ops = [];
    for (let n = start; n < Math.min(count, start + SEED_PUTS_PER_TXN); n++) ops.push(client.put(agentKey(n)).value(AGENT_FREE));
    // The compare is a formality (a txn needs one): both branches do the same puts.
    await client.if(agentKey(start), 'Mod', '>', -1).then(...ops).else(...ops).commit();
  }
}

/** One reservation attempt: txn if agent/<n> == 'free' then put 'reserved:<id>'.
 * An error (timeout, unavailable) is 'unknown': the write may still commit. */
export async function reserveAgent(client: Etcd3, n: number, reservationId: string): Promise<ReserveOutcome> {
  try {
    const key = agentKey(n);
    const res = await client
      .if(key, 'Value', '==', AGENT_FREE)
      .then(client.put(key).value(reservationValue(reservationId)))
      .commit();
    return res.succeeded ? 'granted' : 'denied';
  } catch {
    return 'unknown';
  }
}

/** Confirm (the call was answered): txn if agent/<n> == 'reserved:<id>' then put
 * 'busy:<id>', the counterpart of the shard's `confirm`. 'unknown' on an error. */
export async function confirmAgent(client: Etcd3, n: number, reservationId: string): Promise<'confirmed' | 'lost' | 'unknown'> {
  try {
    const key = agentKey(n);
    const res = await client.if(key, 'Value', '==', reservationValue(reservationId)).then(client.put(key).value(busyValue(reservationId))).commit();
    return res.succeeded ? 'confirmed' : 'lost';
  } catch {
    return 'unknown';
  }
}

/** Release: put 'free' only if the key still holds this reservation (as reserved, or as
 * busy once confirmed). True when the key no longer holds it afterwards (released now or
 * before); false on an error. */
export async function releaseAgent(client: Etcd3, n: number, reservationId: string, held: 'reserved' | 'busy' = 'reserved'): Promise<boolean> {
  try {
    const key = agentKey(n);
    const value = held === 'busy' ? busyValue(reservationId) : reservationValue(reservationId);
    await client.if(key, 'Value', '==', value).then(client.put(key).value(AGENT_FREE)).commit();
    return true;
  } catch {
    return false;
  }
}

/** Settles an unknown outcome by a (linearizable) read: granted iff the key holds this
 * reservation. Null if the read itself failed. */
export async function settleReservation(client: Etcd3, n: number, reservationId: string): Promise<boolean | null> {
  try {
    const v = await client.get(agentKey(n)).string();
    return v === reservationValue(reservationId);
  } catch {
    return null;
  }
}

export type ReservationLoadOptions = Readonly<{
  concurrency: number;
  durationMs: number;
  agents: number;
  /** Pause after an error before retrying (10 ms in ANCHORS.md). */
  retryPauseMs?: number;
  /** Confirm each grant before releasing it (reserve → confirm → release, three
   * transactions, as `bench reserve` runs Ringfence); otherwise reserve → release. */
  confirm?: boolean;
  /** Called with the time of every successful write response (reserve or release). */
  onWriteOk?: (atMs: number, sentAtMs: number) => void;
  /** Stops the load early when it returns true (checked between operations). */
  shouldStop?: () => boolean;
}>;

/** What a reservation load reports, for etcd and for Ringfence (failover-load.ts). */
export type ReservationCounts = Readonly<{
  /** Reservations granted (including unknown outcomes settled as granted). */
  granted: number;
  denied: number;
  /** Reserve calls whose outcome the client could not know (settled by a read). */
  unknown: number;
  /** Grants observed while another grant of the same agent was certainly active. */
  doubleGrants: number;
  elapsedMs: number;
}>;

export type ReservationLoadResult = ReservationCounts & Readonly<{
  /** Latency of reserve calls that answered granted, in ms. */
  reserveLatenciesMs: number[];
}>;

/**
 * Workers reserve a random agent and release it again, back to back. A grant is certainly
 * active from its response until its release is sent, so a second grant of the same agent
 * observed inside that window is a double grant (no false positives).
 */
export async function runEtcdReservationLoad(client: Etcd3, opts: ReservationLoadOptions): Promise<ReservationLoadResult> {
  const holder = new Map<number, string>();
  const retryPauseMs = opts.retryPauseMs ?? 10;
  let granted = 0;
  let denied = 0;
  let unknown = 0;
  let doubleGrants = 0;
  let nextId = 0;
  const pause = (): Promise<void> => new Promise((r) => setTimeout(r, retryPauseMs));
  const noteGrant = (n: number, id: string): void => {
    granted++;
    if (holder.has(n)) doubleGrants++;
    holder.set(n, id);
  };
  // A released (or never granted) agent must leave our books before the release is sent.
  const releaseHeld = async (n: number, id: string, held: 'reserved' | 'busy'): Promise<void> => {
    if (holder.get(n) === id) holder.delete(n);
    for (let attempt = 0; attempt < 1000 && !opts.shouldStop?.(); attempt++) {
      const sentAt = performance.now();
      if (await releaseAgent(client, n, id, held)) {
        opts.onWriteOk?.(performance.now(), sentAt);
        return;
      }
      await pause();
    }
  };
  const release = async (n: number, id: string): Promise<void> => {
    if (!opts.confirm) return releaseHeld(n, id, 'reserved');
    const sentAt = performance.now();
    const confirmed = await confirmAgent(client, n, id);
    if (confirmed === 'confirmed') opts.onWriteOk?.(performance.now(), sentAt);
    // An unknown confirm may have committed either way: release both forms (each a CAS).
    if (confirmed !== 'lost') await releaseHeld(n, id, 'busy');
    if (confirmed !== 'confirmed') await releaseHeld(n, id, 'reserved');
  };

  const t0 = performance.now();
  const endAt = t0 + opts.durationMs;
  const latencies: number[] = [];
  const result: ClosedLoopResult = await runClosedLoop({
    concurrency: opts.concurrency,
    durationMs: opts.durationMs,
    shouldStop: opts.shouldStop,
    op: async (w): Promise<OpOutcome> => {
      const n = Math.floor(Math.random() * opts.agents);
      const id = `${process.pid}-${w}-${nextId++}`;
      const sentAt = performance.now();
      const outcome = await reserveAgent(client, n, id);
      const at = performance.now();
      if (outcome === 'denied') {
        denied++;
        opts.onWriteOk?.(at, sentAt);
        return 'fail';
      }
      if (outcome === 'granted') {
        opts.onWriteOk?.(at, sentAt);
        latencies.push(at - sentAt);
        noteGrant(n, id);
        await release(n, id);
        return 'ok';
      }
      unknown++;
      await pause();
      // Outcome unknown: settle by reading until a read answers (bounded past the run's end).
      let settled = await settleReservation(client, n, id);
      while (settled === null && performance.now() < endAt + SETTLE_AFTER_END_MS && !opts.shouldStop?.()) {
        await pause();
        settled = await settleReservation(client, n, id);
      }
      if (settled === true) {
        noteGrant(n, id);
        await release(n, id);
      }
      return 'error';
    },
  });
  return {
    granted,
    denied,
    unknown,
    doubleGrants,
    elapsedMs: result.elapsedMs,
    reserveLatenciesMs: latencies,
  };
}

// ---------------------------------------------------------------- (c) failover

export type FailoverOptions = Readonly<{
  rounds: number;
  concurrency?: number;
  agents?: number;
  /** Per-request deadline (250 ms in ANCHORS.md) and pause after an error (10 ms). */
  deadlineMs?: number;
  retryPauseMs?: number;
  /** Load before each kill so the cluster is in steady state. */
  steadyMs?: number;
  /** Give up a round if no write succeeds within this long after the kill. */
  roundTimeoutMs?: number;
  log?: (line: string) => void;
}>;

export type FailoverResult = Readonly<{
  /** kill → first successful write (sent after the kill), per round, in ms; NaN = none. */
  recoveryMs: number[];
  medianMs: number;
  granted: number;
  doubleGrants: number;
  unknown: number;
}>;

/** Runs the failover measurement against a started cluster (agents are seeded here). The
 * killed member is restarted and the cluster waited healthy before the next round. */
export async function measureEtcdFailover(cluster: EtcdCluster, opts: FailoverOptions): Promise<FailoverResult> {
  const agents = opts.agents ?? 10_000;
  const steadyMs = opts.steadyMs ?? 2_000;
  const roundTimeoutMs = opts.roundTimeoutMs ?? 15_000;
  const log = opts.log ?? (() => {});
  const client = createEtcdClient(cluster.clientHosts, { deadlineMs: opts.deadlineMs ?? 250 });
  const recoveryMs: number[] = [];
  let stop = false;
  let killedAt: number | null = null;
  let firstOkAt: number | null = null;
  let load: Promise<ReservationLoadResult> | null = null;
  try {
    await seedAgents(client, agents);
    load = runEtcdReservationLoad(client, {
      concurrency: opts.concurrency ?? 16,
      durationMs: (steadyMs + roundTimeoutMs + 30_000) * opts.rounds,
      agents,
      retryPauseMs: opts.retryPauseMs ?? 10,
      shouldStop: () => stop,
      onWriteOk: (at, sentAt) => {
        if (killedAt !== null && firstOkAt === null && sentAt >= killedAt) firstOkAt = at;
      },
    });
    for (let round = 0; round < opts.rounds; round++) {
      await new Promise((r) => setTimeout(r, steadyMs));
      const leader = await cluster.leader();
      if (!leader) throw new Error('no etcd leader before the kill');
      firstOkAt = null;
      killedAt = performance.now();
      await cluster.killMember(leader, 'SIGKILL');
      while (firstOkAt === null && performance.now() - killedAt < roundTimeoutMs) await new Promise((r) => setTimeout(r, 5));
      const ms = firstOkAt === null ? Number.NaN : firstOkAt - killedAt;
      recoveryMs.push(ms);
      log(`etcd failover round ${round + 1}: killed ${leader.name}, first write after ${ms.toFixed(0)} ms`);
      killedAt = null;
      await cluster.startMember(leader);
      await cluster.waitHealthy();
    }
    stop = true;
    const res = await load;
    return {
      recoveryMs,
      medianMs: median(recoveryMs.filter((x) => Number.isFinite(x))),
      granted: res.granted,
      doubleGrants: res.doubleGrants,
      unknown: res.unknown,
    };
  } finally {
    stop = true;
    await load?.catch(() => undefined);
    client.close();
  }
}
