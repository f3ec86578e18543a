// This node's calls in the cluster-wide queues, and its part in serving those queues
// (DESIGN.md, Queue; shards/queue.ts has the rules). A call that finds no agent joins its
// service's queue on the shard owning the service (`enqueue`, owner = this node, so the
// node's lease removes it if the node dies). The node then only waits: when the queue's
// shard claims an agent for the entry — whichever node proposed the claim — the change
// feed says so and the B2BUA reserves that agent (onClaimed). A failed attempt puts the
// entry back at its place (`unclaim`); the call leaving for good removes it (`dequeue`).
//
// Serving: every node that sees a READY agent with a phone, while an entry it could take
// waits unclaimed, proposes `claim {service, dn, skills}`. The shard gives the agent to
// the oldest eligible entry, so nodes never invert the order between them, and a repeated
// claim for the same agent returns the same entry. A stale view only costs a claim that
// finds nothing, or a reserve the agent's shard denies (then `unclaim`).

import type { Logger } from '../../common/logger.js';
import type { ShardClient } from '../../shards/client/shard-client.js';
import type { Agent, QueueChangeRecord, QueueEntry, QueueRemoveReason } from '../../shards/types.js';
import type { TimerService } from '../transport/index.js';
import type { WallClock } from './clock.js';
import * as limits from './limits.js';
import type { QueueView } from './queue.js';
import type { AgentView } from './router.js';

/** One of this node's calls with an entry in a cluster queue. */
type Seat = {
  key: string;
  service: string;
  skill: string;
  minLevel: number;
  /** The entry's callId in the queue: unique per node and call. */
  entryId: string;
  /** The agent the call is being offered under a claim (null: waiting). */
  serving: string | null;
  /** Monotonic time the call joined (for the admin list). */
  joinedAtMs: number;
};

export type JoinResult = 'queued' | 'full' | 'error' | 'left';

export type QueuedCallsOptions = Readonly<{
  nodeId: string;
  shards: Pick<ShardClient, 'command'>;
  view: AgentView;
  queues: QueueView;
  log: Logger;
  now: WallClock;
  /** Monotonic time and timers (the B2BUA's). */
  timers: TimerService;
  /** How long a claim for an entry of `service` holds: its ring timeout and a margin. */
  claimTtlMs: (service: string) => number;
  /** Priority between services (their definitions): a READY agent is claimed for the
   * higher-priority service's callers first. */
  priorityOf?: (service: string) => number;
  /** The service's strategy as an order of agents: when several are READY at once, the
   * first ranked is claimed first (the shard gives the oldest entry to the first claim). */
  agentOrder?: (service: string) => (a: Agent, b: Agent) => number;
  /** The shard claimed `dn` for the call `key`; false if the call cannot take it now. */
  onClaimed: (key: string, dn: string) => boolean;
  /** The call's entry was removed by the shard (this node's lease ran out there). */
  onEntryLost: (key: string) => void;
}>;

export class QueuedCalls {
  private readonly seats = new Map<string, Seat>();
  private readonly byEntryId = new Map<string, Seat>();
  private readonly claiming = new Set<string>();
  private servePending = false;
  private closed = false;

  constructor(private readonly o: QueuedCallsOptions) {}

  get size(): number {
    return this.seats.size;
  }

  has(key: string): boolean {
    return this.seats.has(key);
  }

  /** The agent the call is being offered under its claim, if any. */
  servingOf(key: string): string | null {
    return this.seats.get(key)?.serving ?? null;
  }

  /** Whether calls of `service` wait anywhere in the cluster (as far as the view knows): a
   * new call then joins the queue instead of taking an agent ahead of them. */
  waiting(service: string): boolean {
    return this.o.queues.waiting(service).length > 0;
  }

  list(): { key: string; skill: string; waitedMs: number }[] {
    const now = this.o.timers.now();
    return [...this.seats.values()].map((s) => ({ key: s.key, skill: s.skill, waitedMs: Math.round(now - s.joinedAtMs) }));
  }

