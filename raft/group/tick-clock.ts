// How many core ticks a firing of a tick timer stands for. Shared by a stand-alone
// RaftGroup (its own timer) and a RaftHost (one timer for every group of a store).
//
// The timer fires once per heartbeat interval, not once per tick: the heartbeat is the
// finest deadline (election timeouts are several heartbeats), and every firing wakes an
// otherwise idle process — at 10 ms ticks that was most of an idle replica's CPU
// (measured: 50 → 35 ms of CPU per second for a follower). A starved process's interval
// fires late; counting a fixed number of ticks per firing stretched a 150 ms election
// timeout past half a second, so a firing makes up the ticks that real time says are due,
// at most `catchUpFiringsMax` firings' worth at once.

import assert from 'node:assert';

export class TickClock {
  private nextTickAtMs: number;

  constructor(
    readonly tickMs: number,
    /** Ticks per firing: one heartbeat interval's worth. */
    readonly ticksPerFiring: number,
    private readonly catchUpFiringsMax: number,
    nowMs: number,
  ) {
    assert(tickMs > 0 && Number.isInteger(ticksPerFiring) && ticksPerFiring > 0, `bad tick clock ${tickMs} ms × ${ticksPerFiring}`);
    this.nextTickAtMs = nowMs + ticksPerFiring * tickMs;
  }

  get firingMs(): number {
    return this.ticksPerFiring * this.tickMs;
  }

  /** Ticks due at a firing observed at `nowMs` (monotonic). */
  due(nowMs: number): number {
    const per = this.ticksPerFiring;
    let due = per + Math.max(0, Math.floor((nowMs - this.nextTickAtMs) / this.tickMs));
    due = Math.min(due, per * this.catchUpFiringsMax);
    this.nextTickAtMs = Math.max(this.nextTickAtMs + due * this.tickMs, nowMs - this.tickMs);
    return due;
  }

  /** Restarts counting from `nowMs` (a timer that was stopped while nothing needed ticks). */
  restart(nowMs: number): void {
    this.nextTickAtMs = nowMs + this.ticksPerFiring * this.tickMs;
  }
}
