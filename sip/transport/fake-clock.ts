// A TimerService whose time moves only when a test calls advance(): timers fire in due
// order (ties in the order they were set), so transaction tests are exact and instant.
// A binary heap (common/due-heap.ts) keeps it fast with tens of thousands of pending
// timers (simulations).

import assert from 'node:assert';
import { DueHeap } from '../../common/due-heap.js';
import type { TimerHandle, TimerService } from './timer-service.js';

type Pending = { readonly dueMs: number; readonly seq: number; readonly fire: () => void };

export class FakeClock implements TimerService {
  private nowMs: number;
  private seq = 0;
  /** Live timers by id; the heap may still hold cleared ones, skipped when popped. */
  private readonly live = new Map<number, Pending>();
  private readonly heap = new DueHeap<Pending>();

  constructor(startMs = 0) {
    this.nowMs = startMs;
  }

  now(): number {
    return this.nowMs;
  }

  setTimer(delayMs: number, fire: () => void): TimerHandle {
    assert(Number.isFinite(delayMs) && delayMs >= 0, `bad delay ${delayMs}`);
    const timerId = ++this.seq;
    const p: Pending = { dueMs: this.nowMs + delayMs, seq: timerId, fire };
    this.live.set(timerId, p);
    this.heap.push(p);
    return { timerId };
  }

  clearTimer(handle: TimerHandle): void {
    this.live.delete(handle.timerId);
  }

  /** Moves time forward by `ms`, firing every timer that falls due on the way (including
   * timers set by those callbacks). Returns how many fired. */
  advance(ms: number): number {
    assert(ms >= 0, 'time only moves forward');
    const targetMs = this.nowMs + ms;
    let fired = 0;
    for (;;) {
      const next = this.peekLive();
      if (next === undefined || next.dueMs > targetMs) break;
      this.heap.pop();
      this.live.delete(next.seq);
      this.nowMs = Math.max(this.nowMs, next.dueMs);
      next.fire();
      fired++;
      assert(fired < 10_000_000, 'runaway timers');
    }
    this.nowMs = targetMs;
    return fired;
  }

  /** Fires what is due now (zero-delay timers, e.g. loop deliveries). */
  flush(): number {
    return this.advance(0);
  }

  pendingCount(): number {
    return this.live.size;
  }

  private peekLive(): Pending | undefined {
    for (let top = this.heap.peek(); top !== undefined && !this.live.has(top.seq); top = this.heap.peek()) this.heap.pop();
    return this.heap.peek();
  }
}
