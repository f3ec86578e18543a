// The leader's judgement of which SIP nodes' leases ran out. A lease runs out when its
// owner has not renewed for its `ttlMs`, measured on THIS replica's monotonic clock from
// the moment it first saw the renewal applied, never from the leader-stamped wall time in
// the entry: a wall clock stepped back would freeze expiry, stepped forward would expire
// every lease at once. A replica that becomes leader gives every lease a full TTL from
// then (it cannot know how long the old leader had been waiting), so a lease is never cut
// short by a failover, only lengthened by at most one TTL.
//
// Pure bookkeeping: the caller passes the applied leases and a monotonic `nowMs`; the
// caller proposes `expireLease {owner, renewedIndex}` for each owner returned, and the
// state machine refuses it if a later renewal applied first.
import assert from 'node:assert';
import type { Lease } from '../types.js';

type Seen = { renewedIndex: number; sinceMs: number; ttlMs: number };

export class LeaseWatch {
  readonly #seen = new Map<string, Seen>();
  #leadingSinceMs: number | null = null;

  /** This replica leads from `nowMs` (monotonic); every lease starts a full TTL. */
  lead(nowMs: number): void {
    assert(Number.isFinite(nowMs), 'lead needs a finite monotonic time');
    this.#leadingSinceMs = nowMs;
    this.#seen.clear();
  }

  /** Leadership lost: nothing is judged until the next lead(). */
  follow(): void {
    this.#leadingSinceMs = null;
    this.#seen.clear();
  }

  get leading(): boolean {
    return this.#leadingSinceMs !== null;
  }

  /** The leases whose owner has not renewed within their TTL as of `nowMs`. */
  expired(leases: readonly Lease[], nowMs: number): Lease[] {
    if (this.#leadingSinceMs === null) return [];
    const out: Lease[] = [];
    const owners = new Set<string>();
    for (const lease of leases) {
      owners.add(lease.owner);
      let seen = this.#seen.get(lease.owner);
      if (seen === undefined || seen.renewedIndex !== lease.renewedIndex) {
        seen = { renewedIndex: lease.renewedIndex, sinceMs: nowMs, ttlMs: lease.ttlMs };
        this.#seen.set(lease.owner, seen);
      }
      if (nowMs - seen.sinceMs >= lease.ttlMs) out.push(lease);
    }
    // Leases that left the state (expired or never existed here) are forgotten.
    for (const owner of this.#seen.keys()) if (!owners.has(owner)) this.#seen.delete(owner);
    return out;
  }

  /** Ms from `nowMs` until the next lease seen by the last expired() runs out (0: one
   * has; Infinity: none is watched). */
  msUntilNextExpiry(nowMs: number): number {
    if (this.#leadingSinceMs === null) return Number.POSITIVE_INFINITY;
    let next = Number.POSITIVE_INFINITY;
    for (const seen of this.#seen.values()) next = Math.min(next, seen.sinceMs + seen.ttlMs - nowMs);
    return Math.max(0, next);
  }
}
