// Per-call packet rate ceiling: a token bucket per call index in typed arrays, refilled
// lazily from the packet's own arrival time, so taking a token allocates nothing and needs
// no timer. Pure: time is passed in.

import assert from 'node:assert';

export class TokenBuckets {
  private readonly tokens: Float64Array;
  private readonly refilledMs: Float64Array;
  private readonly perMs: number;

  /** @param ratePerSecond 0 disables limiting. */
  constructor(
    readonly buckets: number,
    readonly ratePerSecond: number,
    readonly burst: number,
  ) {
    assert(ratePerSecond >= 0 && burst >= 1, 'rate must be >= 0 and burst >= 1');
    this.tokens = new Float64Array(buckets);
    this.refilledMs = new Float64Array(buckets);
    this.perMs = ratePerSecond / 1000;
  }

  reset(i: number, nowMs: number): void {
    this.tokens[i] = this.burst;
    this.refilledMs[i] = nowMs;
  }

  /** True when a packet may pass. */
  take(i: number, nowMs: number): boolean {
    if (this.perMs === 0) return true;
    let t = this.tokens[i]! + (nowMs - this.refilledMs[i]!) * this.perMs;
    if (t > this.burst) t = this.burst;
    this.refilledMs[i] = nowMs;
    if (t < 1 - 1e-9) { // tolerance: refills of rate/1000 per ms do not sum exactly
      this.tokens[i] = t;
      return false;
    }
    this.tokens[i] = t - 1;
    return true;
  }
}