  /**
   * Puts the call in its service's queue (once: a call already in it keeps its place; the
   * agent it was being offered, if any, is given back first, and remembered as passed when
   * its phone was offered the call). Resolves when the shard has committed the entry.
   */
  async join(call: Readonly<{ key: string; service: Readonly<{ number: string; skill: string; minLevel: number }> }>, offered: ReadonlySet<string>): Promise<JoinResult> {
    const existing = this.seats.get(call.key);
    if (existing !== undefined) {
      if (existing.serving !== null) {
        const dn = existing.serving;
        existing.serving = null;
        this.unclaim(existing, dn, offered.has(dn));
      }
      this.scheduleServe();
      return 'queued';
    }
    if (this.seats.size >= limits.queueLengthMax) return 'full';
    const seat: Seat = {
      key: call.key, service: call.service.number, skill: call.service.skill, minLevel: call.service.minLevel,
      entryId: `${this.o.nodeId}/${call.key}`.slice(0, 256), serving: null, joinedAtMs: this.o.timers.now(),
    };
    this.seats.set(call.key, seat);
    this.byEntryId.set(seat.entryId, seat);
    let result;
    try {
      result = await this.o.shards.command(seat.service, { type: 'enqueue', service: seat.service, callId: seat.entryId, owner: this.o.nodeId, skill: seat.skill, minLevel: seat.minLevel }, { deadlineMs: limits.shardCommandDeadlineMs });
    } catch (err) {
      this.o.log.warn('enqueue failed', { service: seat.service, error: (err as Error).message });
      // It may have been applied: take it out again rather than leave it to be claimed.
      this.forget(seat);
      this.dequeue(seat, 'failed');
      return 'error';
    }
    if (this.seats.get(call.key) !== seat) {
      // The call ended while the entry was committing; leave() found nothing to remove yet.
      this.dequeue(seat, 'abandoned');
      return 'left';
    }
    if (!result.ok) {
      this.forget(seat);
      if (result.code !== 'SHARD_ERR_QUEUE_FULL') this.o.log.warn('enqueue refused', { service: seat.service, code: result.code, reason: result.reason });
      return result.code === 'SHARD_ERR_QUEUE_FULL' ? 'full' : 'error';
    }
    this.scheduleServe();
    return 'queued';
  }

  /** The call left the queue for good (answered, hung up, timed out, failed). */
  leave(key: string, reason: QueueRemoveReason): boolean {
    const seat = this.seats.get(key);
    if (seat === undefined) return false;
    this.forget(seat);
    this.dequeue(seat, reason);
    return true;
  }

  /** Calls whose queue lives on a shard `isOnShard` says (this node's lease there ran out). */
  keysWhere(isOnShard: (service: string) => boolean): string[] {
    return [...this.seats.values()].filter((s) => isOnShard(s.service)).map((s) => s.key);
  }

  /** A queue entry changed (change feed) or was re-read (`rec` null). */
  onQueueChange(entry: QueueEntry | null, rec: QueueChangeRecord | null): void {
    if (entry === null) {
      const seat = rec === null ? undefined : this.byEntryId.get(rec.callId);
      if (seat !== undefined && (rec!.reason === 'lease-expired' || rec!.reason === 'owner-restarted')) {
        this.forget(seat);
        this.o.onEntryLost(seat.key);
      }
      return;
    }
    const live = entry.claim !== null && entry.claim.expiresAtMs > this.o.now();
    if (!live) this.scheduleServe();
    if (entry.owner !== this.o.nodeId || !live) return;
    const seat = this.byEntryId.get(entry.callId);
    // (A seat of another service: the call overflowed and its old entry is on its way out.)
    if (seat === undefined || seat.service !== entry.service) {
      // Ours but no call holds it (its removal was lost): an agent is claimed for nobody.
      this.dequeue({ service: entry.service, entryId: entry.callId }, 'failed');
      return;
    }
    const dn = entry.claim!.dn;
    if (seat.serving !== null) {
      // A second agent while the first is being offered (the first claim lapsed): give it back.
      if (seat.serving !== dn) this.unclaim(seat, dn, false);
      return;
    }
    seat.serving = dn;
    if (!this.o.onClaimed(seat.key, dn)) {
      seat.serving = null;
      this.unclaim(seat, dn, false);
    }
  }

