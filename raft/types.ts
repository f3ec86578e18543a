// The vocabulary shared by the Raft core, its driver, its storage, its transport and the
// simulator. Everything here is plain readonly data (no classes, no closures) so messages
// can be logged, recorded, replayed and carried across a simulated or real network.

export type NodeId = string;
export type Term = number;
export type LogIndex = number;

/** A replicated log entry. `timestampMs` is stamped by the leader that appended it, so
 * state machines read time from the log, never from a local clock. `normal` carries
 * application data, `conf` a JSON-encoded ConfChange, `noop` the leader's first entry of
 * its term (data is empty). */
export type EntryKind = 'normal' | 'conf' | 'noop';
export type Entry = Readonly<{
  term: Term;
  index: LogIndex;
  kind: EntryKind;
  timestampMs: number;
  data: Uint8Array;
}>;

/** What must be durable before any message depending on it leaves the node. */
export type HardState = Readonly<{ term: Term; vote: NodeId | null; commit: LogIndex }>;

/** Voters decide; learners receive the log but neither vote nor count for commit. */
export type ConfState = Readonly<{ voters: readonly NodeId[]; learners: readonly NodeId[] }>;

/** One membership change at a time (the single-server change of Ongaro's thesis §4.1):
 * a change takes effect on every node as soon as the entry is appended, and the leader
 * refuses the next one until this one is committed. */
export type ConfChange = Readonly<
  | { type: 'addLearner'; node: NodeId }
  | { type: 'promote'; node: NodeId }
  | { type: 'remove'; node: NodeId }
>;

export type SnapshotMeta = Readonly<{ index: LogIndex; term: Term; conf: ConfState }>;
export type Snapshot = Readonly<{ meta: SnapshotMeta; data: Uint8Array }>;

type Envelope = { from: NodeId; to: NodeId; term: Term };

/** Pre-vote and vote requests. `transfer` marks a campaign started by leader transfer
 * (TimeoutNow), which may disrupt a live leader on purpose. */
export type VoteRequest = Readonly<
  Envelope & { type: 'preVote' | 'vote'; lastLogIndex: LogIndex; lastLogTerm: Term; transfer: boolean }
>;
export type VoteResponse = Readonly<Envelope & { type: 'preVoteResp' | 'voteResp'; reject: boolean }>;

/** Log replication. On rejection `hintIndex`/`hintTerm` let the leader skip back a whole
 * term at a time instead of one entry per round trip. */
export type AppendRequest = Readonly<
  Envelope & {
    type: 'append';
    prevIndex: LogIndex;
    prevTerm: Term;
    entries: readonly Entry[];
    commit: LogIndex;
  }
>;
export type AppendResponse = Readonly<
  Envelope & { type: 'appendResp'; reject: boolean; index: LogIndex; hintIndex: LogIndex; hintTerm: Term }
>;

/** Heartbeats carry a commit index and, for ReadIndex, the context of the read round they
 * confirm leadership for (empty string when none). `quiesce` marks a quiescing leader's
 * notice (raft/group/quiesce.ts): the core treats it as any heartbeat, the driver may stop
 * ticking after it. Absent means false. */
export type Heartbeat = Readonly<Envelope & { type: 'heartbeat'; commit: LogIndex; context: string; quiesce?: boolean }>;
export type HeartbeatResponse = Readonly<Envelope & { type: 'heartbeatResp'; context: string }>;

/** InstallSnapshot in chunks. A follower answers with the byte offset it holds, so a
 * transfer interrupted by a lost message or a reconnect resumes where it stopped. */
export type SnapshotChunk = Readonly<
  Envelope & {
    type: 'snapshot';
    meta: SnapshotMeta;
    totalBytes: number;
    offset: number;
    chunk: Uint8Array;
    done: boolean;
  }
>;
export type SnapshotResponse = Readonly<
  Envelope & { type: 'snapshotResp'; index: LogIndex; offset: number; reject: boolean; done: boolean }
>;

