// Time as the SIP node's transaction user is given it, never reads it: the monotonic
// clock and timers are a TimerService (sip/transport; SystemTimerService in production,
// FakeClock in tests), and the wall clock — what agents' contact expiries and CDR
// timestamps are in — is a function returning epoch milliseconds (Date.now in production).

import assert from 'node:assert';
import type { TimerHandle, TimerService } from '../transport/index.js';

/** Epoch milliseconds (Date.now in production). Only for values compared with other
 * wall-clock times (contact expiries, the router's ready-since) or shown to people. */
export type WallClock = () => number;

/** Resolves after `delayMs` on the given timers. */
export function sleep(timers: TimerService, delayMs: number): Promise<void> {
  return new Promise((resolve) => void timers.setTimer(delayMs, resolve));
}

/** Exponential backoff: `minMs` doubling with each try, capped at `maxMs`. */
export function backoffMs(tryNo: number, minMs: number, maxMs: number): number {
  assert(tryNo >= 0 && minMs > 0 && maxMs >= minMs, `bad backoff ${tryNo} ${minMs} ${maxMs}`);
  return Math.min(maxMs, minMs * 2 ** tryNo);
}

/** Runs `fire` every `intervalMs` until the returned stop is called (setInterval on a
 * TimerService: the next run is set before this one starts, so a slow run does not
 * push the schedule back). */
export function every(timers: TimerService, intervalMs: number, fire: () => void): () => void {
  let handle: TimerHandle | null = null;
  let stopped = false;
  const arm = (): void => {
    handle = timers.setTimer(intervalMs, () => {
      if (stopped) return;
      arm();
      fire();
    });
  };
  arm();
  return () => {
    stopped = true;
    if (handle !== null) timers.clearTimer(handle);
  };
}
