// What a RaftHost (host.ts) lends a RaftGroup it drives. A group opened without one keeps
// its own tick timer and takes snapshots when due, exactly as a stand-alone replica.

import type { WakeReason } from './quiesce.js';

export interface GroupHostLink {
  /** Whether idle groups quiesce (stop ticking) on this host. */
  readonly quiesce: boolean;
  /** Whether store liveness reports the store hosting `member` silent. */
  storeSilent(member: string): boolean;
  /** Runs `take` when it is this group's turn: the host lets one group serialize a
   * snapshot per event-loop turn. Resolves when `take` has. */
  snapshotTurn(take: () => Promise<void>): Promise<void>;
  /** Runs `run` in the host's next Ready pass: one setImmediate per host turn drives every
   * group with work (TiKV's batch system), not one per group. Absent: the group schedules
   * its own setImmediate. */
  runSoon?(run: () => void): void;
  /** The group's share of the host's log budget (log-budget.ts): it snapshots after this
   * many entries when that is less than its own interval. Absent: its own interval. */
  logShare?(): number;
  /** The group stopped ticking. */
  quiesced(): void;
  /** The group ticks again. */
  woke(reason: WakeReason): void;
  /** The group closed or failed: it leaves the host's ticker for good (a closed one
   * also leaves the host's list of groups). */
  left(why: 'closed' | 'failed'): void;
}
