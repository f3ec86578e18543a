// The discrete-event clock of a run: a binary heap of events ordered by simulated time,
// ties broken by insertion order, so the order of events is a pure function of the seed.

import assert from 'node:assert';
import { DueHeap } from '../../common/due-heap.js';

type Event = { readonly dueMs: number; readonly seq: number; readonly run: () => void };

export class Scheduler {
  private readonly heap = new DueHeap<Event>();
  private seq = 0;
  nowMs = 0;

  at(timeMs: number, run: () => void): void {
    assert(timeMs >= this.nowMs, 'events cannot be scheduled in the past');
    this.heap.push({ dueMs: timeMs, seq: this.seq++, run });
  }

  after(delayMs: number, run: () => void): void {
    this.at(this.nowMs + Math.max(0, delayMs), run);
  }

  get size(): number {
    return this.heap.size;
  }

  /** Runs the earliest event; false when none is left before `untilMs`. */
  runNext(untilMs: number): boolean {
    const top = this.heap.peek();
    if (top === undefined || top.dueMs > untilMs) return false;
    this.heap.pop();
    this.nowMs = top.dueMs;
    top.run();
    return true;
  }
}
