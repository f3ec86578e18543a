// The time a shard replica stamps into log entries and judges deadlines by (reservation
// TTLs, wrap-up ends, contact expiry, session idleness): wall-clock milliseconds, because
// agents' ready-since times and contact expiries are shown to people and compared with
// them, but advancing only at the MONOTONIC clock's rate. The wall clock is read once, when
// the replica starts; a step of the system clock afterwards (an operator's `date -s`, a VM
// restored from a snapshot, a bad NTP server) neither freezes deadlines (stepped back) nor
// expires them all at once (stepped forward). NTP's gradual slewing reaches the monotonic
// clock too, so the two do not drift apart.
//
// A replica that becomes leader continues from the shard's last applied time if that is
// ahead of its own clock (the previous leader's host ran ahead of this one), so wrap-ups
// and TTLs keep running at real speed instead of freezing until this host catches up.
import assert from 'node:assert';
import { performance } from 'node:perf_hooks';

export class LeaderClock {
  readonly #wallAtStartMs: number;
  readonly #monoAtStartMs: number;
  #anchor: { baseMs: number; monoAtMs: number } | null = null;

  constructor(
    private readonly wallNowMs: () => number = Date.now,
    private readonly monoNowMs: () => number = () => performance.now(),
  ) {
    this.#wallAtStartMs = wallNowMs();
    this.#monoAtStartMs = monoNowMs();
    assert(Number.isFinite(this.#wallAtStartMs) && Number.isFinite(this.#monoAtStartMs), 'clocks must read finite times');
  }

  /** Now, in whole epoch milliseconds, at the monotonic rate (a function, so it can be
   * handed to the Raft core as its `nowMs`). Whole: these times go into log entries and
   * out through APIs whose schemas say integer (the monotonic clock has microseconds; a
   * fractional readySinceMs made the dashboard answer 500, found by `npm run fuzz`). */
  readonly nowMs = (): number => {
    const mono = this.monoNowMs();
    const steady = this.#wallAtStartMs + (mono - this.#monoAtStartMs);
    return Math.floor(this.#anchor === null ? steady : Math.max(steady, this.#anchor.baseMs + (mono - this.#anchor.monoAtMs)));
  };

  /** This replica leads from now; the shard's state has reached `appliedTimeMs`. */
  lead(appliedTimeMs: number): void {
    assert(Number.isFinite(appliedTimeMs), 'applied time must be finite');
    this.#anchor = { baseMs: appliedTimeMs, monoAtMs: this.monoNowMs() };
  }

  follow(): void {
    this.#anchor = null;
  }
}
