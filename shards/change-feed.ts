// A bounded ring of change records so routers can follow agent states from an index
// instead of re-reading every agent. When records older than a reader's position have
// been dropped (ring full, or this replica was restored from a snapshot), the page says
// `truncated` and the reader must re-read the full agent list, then resume from the
// index it read at.

import assert from 'node:assert';
import { changeFeedMax, changeFeedPerShardMin, storeChangeFeedRecordsMax } from './limits.js';
import { storeBudgetShare } from './store-budget.js';
import type { FeedRecord, ChangesPage } from './types.js';

/** Each shard's ring on a process hosting `shardsHosted` of them (limits.ts says why). */
export function changeFeedCapacityFor(shardsHosted: number): number {
  return storeBudgetShare(storeChangeFeedRecordsMax, shardsHosted, changeFeedPerShardMin, changeFeedMax, 'shard');
}

export class ChangeFeed {
  readonly #capacity: number;
  #ring: FeedRecord[] = [];
  #start = 0;
  /** Highest index of any record no longer held (0 when nothing was dropped). */
  #droppedThroughIndex = 0;

  constructor(capacity: number, droppedThroughIndex = 0) {
    assert(Number.isSafeInteger(capacity) && capacity >= 1);
    this.#capacity = capacity;
    this.#droppedThroughIndex = droppedThroughIndex;
  }

  get size(): number {
    return this.#ring.length;
  }

  push(record: FeedRecord): void {
    const last = this.#newest();
    assert(last === null || record.index >= last.index, 'change records must come in index order');
    if (this.#ring.length < this.#capacity) {
      this.#ring.push(record);
      return;
    }
    const dropped = this.#ring[this.#start]!;
    this.#droppedThroughIndex = Math.max(this.#droppedThroughIndex, dropped.index);
    this.#ring[this.#start] = record;
    this.#start = (this.#start + 1) % this.#capacity;
  }

  /** Every held record with index > `index`, oldest first. A subscriber asks after
   * every apply, usually for the newest record or two: a binary search finds them
   * without walking the whole ring each time (records are in index order). */
  since(index: number): ChangesPage {
    const n = this.#ring.length;
    let lo = 0;
    let hi = n;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.#at(mid).index > index) hi = mid;
      else lo = mid + 1;
    }
    const changes: FeedRecord[] = [];
    for (let i = lo; i < n; i += 1) changes.push(this.#at(i));
    return { changes, truncated: this.#droppedThroughIndex > index };
  }

  /** The record at position `i`, counted from the oldest held. */
  #at(i: number): FeedRecord {
    return this.#ring[(this.#start + i) % this.#ring.length]!;
  }

  #newest(): FeedRecord | null {
    return this.#ring.length === 0 ? null : this.#at(this.#ring.length - 1);
  }
}
