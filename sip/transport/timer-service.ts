// The clock the SIP layers are given instead of reading time themselves: the real one
// wraps setTimeout; FakeClock (fake-clock.ts) is its twin that tests advance by hand.

export type TimerHandle = Readonly<{ timerId: number }>;

/** Contract: `fire` runs once, no earlier than `delayMs` after `setTimer`, unless the
 * handle is cleared first; clearing a fired or cleared handle is a no-op. Callbacks never
 * run synchronously inside `setTimer`. `now()` is in milliseconds and never decreases. */
export interface TimerService {
  now(): number;
  setTimer(delayMs: number, fire: () => void): TimerHandle;
  clearTimer(handle: TimerHandle): void;
}

export class SystemTimerService implements TimerService {
  private nextId = 1;
  private readonly live = new Map<number, NodeJS.Timeout>();

  now(): number {
    return performance.now();
  }

  setTimer(delayMs: number, fire: () => void): TimerHandle {
    const timerId = this.nextId++;
    const t = setTimeout(() => {
      this.live.delete(timerId);
      fire();
    }, delayMs);
    // Transaction timers alone must not keep a process alive; sockets do that.
    t.unref();
    this.live.set(timerId, t);
    return { timerId };
  }

  clearTimer(handle: TimerHandle): void {
    const t = this.live.get(handle.timerId);
    if (t === undefined) return;
    clearTimeout(t);
    this.live.delete(handle.timerId);
  }
}
