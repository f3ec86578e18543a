// The commands that end or confirm a grant the node holds, with their retries. A grant is
// never forgotten while it may be alive: release is retried until the shard acknowledges
// it (a stale answer means the shard already ended it, which is just as good) — a BUSY
// agent has no TTL, and while this node renews its lease nothing else will free it — and
// confirm while the grant's TTL lasts. A refusal by the session layer (an evicted or busy
// client session) is not an answer about the grant: both commands are idempotent on the
// shard, so they are sent again. Time and sleeps come from the injected TimerService.

import assert from 'node:assert';
import type { Logger } from '../../common/logger.js';
import type { ShardClient } from '../../shards/client/shard-client.js';
import type { ReleaseOutcome, ShardResult } from '../../shards/types.js';
import type { TimerService } from '../transport/index.js';
import { backoffMs, sleep } from './clock.js';
import * as limits from './limits.js';

/** A committed reservation this node holds. `expiresAtMs` is on the TimerService clock,
 * counted from before the reserve was sent, so it errs on the early side. */
export type Grant = Readonly<{ dn: string; reservationId: string; expiresAtMs: number }>;

export type GrantsOptions = Readonly<{
  shards: Pick<ShardClient, 'command'>;
  log: Logger;
  timers: TimerService;
  /** True once the node is closing: retries stop. */
  closed: () => boolean;
}>;

/** Refusals that say nothing about the grant, only about the client's session. */
function sessionRefusal(r: ShardResult): boolean {
  return !r.ok && (r.code === 'SHARD_ERR_SESSION_EXPIRED' || r.code === 'SHARD_ERR_TOO_MANY_PENDING' || r.code === 'SHARD_ERR_SESSION_REQUIRED');
}

export class Grants {
  constructor(private readonly o: GrantsOptions) {}

  /** Releases a grant, retrying while the outcome is unknown, after `after` settles (a
   * confirm in flight: a release overtaking it would end a RESERVED grant as if never
   * answered, and the confirm would then be refused). */
  async release(dn: string, reservationId: string, outcome: ReleaseOutcome, after: Promise<void> | null = null): Promise<void> {
    assert(dn !== '' && reservationId !== '', `release without a grant (${dn}, ${reservationId})`);
    if (after !== null) await after;
    for (let i = 0; ; i++) {
      try {
        const r = await this.o.shards.command(dn, { type: 'release', dn, reservationId, outcome }, { deadlineMs: limits.shardCommandDeadlineMs });
        if (!sessionRefusal(r)) {
          if (!r.ok && r.code !== 'SHARD_ERR_STALE_RESERVATION') this.o.log.warn('release refused', { dn, reservationId, code: r.code, reason: r.reason });
          return;
        }
        this.o.log.warn('release refused by the session layer; sending it again', { dn, reservationId, code: r.ok ? null : r.code });
      } catch (err) {
        if (this.o.closed()) return;
        this.o.log.warn('release failed; retrying', { dn, reservationId, attempt: i, error: (err as Error).message });
      }
      if (this.o.closed()) return;
      await sleep(this.o.timers, backoffMs(Math.min(i, 16), limits.releaseRetryBackoffMsMin, limits.releaseRetryBackoffMsMax));
    }
  }

  /** Turns the grant into a call on the shard (RESERVED → BUSY); true when the shard
   * confirmed it. A confirm is idempotent, so an unknown outcome is retried while the
   * grant can still be alive and `wanted()` says the call still needs it. */
  async confirm(grant: Grant, callId: string, wanted: () => boolean): Promise<boolean> {
    assert(grant.reservationId !== '', `confirm without a reservation id (${grant.dn})`);
    for (let attempt = 0; ; attempt++) {
      const leftMs = grant.expiresAtMs - this.o.timers.now();
      if (leftMs <= 0 || this.o.closed()) return false;
      try {
        const r = await this.o.shards.command(grant.dn, { type: 'confirm', dn: grant.dn, reservationId: grant.reservationId }, { deadlineMs: Math.min(limits.shardCommandDeadlineMs, leftMs) });
        if (!sessionRefusal(r)) {
          if (!r.ok) this.o.log.warn('confirm refused', { dn: grant.dn, callId, code: r.code });
          return r.ok;
        }
        this.o.log.warn('confirm refused by the session layer; sending it again', { dn: grant.dn, callId, code: r.ok ? null : r.code });
        if (!wanted()) return false;
        await sleep(this.o.timers, backoffMs(attempt, limits.confirmRetryBackoffMsMin, limits.confirmRetryBackoffMsMax));
      } catch (err) {
        this.o.log.warn('confirm outcome unknown; retrying', { dn: grant.dn, callId, attempt, error: (err as Error).message });
        if (!wanted()) return false;
        await sleep(this.o.timers, backoffMs(attempt, limits.confirmRetryBackoffMsMin, limits.confirmRetryBackoffMsMax));
      }
    }
  }
}
