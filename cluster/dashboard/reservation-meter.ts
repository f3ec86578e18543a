// Reservations per second, from the shards' change feeds: every granted reserve is one
// `reserve` change record, applied once per log entry whatever replica proposed it, so
// counting records is exact and survives failovers (Prometheus counters live on the
// proposing replica and restart at 0 with it). Denied reserves change nothing and have no
// record: the figure is grants/s.
//
// Pure: pages and sample times come from the caller. A page may repeat records after the
// follower moved to another replica, so records at or below the last counted index of
// their shard are skipped. A truncated page (the feed lost history) only moves the mark.
import assert from 'node:assert';
import type { FeedRecord } from '../../shards/types.js';
import { rateHistoryMax, rateWindowS } from './limits.js';

export type FeedPageLike = Readonly<{ changes: readonly FeedRecord[]; truncated: boolean; index: number }>;

export class ReservationMeter {
  readonly #mark = new Map<string, number>();
  #total = 0;
  readonly #samples: { atMs: number; total: number }[] = [];
  readonly #history: number[] = [];

  /** Starts counting a shard after `index` (records up to it happened before we looked). */
  baseline(shardId: string, index: number): void {
    assert(Number.isSafeInteger(index) && index >= 0);
    this.#mark.set(shardId, index);
  }

  has(shardId: string): boolean {
    return this.#mark.has(shardId);
  }

  onPage(shardId: string, page: FeedPageLike): void {
    const mark = this.#mark.get(shardId) ?? 0;
    let highest = mark;
    for (const c of page.changes) {
      if (c.index <= mark) continue;
      highest = Math.max(highest, c.index);
      if (!page.truncated && c.kind === 'reserve') this.#total++;
    }
    this.#mark.set(shardId, Math.max(highest, page.index));
  }

  /** Called once per poll: the rate over the last `rateWindowS` seconds. */
  sample(atMs: number): { perSecond: number; total: number } {
    this.#samples.push({ atMs, total: this.#total });
    while (this.#samples.length > 1 && atMs - this.#samples[0]!.atMs > rateWindowS * 1000) this.#samples.shift();
    const first = this.#samples[0]!;
    const spanS = (atMs - first.atMs) / 1000;
    const perSecond = spanS > 0 ? (this.#total - first.total) / spanS : 0;
    this.#history.push(Math.round(perSecond * 10) / 10);
    if (this.#history.length > rateHistoryMax) this.#history.shift();
    return { perSecond, total: this.#total };
  }

  get total(): number {
    return this.#total;
  }

  /** One point per sample, oldest first, for the sparkline. */
  get history(): readonly number[] {
    return this.#history;
  }
}