  /** An agent changed: if READY with a phone and an entry could take it, claim it. */
  onAgent(agent: Agent): void {
    if (this.closed || agent.status.state !== 'READY' || this.o.queues.size === 0 || this.claiming.has(agent.dn)) return;
    const now = this.o.now();
    if (!agent.contacts.some((c) => c.expiresAtMs > now) || this.o.queues.claimHeldBy(agent.dn, now)) return;
    const service = this.o.queues.serviceToClaim(agent, now, this.o.priorityOf);
    if (service === null) return;
    this.claiming.add(agent.dn);
    this.o.shards.command(service, { type: 'claim', service, dn: agent.dn, skills: agent.skills, claimer: this.o.nodeId, ttlMs: this.o.claimTtlMs(service) }, { deadlineMs: limits.shardCommandDeadlineMs }).then(
      (r) => {
        if (!r.ok) this.o.log.warn('claim refused', { service, dn: agent.dn, code: r.code, reason: r.reason });
      },
      (err) => this.o.log.debug('claim failed', { service, dn: agent.dn, error: (err as Error).message }),
    ).finally(() => this.claiming.delete(agent.dn));
  }

  /** A claim pass over every agent in the view (coalesced to one per event-loop turn). */
  scheduleServe(): void {
    if (this.servePending || this.closed) return;
    this.servePending = true;
    this.o.timers.setTimer(0, () => {
      this.servePending = false;
      this.serveAll();
    });
  }

  serveAll(): void {
    const now = this.o.now();
    if (this.o.queues.size === 0 || !this.o.queues.hasUnclaimed(now)) return;
    const byService = new Map<string, Agent[]>();
    for (const agent of this.o.view.values()) {
      if (agent.status.state !== 'READY') continue;
      const service = this.o.queues.serviceToClaim(agent, now, this.o.priorityOf);
      if (service === null) continue;
      const agents = byService.get(service) ?? [];
      agents.push(agent);
      byService.set(service, agents);
    }
    for (const [service, agents] of byService) {
      const order = this.o.agentOrder?.(service);
      if (order !== undefined) agents.sort(order);
      for (const agent of agents) this.onAgent(agent);
    }
  }

  close(): void {
    this.closed = true;
  }

  private forget(seat: Seat): void {
    if (this.seats.get(seat.key) === seat) this.seats.delete(seat.key);
    if (this.byEntryId.get(seat.entryId) === seat) this.byEntryId.delete(seat.entryId);
  }

  private unclaim(seat: Pick<Seat, 'service' | 'entryId'>, dn: string, pass: boolean): void {
    this.o.shards.command(seat.service, { type: 'unclaim', service: seat.service, callId: seat.entryId, owner: this.o.nodeId, dn, pass }, { deadlineMs: limits.shardCommandDeadlineMs }).then(
      () => this.scheduleServe(),
      (err) => this.o.log.debug('unclaim failed; the claim lapses at its TTL', { dn, error: (err as Error).message }),
    );
  }

  /** Removes the entry, retried a few times: a left-over entry would have agents claimed
   * for a call that is gone (each claim lapses at its TTL; the node also removes such an
   * entry when it sees it claimed). */
  private dequeue(seat: Pick<Seat, 'service' | 'entryId'>, reason: QueueRemoveReason, attempt = 1): void {
    this.o.shards.command(seat.service, { type: 'dequeue', service: seat.service, callId: seat.entryId, owner: this.o.nodeId, reason }, { deadlineMs: limits.shardCommandDeadlineMs }).then(
      () => {},
      (err) => {
        if (this.closed || attempt >= limits.dequeueAttemptsMax) return this.o.log.warn('dequeue failed', { service: seat.service, error: (err as Error).message });
        this.o.timers.setTimer(limits.dequeueRetryMs * attempt, () => this.dequeue(seat, reason, attempt + 1));
      },
    );
  }
}
