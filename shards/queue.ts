// The queues of waiting calls a shard owns: one per service number that hashes to this
// shard (shardOf(service), like a DN). Replicated state, changed only by apply(), so a
// queue position survives any leader kill. Pure: time is the entry's time, order is the
// entry's log index, nothing reads a clock.
//
// Serving in global arrival order (DESIGN.md, Queue): the entries of a service are kept in
// the order their `enqueue` entries were applied, which is the cluster's arrival order. A
// SIP node that sees an agent turn READY proposes `claim {service, dn, skills}`; the shard,
// not the node, picks the entry: the oldest one not yet offered an agent whose skill the
// agent has at the entry's level. Two nodes claiming for the same agent get the same entry
// (a live claim on a DN is returned, never doubled), and two agents claimed at once go to
// the first and second entries, whichever nodes asked. The entry's owner (the node holding
// the caller's leg) learns of the claim from the change feed and reserves the agent on the
// agent's own shard as for any call: the reservation still decides exclusivity. If that
// fails, `unclaim` puts the entry back at its place. A claim lapses at its TTL so a dead
// claimer or a slow owner blocks no one for long; a dead owner's entries go with its lease.

import * as limits from './limits.js';
import { shardFailure } from './errors.js';
import type { Command, QueueChangeRecord, QueueClaim, QueueEntry, QueueRemoveReason, ShardResult } from './types.js';

type QueueCommand<T extends 'enqueue' | 'dequeue' | 'claim' | 'unclaim'> = Extract<Command, { type: T }>;

export type QueueOutcome = Readonly<{ result: ShardResult; records: readonly QueueChangeRecord[] }>;

export type QueueLimits = Readonly<{ entriesPerShardMax: number; entriesPerServiceMax: number }>;

const defaultLimits: QueueLimits = { entriesPerShardMax: limits.queueEntriesPerShardMax, entriesPerServiceMax: limits.queueEntriesPerServiceMax };

function claimLive(claim: QueueClaim | null, nowMs: number): claim is QueueClaim {
  return claim !== null && claim.expiresAtMs > nowMs;
}

/** Whether an agent with `skills` can take the entry's call. */
export function canTake(entry: Pick<QueueEntry, 'skill' | 'minLevel'>, skills: Readonly<Record<string, number>>): boolean {
  return Object.hasOwn(skills, entry.skill) && skills[entry.skill]! >= entry.minLevel;
}

function record(index: number, service: string, callId: string, entry: QueueEntry | null, reason: QueueChangeRecord['reason']): QueueChangeRecord {
  return { index, kind: 'queue', service, callId, entry, reason };
}

export class ServiceQueues {
  /** Service number → its entries in arrival (enqueuedIndex) order. No empty arrays. */
  #queues = new Map<string, QueueEntry[]>();
  #size = 0;

  constructor(private readonly limits: QueueLimits = defaultLimits) {}

  get size(): number {
    return this.#size;
  }

