// This node's view of the cluster-wide queues (DESIGN.md, Queue): every service's waiting
// calls, whichever node holds their legs, kept from the shards' change feeds by
// agent-feed.ts. The queues themselves are replicated shard state (shards/queue.ts); this
// view only tells the node when to propose a claim (an agent READY while an entry it can
// take waits unclaimed), and when one of its own entries was claimed. A stale view costs a
// claim that finds nothing, never an order inversion: the shard picks the entry.
//
// Records from one shard arrive in index order but a page may repeat some (the follower
// moved to another replica) and a re-read (after a truncated page) may cross pages, so
// each entry keeps the index it was last changed at, and removals leave a bounded
// tombstone. Pure: no sockets, no timers.

import type { Agent, QueueChangeRecord, QueueEntry } from '../../shards/types.js';
import { canTake } from '../../shards/queue.js';
import { queueViewTombstonesMax } from './limits.js';

type Held = { entry: QueueEntry; index: number; shardId: string };

const keyOf = (service: string, callId: string): string => `${service}\u0000${callId}`;

export class QueueView {
  readonly #held = new Map<string, Held>();
  /** key → index of the record that removed it. */
  readonly #removed = new Map<string, number>();

  get size(): number {
    return this.#held.size;
  }

  /** Applies a feed record; returns the entry as it now is (null: removed), or undefined
   * when the record was older than what the view holds. */
  apply(shardId: string, rec: QueueChangeRecord): QueueEntry | null | undefined {
    const key = keyOf(rec.service, rec.callId);
    const held = this.#held.get(key);
    if (held !== undefined && held.index >= rec.index) return undefined;
    if ((this.#removed.get(key) ?? -1) >= rec.index) return undefined;
    if (rec.entry === null) {
      this.#held.delete(key);
      this.#tombstone(key, rec.index);
      return null;
    }
    this.#held.set(key, { entry: rec.entry, index: rec.index, shardId });
    return rec.entry;
  }

  /** Replaces what the view holds from `shardId` with a full read made at `appliedIndex`;
   * records newer than the read are kept. */
  resync(shardId: string, entries: readonly QueueEntry[], appliedIndex: number): void {
    const read = new Set(entries.map((e) => keyOf(e.service, e.callId)));
    for (const [key, held] of this.#held) {
      if (held.shardId === shardId && held.index <= appliedIndex && !read.has(key)) this.#held.delete(key);
    }
    for (const entry of entries) {
      const key = keyOf(entry.service, entry.callId);
      const held = this.#held.get(key);
      if ((held !== undefined && held.index > appliedIndex) || (this.#removed.get(key) ?? -1) > appliedIndex) continue;
      this.#held.set(key, { entry, index: appliedIndex, shardId });
    }
  }

  /** The waiting calls of `service` in arrival order. */
  waiting(service: string): QueueEntry[] {
    const out: QueueEntry[] = [];
    for (const { entry } of this.#held.values()) if (entry.service === service) out.push(entry);
    return out.sort((a, b) => a.enqueuedIndex - b.enqueuedIndex);
  }

  /** Whether `dn` holds a live claim on some entry. */
  claimHeldBy(dn: string, nowMs: number): boolean {
    for (const { entry } of this.#held.values()) if (entry.claim !== null && entry.claim.dn === dn && entry.claim.expiresAtMs > nowMs) return true;
    return false;
  }

  /**
   * The service to claim the agent for: among the services with an entry it could take,
   * the highest `priorityOf` (the services' definitions), then the one whose oldest such
   * entry waits longest (entries of different services are compared by their
   * leader-stamped enqueue times), or null. Within a service the shard's log order
   * decides; across services this is the best a node can tell.
   */
  serviceToClaim(agent: Agent, nowMs: number, priorityOf: (service: string) => number = () => 0): string | null {
    let best: QueueEntry | null = null;
    let bestPriority = 0;
    for (const { entry } of this.#held.values()) {
      if (entry.claim !== null && entry.claim.expiresAtMs > nowMs) continue;
      if (!canTake(entry, agent.skills) || entry.passed.includes(agent.dn)) continue;
      const priority = priorityOf(entry.service);
      const older = best !== null && (entry.enqueuedAtMs < best.enqueuedAtMs || (entry.enqueuedAtMs === best.enqueuedAtMs && entry.enqueuedIndex < best.enqueuedIndex));
      if (best === null || priority > bestPriority || (priority === bestPriority && older)) {
        best = entry;
        bestPriority = priority;
      }
    }
    return best === null ? null : best.service;
  }

  /** Whether any entry waits unclaimed (a claim pass could serve it). */
  hasUnclaimed(nowMs: number): boolean {
    for (const { entry } of this.#held.values()) if (entry.claim === null || entry.claim.expiresAtMs <= nowMs) return true;
    return false;
  }

  #tombstone(key: string, index: number): void {
    this.#removed.delete(key);
    this.#removed.set(key, index);
    // Oldest first (Map order is insertion order): a record older than the tombstones
    // kept is long settled by the records that followed it.
    if (this.#removed.size > queueViewTombstonesMax) this.#removed.delete(this.#removed.keys().next().value!);
  }
}