/** Leader transfer: the leader tells a caught-up target to campaign at once. */
export type TimeoutNow = Readonly<Envelope & { type: 'timeoutNow' }>;

/** A follower forwards a ReadIndex request to the leader and gets back the index to wait for. */
export type ReadIndexRequest = Readonly<Envelope & { type: 'readIndex'; context: string }>;
export type ReadIndexResponse = Readonly<
  Envelope & { type: 'readIndexResp'; context: string; index: LogIndex; reject: boolean }
>;

export type Message =
  | VoteRequest
  | VoteResponse
  | AppendRequest
  | AppendResponse
  | Heartbeat
  | HeartbeatResponse
  | SnapshotChunk
  | SnapshotResponse
  | TimeoutNow
  | ReadIndexRequest
  | ReadIndexResponse;
export type MessageType = Message['type'];

export type Role = 'follower' | 'preCandidate' | 'candidate' | 'leader' | 'learner';

/** Volatile state, reported so the driver can redirect clients and expose status. */
export type SoftState = Readonly<{ leader: NodeId | null; role: Role }>;

/** A linearizable read is safe to serve once the local state machine has applied
 * `index`. `context` is the caller's token given to `readIndex()`. */
export type ReadState = Readonly<{ context: string; index: LogIndex }>;

/** A read that can no longer be served here (leadership lost, forwarded read refused). */
export type ReadFailure = Readonly<{ context: string; reason: 'notLeader' | 'dropped' }>;

/**
 * The output of the core, to be handled in this order by the driver:
 *  1. persist `snapshot` (if any), then `entries` (which overwrite the log from
 *     entries[0].index on, truncating anything after), then `hardState` — in one
 *     fsync'd batch when `mustSync`;
 *  2. only then send `messages` (they may depend on what was just persisted);
 *  3. install `snapshot` into the state machine, then apply `committed` in order;
 *  4. serve `readStates` once applied ≥ index; fail `readFailures`;
 *  5. call `advance(ready)`.
 */
export type Ready = Readonly<{
  softState: SoftState;
  hardState: HardState | null;
  entries: readonly Entry[];
  snapshot: Snapshot | null;
  committed: readonly Entry[];
  messages: readonly Message[];
  readStates: readonly ReadState[];
  readFailures: readonly ReadFailure[];
  mustSync: boolean;
}>;

/** What the driver hands to a core at (re)start, as loaded from durable storage. */
export type RaftBoot = Readonly<{
  hardState: HardState;
  snapshot: Snapshot | null;
  /** Entries after the snapshot, contiguous, in order. */
  entries: readonly Entry[];
  /** Membership to use when there is no snapshot and no conf entry yet. */
  initialConf: ConfState;
  /** Index already applied by the state machine (0 when it is rebuilt from the snapshot). */
  applied: LogIndex;
}>;

export type RaftConfig = Readonly<{
  id: NodeId;
  electionTimeoutTicks: number;
  heartbeatTicks: number;
  preVote: boolean;
  checkQuorum: boolean;
  /** Entries per append message, and bytes per append message. */
  appendEntriesMax: number;
  appendBytesMax: number;
  /** Append messages in flight to one follower before the leader waits for acks. */
  inflightAppendsMax: number;
  /** Proposed but not yet committed bytes; beyond this propose() fails with RAFT_ERR_OVERLOADED. */
  uncommittedBytesMax: number;
  snapshotChunkBytes: number;
  /** Skip a periodic heartbeat (one carrying no read round) to a follower that was sent an
   * append since the last one and acknowledged within the interval: the append already
   * reset its election timer and carried the commit index. With a hundred busy groups on a
   * store (30 ms heartbeats) they are thousands of messages a second, as many as the
   * workload's own (an estimate). Off when absent (the core's own tests stay as they
   * were; the simulator draws it per seed); RaftHost turns it on. */
  heartbeatsSkipBusy?: boolean;
  /** Send no append only to tell followers a new commit index: it rides on the next append
   * that carries entries, or on a heartbeat (hashicorp/raft's CommitTimeout does the
   * same). A follower learns it one entry late under load and at most two heartbeat
   * intervals late when the group goes idle; nothing waits for that — clients are
   * answered by the leader, a new leader commits an entry of its own before it serves
   * anything, and a quiesce notice carries the commit. With a hundred groups on a store,
   * each seeing an entry every few milliseconds, the commit-only appends and their answers
   * were nearly half of the stores' Raft messages (`bench reserve --shards 100`), and with
   * two busy groups 40% of the appends. Off when absent (the core's own tests stay as they
   * were; the simulator draws it per seed); RaftHost turns it on. */
  commitRidesAlong?: boolean;
  /** Seeded source of randomness for election timeouts (the core never calls Math.random). */
  random: () => number;
  /** Leader's wall clock for entry timestamps, injected so the simulator controls it. */
  nowMs: () => number;
}>;

