// One timer for the leader duties of every replica a process hosts (shard-node.ts
// `runLeaderDuties`: reservation TTLs, wrap-up ends, lease expiry, the shard map, the
// handoff to a preferred leader). A store leading 33 of 100 shards had 33 intervals of
// its own, each a wake-up every leaderDutyIntervalMs; one interval over the set of
// leading replicas wakes the process once per period whatever the shard count. The
// timer runs only while some replica here leads: a follower-only process never wakes for
// it. Deadlines keep their resolution (one period), as with a timer per replica.
import assert from 'node:assert';

export class LeaderDutyTimer {
  readonly #leading = new Map<object, () => void>();
  #timer: NodeJS.Timeout | null = null;

  constructor(readonly periodMs: number) {
    assert(Number.isFinite(periodMs) && periodMs > 0, 'the duty period must be a positive number of ms');
  }

  /** `key` leads from now: `run` is called once per period until stop(key). */
  start(key: object, run: () => void): void {
    this.#leading.set(key, run);
    this.#timer ??= setInterval(() => this.#fire(), this.periodMs);
  }

  stop(key: object): void {
    this.#leading.delete(key);
    if (this.#leading.size === 0 && this.#timer !== null) {
      clearInterval(this.#timer);
      this.#timer = null;
    }
  }

  /** How many replicas it runs duties for now. */
  get leading(): number {
    return this.#leading.size;
  }

  /** Whether its interval is armed (only while some replica leads). */
  get armed(): boolean {
    return this.#timer !== null;
  }

  #fire(): void {
    // A snapshot of the set: a duty may end its own leadership (a handoff) meanwhile.
    for (const run of [...this.#leading.values()]) run();
  }
}
