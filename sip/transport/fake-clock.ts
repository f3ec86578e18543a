// A TimerService whose time moves only when a test calls advance(): timers fire in due
// order (ties in the order they were set), so transaction tests are exact and instant.
// A binary heap keeps it fast with tens of thousands of pending timers (simulations).

import assert from 'node:assert';
import type { TimerHandle, TimerService } from './timer-service.js';

type Pending = { readonly dueMs: number; readonly seq: number; readonly fire: () => void };

const before = (a: Pending, b: Pending): boolean => a.dueMs < b.dueMs || (a.dueMs === b.dueMs && a.seq < b.seq);

export class FakeClock implements TimerService {
  private nowMs: number;
  private seq = 0;
  /** Live timers by id; the heap may still hold cleared ones, skipped when popped. */
  private readonly live = new Map<number, Pending>();
  private readonly heap: Pending[] = [];

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
    this.push(p);
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
      this.pop();
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
    while (this.heap.length > 0 && !this.live.has(this.heap[0]!.seq)) this.pop();
    return this.heap[0];
  }

  private push(p: Pending): void {
    const h = this.heap;
    h.push(p);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(h[i]!, h[parent]!)) break;
      [h[i], h[parent]] = [h[parent]!, h[i]!];
      i = parent;
    }
  }

  private pop(): void {
    const h = this.heap;
    const last = h.pop();
    if (last === undefined || h.length === 0) return;
    h[0] = last;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < h.length && before(h[l]!, h[m]!)) m = l;
      if (r < h.length && before(h[r]!, h[m]!)) m = r;
      if (m === i) break;
      [h[i], h[m]] = [h[m]!, h[i]!];
      i = m;
    }
  }
}