  /** `maxLength`: the service's own maxQueueLength (null: only the shard's limits). */
  enqueue(c: QueueCommand<'enqueue'>, index: number, nowMs: number, maxLength: number | null = null): QueueOutcome {
    const queue = this.#queues.get(c.service) ?? [];
    const at = queue.findIndex((e) => e.callId === c.callId);
    if (at >= 0) {
      const existing = queue[at]!;
      if (existing.owner !== c.owner) return { result: shardFailure('SHARD_ERR_QUEUE_OWNER', `call ${c.callId} is queued by ${existing.owner}, not ${c.owner}`), records: [] };
      return { result: { ok: true, type: 'queued', entry: existing, position: at + 1 }, records: [] };
    }
    if (maxLength !== null && queue.length >= maxLength) return { result: shardFailure('SHARD_ERR_QUEUE_FULL', `service ${c.service} already has its maxQueueLength of ${maxLength} waiting calls`), records: [] };
    if (queue.length >= this.limits.entriesPerServiceMax) return { result: shardFailure('SHARD_ERR_QUEUE_FULL', `service ${c.service} already has ${this.limits.entriesPerServiceMax} waiting calls`), records: [] };
    if (this.#size >= this.limits.entriesPerShardMax) return { result: shardFailure('SHARD_ERR_QUEUE_FULL', `shard already holds ${this.limits.entriesPerShardMax} waiting calls`), records: [] };
    const entry: QueueEntry = { service: c.service, callId: c.callId, owner: c.owner, skill: c.skill, minLevel: c.minLevel, enqueuedIndex: index, enqueuedAtMs: nowMs, claim: null, passed: [] };
    queue.push(entry);
    this.#queues.set(c.service, queue);
    this.#size++;
    return { result: { ok: true, type: 'queued', entry, position: queue.length }, records: [record(index, c.service, c.callId, entry, 'enqueued')] };
  }

  dequeue(c: QueueCommand<'dequeue'>, index: number): QueueOutcome {
    const queue = this.#queues.get(c.service);
    const at = queue === undefined ? -1 : queue.findIndex((e) => e.callId === c.callId);
    const none: QueueOutcome = { result: { ok: true, type: 'dequeued', service: c.service, callId: c.callId, removed: false }, records: [] };
    if (at < 0) return none;
    const entry = queue![at]!;
    if (entry.owner !== c.owner) return { result: shardFailure('SHARD_ERR_QUEUE_OWNER', `call ${c.callId} is queued by ${entry.owner}, not ${c.owner}`), records: [] };
    this.#removeAt(c.service, queue!, at);
    return { result: { ok: true, type: 'dequeued', service: c.service, callId: c.callId, removed: true }, records: [record(index, c.service, c.callId, null, c.reason)] };
  }

  claim(c: QueueCommand<'claim'>, index: number, nowMs: number): QueueOutcome {
    const queue = this.#queues.get(c.service) ?? [];
    const held = queue.find((e) => claimLive(e.claim, nowMs) && e.claim.dn === c.dn);
    if (held !== undefined) return { result: { ok: true, type: 'claimed', service: c.service, entry: held }, records: [] };
    const at = queue.findIndex((e) => !claimLive(e.claim, nowMs) && canTake(e, c.skills) && !e.passed.includes(c.dn));
    if (at < 0) return { result: { ok: true, type: 'claimed', service: c.service, entry: null }, records: [] };
    const claim: QueueClaim = { dn: c.dn, claimer: c.claimer, claimedAtMs: nowMs, expiresAtMs: nowMs + c.ttlMs };
    const entry: QueueEntry = { ...queue[at]!, claim };
    queue[at] = entry;
    return { result: { ok: true, type: 'claimed', service: c.service, entry }, records: [record(index, c.service, entry.callId, entry, 'claimed')] };
  }

  unclaim(c: QueueCommand<'unclaim'>, index: number): QueueOutcome {
    const queue = this.#queues.get(c.service);
    const at = queue === undefined ? -1 : queue.findIndex((e) => e.callId === c.callId);
    const unchanged: QueueOutcome = { result: { ok: true, type: 'unclaimed', service: c.service, callId: c.callId, changed: false }, records: [] };
    if (at < 0) return unchanged;
    const current = queue![at]!;
    if (current.owner !== c.owner) return { result: shardFailure('SHARD_ERR_QUEUE_OWNER', `call ${c.callId} is queued by ${current.owner}, not ${c.owner}`), records: [] };
    if (current.claim === null || current.claim.dn !== c.dn) return unchanged;
    const passed = c.pass && !current.passed.includes(c.dn) ? [...current.passed, c.dn].slice(-limits.queuePassedDnsMax) : current.passed;
    const entry: QueueEntry = { ...current, claim: null, passed };
    queue![at] = entry;
    return { result: { ok: true, type: 'unclaimed', service: c.service, callId: c.callId, changed: true }, records: [record(index, c.service, c.callId, entry, 'unclaimed')] };
  }

  /** Removes every entry `owner` holds (its lease expired, or it restarted), services in
   * sorted order so the records come out the same on every replica. */
  removeOwner(owner: string, reason: QueueRemoveReason, index: number): { removed: { service: string; callId: string }[]; records: QueueChangeRecord[] } {
    const removed: { service: string; callId: string }[] = [];
    const records: QueueChangeRecord[] = [];
    for (const service of [...this.#queues.keys()].sort()) {
      const queue = this.#queues.get(service)!;
      const gone = queue.filter((e) => e.owner === owner);
      if (gone.length === 0) continue;
      const kept = queue.filter((e) => e.owner !== owner);
      this.#size -= gone.length;
      if (kept.length === 0) this.#queues.delete(service);
      else this.#queues.set(service, kept);
      for (const e of gone) removed.push({ service, callId: e.callId });
    }
    for (const r of removed) records.push(record(index, r.service, r.callId, null, reason));
    return { removed, records };
  }

  #removeAt(service: string, queue: QueueEntry[], at: number): void {
    queue.splice(at, 1);
    this.#size--;
    if (queue.length === 0) this.#queues.delete(service);
  }

  /** Every entry: services sorted, each in arrival order (snapshot and reads). */
  entries(service?: string): QueueEntry[] {
    if (service !== undefined) return [...(this.#queues.get(service) ?? [])];
    return [...this.#queues.keys()].sort().flatMap((s) => this.#queues.get(s)!);
  }

  /** Rebuilds from entries() of any replica. Throws on a broken invariant (a bug). */
  static fromEntries(entries: readonly QueueEntry[], queueLimits: QueueLimits = defaultLimits): ServiceQueues {
    const q = new ServiceQueues(queueLimits);
    for (const e of entries) {
      if (typeof e.service !== 'string' || typeof e.callId !== 'string' || !Number.isSafeInteger(e.enqueuedIndex)) throw new Error('snapshot queue entry is malformed');
      const queue = q.#queues.get(e.service) ?? [];
      const last = queue[queue.length - 1];
      if (last !== undefined && !(last.enqueuedIndex < e.enqueuedIndex)) throw new Error(`snapshot queue ${e.service} is not in arrival order`);
      if (queue.some((x) => x.callId === e.callId)) throw new Error(`snapshot queue ${e.service} holds call ${e.callId} twice`);
      queue.push(e);
      q.#queues.set(e.service, queue);
      q.#size++;
    }
    return q;
  }
}