/** The core's public face; the driver and the simulator use nothing else. */
export interface RaftCore {
  tick(): void;
  step(message: Message): void;
  /** Appends `data` if leader; returns the entry's index, or a typed error. */
  propose(data: Uint8Array): RaftResult<LogIndex>;
  proposeConfChange(change: ConfChange): RaftResult<LogIndex>;
  /** Starts a linearizable read; its outcome arrives as a ReadState or ReadFailure. */
  readIndex(context: string): void;
  transferLeadership(to: NodeId): RaftResult<void>;
  /** The state machine has applied through `index` and serialized itself as `data`:
   * the core keeps this snapshot for lagging followers and drops entries ≤ index. */
  compact(index: LogIndex, data: Uint8Array): void;
  /** Storage failed: stop acknowledging (step down, refuse proposals) until restarted. */
  fail(reason: string): void;
  /** A leader leaves leadership now, in its term (no-op otherwise): its host's store
   * liveness says a majority of its voters' stores went silent, which check-quorum would
   * find only at the end of an election timeout. Always safe: stepping down decides nothing. */
  stepDown(): void;
  /** The current term (status().term, without building the status: read per proposal). */
  readonly term: Term;
  hasReady(): boolean;
  ready(): Ready;
  advance(ready: Ready): void;
  status(): RaftStatus;
}

export type PeerStatus = Readonly<{
  id: NodeId;
  voter: boolean;
  matchIndex: LogIndex;
  nextIndex: LogIndex;
  state: 'probe' | 'replicate' | 'snapshot';
  recentActive: boolean;
}>;

export type RaftStatus = Readonly<{
  id: NodeId;
  role: Role;
  term: Term;
  vote: NodeId | null;
  leader: NodeId | null;
  commit: LogIndex;
  applied: LogIndex;
  lastIndex: LogIndex;
  firstIndex: LogIndex;
  snapshotIndex: LogIndex;
  conf: ConfState;
  /** Only meaningful on the leader. */
  peers: readonly PeerStatus[];
  /** How this node won the leadership it holds: an election after a timeout, or a
   * leadership transfer (it campaigned on the old leader's TimeoutNow). Null unless leader. */
  leadership: 'election' | 'transfer' | null;
  failed: string | null;
}>;

export type RaftErrorCode =
  | 'RAFT_ERR_NOT_LEADER'
  | 'RAFT_ERR_OVERLOADED'
  | 'RAFT_ERR_CONF_CHANGE_PENDING'
  | 'RAFT_ERR_TRANSFER_IN_PROGRESS'
  | 'RAFT_ERR_UNKNOWN_NODE'
  | 'RAFT_ERR_FAILED'
  | 'RAFT_ERR_COMPACTED'
  | 'RAFT_ERR_CORRUPT'
  | 'RAFT_ERR_STORAGE'
  | 'RAFT_ERR_TIMEOUT'
  | 'RAFT_ERR_CLOSED';

export type RaftError = Readonly<{ code: RaftErrorCode; message: string; leaderHint: NodeId | null }>;
export type RaftResult<T> = Readonly<{ ok: true; value: T }> | Readonly<{ ok: false; error: RaftError }>;
