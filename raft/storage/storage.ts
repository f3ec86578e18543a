// The durable home of one Raft group's log, hard state and snapshot. The driver is the
// only caller and never overlaps two calls on one storage (one Ready in flight at a time).
//
// Contract (every implementation — MemoryRaftStorage, LevelRaftStorage and the group views
// of SharedLogDb — checked by test/raft/storage/contract.test.ts):
// - load(): what the last resolved save()/compact() left. `entries` are contiguous and
//   start right after the snapshot (at 1 without one); an empty log gives hardState
//   {term 0, vote null, commit 0}. Stored bytes that fail their CRC32, do not decode, or
//   leave a gap in indexes reject with RAFT_ERR_CORRUPT naming the place and the index.
// - save(batch, sync): applies, atomically and in this order, `snapshot` when newer than
//   the stored one (the log up to its index is replaced by it; stored entries after it
//   survive only when the stored entry at the snapshot index has the snapshot's term —
//   log matching then makes them the leader's), then `entries` (those at or below the
//   snapshot index are skipped; the rest overwrite from their first index and every
//   stored index above the last new one is deleted), then `hardState`. With `sync` the promise
//   resolves only once the batch is on stable storage (fsync).
// - compact(snapshot): stores `snapshot` and deletes entries ≤ its index, durably. A
//   snapshot older than the stored one is ignored.
// - Any I/O failure (disk full, permission, closed) rejects with RAFT_ERR_STORAGE; after
//   such a failure the driver stops using this storage until the process restarts.
// - Entries and snapshots are immutable data: storage may keep references to them.
// - An entries batch that would leave a gap (starts past last + 1) is a caller bug and
//   rejects with RAFT_ERR_STORAGE without writing anything.
// These are the same log rules as the simulator's disk (raft/sim/disk.ts).

import type { Entry, HardState, Snapshot } from '../types.js';

export type StorageBatch = Readonly<{
  hardState: HardState | null;
  entries: readonly Entry[];
  snapshot: Snapshot | null;
}>;

export type LoadedState = { hardState: HardState; snapshot: Snapshot | null; entries: Entry[] };

export interface RaftStorage {
  load(): Promise<LoadedState>;
  save(batch: StorageBatch, sync: boolean): Promise<void>;
  compact(snapshot: Snapshot): Promise<void>;
  close(): Promise<void>;
}

export const EMPTY_HARD_STATE: HardState = Object.freeze({ term: 0, vote: null, commit: 0 });
