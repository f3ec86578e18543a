// When a replica snapshots its state machine and compacts its log. Serializing a large
// state machine blocks the replica's event loop for a while; if every replica of a group
// did it at the same index (they apply the same entries at nearly the same moment) the
// group would stall as a whole — the leader and both followers busy at once — where one
// replica busy at a time leaves a quorum committing. So the replicas take turns: replica i
// of the n voters (sorted by id) snapshots at the indices ≡ i·every/n (mod every), at
// least every/2 entries after its last snapshot, so its snapshots stay between every/2 and
// `every` entries apart.

import type { LogIndex, NodeId } from '../types.js';

/** Where in each run of `every` entries `self` snapshots: its place among the voters
 * (counted, not sorted: this runs after every Ready of the interval's second half). */
export function snapshotPhase(self: NodeId, voters: readonly NodeId[], every: number): number {
  let place = 0;
  let voter = false;
  for (const v of voters) {
    if (v < self) place++;
    else if (v === self) voter = true;
  }
  return voter ? Math.floor((place * every) / voters.length) : 0;
}

/** Whether a replica that applied through `applied`, and last snapshotted at
 * `snapshotIndex`, takes a snapshot now. */
export function snapshotDue(applied: LogIndex, snapshotIndex: LogIndex, every: number, self: NodeId, voters: readonly NodeId[]): boolean {
  if (applied - snapshotIndex < Math.ceil(every / 2)) return false;
  const phase = snapshotPhase(self, voters, every);
  // The first index after the last snapshot that is this replica's turn.
  const turn = snapshotIndex + 1 + ((((phase - snapshotIndex - 1) % every) + every) % every);
  return applied >= turn;
}
