// The discrete-event clock of a run: a binary heap of events ordered by simulated time,
// ties broken by insertion order, so the order of events is a pure function of the seed.

import assert from 'node:assert';

type Event = { timeMs: number; seq: number; run: () => void };

export class Scheduler {
  private heap: Event[] = [];
  private seq = 0;
  nowMs = 0;

  at(timeMs: number, run: () => void): void {
    assert(timeMs >= this.nowMs, 'events cannot be scheduled in the past');
    this.push({ timeMs, seq: this.seq++, run });
  }

  after(delayMs: number, run: () => void): void {
    this.at(this.nowMs + Math.max(0, delayMs), run);
  }

  get size(): number {
    return this.heap.length;
  }

  /** Runs the earliest event; false when none is left before `untilMs`. */
  runNext(untilMs: number): boolean {
    const top = this.heap[0];
    if (top === undefined || top.timeMs > untilMs) return false;
    this.pop();
    this.nowMs = top.timeMs;
    top.run();
    return true;
  }

  private less(a: Event, b: Event): boolean {
    return a.timeMs < b.timeMs || (a.timeMs === b.timeMs && a.seq < b.seq);
  }

  private push(e: Event): void {
    const h = this.heap;
    h.push(e);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(h[i]!, h[p]!)) break;
      [h[i], h[p]] = [h[p]!, h[i]!];
      i = p;
    }
  }

  private pop(): void {
    const h = this.heap;
    const last = h.pop()!;
    if (h.length === 0) return;
    h[0] = last;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < h.length && this.less(h[l]!, h[m]!)) m = l;
      if (r < h.length && this.less(h[r]!, h[m]!)) m = r;
      if (m === i) break;
      [h[i], h[m]] = [h[m]!, h[i]!];
      i = m;
    }
  }
}
