// One timer for the leader duties of every replica a process hosts (shard-node.ts
// `runLeaderDuties`: reservation TTLs, wrap-up ends, lease expiry, the shard map, the
// handoff to a preferred leader). A store leading 33 of 100 shards had 33 intervals of
// its own, each a wake-up every leaderDutyIntervalMs; one timer over the set of leading
// replicas wakes the process for all of them. The timer runs only while some replica here
// leads: a follower-only process never wakes for it.
//
// Each run says how long until its replica needs the next one (its nearest deadline, or
// one period while work is under way); the timer sleeps until the earliest of them, never
// longer than `idleMaxMs`, and replicas with nothing due share the same instants. A quiet
// store of 100 shards then wakes once a second for its duties instead of 20 times (a
// third of its idle CPU: 19-22 ms/s against 12.5-14 with the duties slowed to 1 s, bench
// stores). Anything applied on a leading replica may set a new deadline, so the replica
// nudges its duties to run within one period, as before: deadlines keep their resolution
// of one period.
import assert from 'node:assert';
import { performance } from 'node:perf_hooks';
import { leaderDutyIdleMaxMs, leaderDutyIntervalMs } from '../limits.js';

type Duty = { run: () => number; dueAtMs: number };

export class LeaderDutyTimer {
  readonly #leading = new Map<object, Duty>();
  #timer: NodeJS.Timeout | null = null;
  /** When the armed timer fires (Infinity: not armed). */
  #armedAtMs = Number.POSITIVE_INFINITY;
  #firing = false;

  constructor(
    readonly periodMs: number = leaderDutyIntervalMs,
    readonly idleMaxMs: number = Math.max(periodMs, leaderDutyIdleMaxMs),
    private readonly nowMs: () => number = () => performance.now(),
  ) {
    assert(Number.isFinite(periodMs) && periodMs > 0, 'the duty period must be a positive number of ms');
    assert(Number.isFinite(idleMaxMs) && idleMaxMs >= periodMs, 'the longest sleep must be a number of ms no shorter than the period');
  }

  /** `key` leads from now: `run` is called at once and then whenever it is due; it
   * returns the ms until it is due again (clamped to [periodMs, idleMaxMs]). */
  start(key: object, run: () => number): void {
    this.#leading.set(key, { run, dueAtMs: this.nowMs() });
    this.#arm();
  }

  stop(key: object): void {
    this.#leading.delete(key);
    if (this.#leading.size === 0) this.#disarm();
  }

  /** Something changed on `key`'s replica (an entry applied): its duties run within one
   * period. Cheap enough to call on every apply: it re-arms only for an earlier time. */
  nudge(key: object): void {
    const duty = this.#leading.get(key);
    if (duty === undefined) return;
    const at = this.nowMs() + this.periodMs;
    if (at >= duty.dueAtMs) return;
    duty.dueAtMs = at;
    if (!this.#firing && at < this.#armedAtMs) this.#arm();
  }

  /** How many replicas it runs duties for now. */
  get leading(): number {
    return this.#leading.size;
  }

  /** Whether it is armed (only while some replica leads). */
  get armed(): boolean {
    return this.#timer !== null;
  }

  #arm(): void {
    let at = Number.POSITIVE_INFINITY;
    for (const d of this.#leading.values()) if (d.dueAtMs < at) at = d.dueAtMs;
    this.#disarm();
    if (at === Number.POSITIVE_INFINITY) return;
    this.#armedAtMs = at;
    this.#timer = setTimeout(this.#fire, Math.max(0, at - this.nowMs()));
  }

  #disarm(): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    this.#armedAtMs = Number.POSITIVE_INFINITY;
  }

  /** Replicas with nothing due sleep to the same instants (multiples of idleMaxMs, at most
   * idleMaxMs away, at least a period), so a quiet store wakes once per idleMaxMs for all
   * of them, not once for each at its own phase. */
  #onIdleGrid(now: number): number {
    return Math.max(now + this.periodMs, Math.floor((now + this.idleMaxMs) / this.idleMaxMs) * this.idleMaxMs);
  }

  readonly #fire = (): void => {
    this.#timer = null;
    this.#armedAtMs = Number.POSITIVE_INFINITY;
    const now = this.nowMs();
    this.#firing = true;
    try {
      // Everything due within half a period runs on this wake-up. A snapshot of the set:
      // a duty may end its own leadership (a handoff) meanwhile.
      for (const [key, duty] of [...this.#leading]) {
        if (duty.dueAtMs > now + this.periodMs / 2 || this.#leading.get(key) !== duty) continue;
        const dueBefore = duty.dueAtMs;
        const wantMs = duty.run();
        const inMs = Number.isNaN(wantMs) ? this.periodMs : Math.min(this.idleMaxMs, Math.max(this.periodMs, wantMs));
        const dueAtMs = inMs === this.idleMaxMs ? this.#onIdleGrid(now) : now + inMs;
        // A nudge while it ran (its own proposal applied at once) is kept.
        duty.dueAtMs = duty.dueAtMs !== dueBefore ? Math.min(duty.dueAtMs, dueAtMs) : dueAtMs;
      }
    } finally {
      this.#firing = false;
      this.#arm();
    }
  };
}
