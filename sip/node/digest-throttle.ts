// Failed-digest throttling (issue 18): after `failuresMax` wrong passwords for one (source
// IP, user) within `windowMs`, that pair is locked out for `lockoutMs`: its REGISTERs get
// 403 "Too Many Failed Attempts" without their response being checked, so a guesser learns
// nothing more, right or wrong, until the lockout ends. Keyed by source as well as user so
// a guesser elsewhere cannot lock a phone out of its own account.
//
// Pure apart from the injected monotonic clock (a wall clock stepping must neither
// lift nor stretch a lockout): no timers. The table is bounded; the least recently
// touched pair is forgotten first.

import assert from 'node:assert';
import { digestFailureWindowMs, digestFailuresMax, digestLockoutMs, digestThrottleTrackedMax } from './limits.js';

export type DigestThrottleOptions = Readonly<{
  failuresMax?: number;
  windowMs?: number;
  lockoutMs?: number;
  trackedMax?: number;
  /** Milliseconds, never decreasing (default performance.now). */
  now?: () => number;
}>;

type Entry = { failures: number; windowStartMs: number; lockedUntilMs: number };

export class DigestThrottle {
  private readonly failuresMax: number;
  private readonly windowMs: number;
  private readonly lockoutMs: number;
  private readonly trackedMax: number;
  private readonly entries = new Map<string, Entry>();
  private readonly now: () => number;

  constructor(o: DigestThrottleOptions = {}) {
    this.failuresMax = o.failuresMax ?? digestFailuresMax;
    this.windowMs = o.windowMs ?? digestFailureWindowMs;
    this.lockoutMs = o.lockoutMs ?? digestLockoutMs;
    this.trackedMax = o.trackedMax ?? digestThrottleTrackedMax;
    this.now = o.now ?? (() => performance.now());
    assert(this.failuresMax >= 1 && this.windowMs > 0 && this.lockoutMs >= 0 && this.trackedMax >= 1, 'bad digest throttle limits');
  }

  /** Milliseconds left of this pair's lockout, 0 when it may try. */
  lockedForMs(source: string, user: string): number {
    const nowMs = this.now();
    const e = this.entries.get(keyOf(source, user));
    return e === undefined ? 0 : Math.max(0, e.lockedUntilMs - nowMs);
  }

  /** Counts one wrong password; the `failuresMax`th within the window starts a lockout. */
  failed(source: string, user: string): void {
    const nowMs = this.now();
    const key = keyOf(source, user);
    let e = this.entries.get(key);
    this.entries.delete(key);
    if (e === undefined || nowMs - e.windowStartMs > this.windowMs) e = { failures: 0, windowStartMs: nowMs, lockedUntilMs: e?.lockedUntilMs ?? 0 };
    e.failures++;
    if (e.failures >= this.failuresMax) {
      e.lockedUntilMs = nowMs + this.lockoutMs;
      e.failures = 0;
      e.windowStartMs = nowMs;
    }
    this.entries.set(key, e);
    while (this.entries.size > this.trackedMax) this.entries.delete(this.entries.keys().next().value as string);
  }

  /** A right password clears the pair's count. */
  succeeded(source: string, user: string): void {
    this.entries.delete(keyOf(source, user));
  }

  get trackedCount(): number {
    return this.entries.size;
  }
}

const keyOf = (source: string, user: string): string => `${source}\n${user}`;
