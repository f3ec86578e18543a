// A bounded ring of change records so routers can follow agent states from an index
// instead of re-reading every agent. When records older than a reader's position have
// been dropped (ring full, or this replica was restored from a snapshot), the page says
// `truncated` and the reader must re-read the full agent list, then resume from the
// index it read at.

import assert from 'node:assert';
import type { ChangeRecord, ChangesPage } from './types.js';

export class ChangeFeed {
  readonly #capacity: number;
  #ring: ChangeRecord[] = [];
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

  push(record: ChangeRecord): void {
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

  /** Every held record with index > `index`, oldest first. */
  since(index: number): ChangesPage {
    const changes: ChangeRecord[] = [];
    for (let i = 0; i < this.#ring.length; i += 1) {
      const record = this.#ring[(this.#start + i) % this.#ring.length]!;
      if (record.index > index) changes.push(record);
    }
    return { changes, truncated: this.#droppedThroughIndex > index };
  }

  #newest(): ChangeRecord | null {
    if (this.#ring.length === 0) return null;
    return this.#ring[(this.#start + this.#ring.length - 1) % this.#ring.length]!;
  }
}
