// What a RaftGroup is opened with and answers: the application it replicates, its options
// and its request types (group.ts re-exports them).
import type { Logger } from '../../common/logger.js';
import type { RaftStorage } from '../storage/storage.js';
import type { RaftTransport } from '../transport/transport.js';
import type { ConfState, Entry, LogIndex, NodeId, RaftConfig } from '../types.js';
import type { GroupHostLink } from './host-link.js';

/** The replicated application. Called only by the driver, in log order, on every replica. */
export interface StateMachine {
  /** Applies one committed entry of kind 'normal'; the result goes to the proposer (on
   * the replica where it was proposed). Must be deterministic: no local clock, no
   * randomness — use entry.timestampMs. Throwing is a bug and crashes the driver. */
  apply(entry: Entry): unknown;
  /** Serializes everything applied so far. */
  snapshot(): Uint8Array;
  /** Replaces the state with a snapshot's `data`. */
  restore(data: Uint8Array): void;
}

export type RaftGroupOptions = {
  groupId: string;
  id: NodeId;
  /** Membership before any snapshot or conf entry exists (the bootstrap voters). */
  initialConf: ConfState;
  storage: RaftStorage;
  /** Shared by all groups of this process; the group registers and unregisters itself. */
  transport: RaftTransport;
  stateMachine: StateMachine;
  tickMs?: number;
  raft?: Partial<RaftConfig>;
  snapshotEveryEntries?: number;
  logger?: Logger;
  /** Randomness for election timeouts (default Math.random). */
  random?: () => number;
  /** Set by RaftHost (host.ts), which then drives the ticks (hostTick), staggers the
   * snapshots and may quiesce the group. Absent: the group runs its own timer. */
  host?: GroupHostLink;
};

export type RequestOptions = { timeoutMs?: number };
export type ProposeResult = { index: LogIndex; result: unknown };
