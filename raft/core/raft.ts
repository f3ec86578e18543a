// The Raft state machine of one group member: elections (with pre-vote and check-quorum),
// log replication (probe/replicate/snapshot flow control, pipelining, batching), commit,
// ReadIndex, leader transfer, chunked snapshots and single-server membership change.
// It is pure: inputs are tick/step/propose/..., outputs are collected into a Ready.
// Time is counted in ticks; randomness and the clock for entry timestamps come from the
// config. Nothing here is module-level, so any number of groups can share a process.
// This file holds the state, the public API, role changes and the per-role dispatch of
// messages; the work is done by functions over this state in election.ts, append.ts
// (appends, heartbeats, snapshots, commit), read-index.ts, transfer.ts and membership.ts.
// Per-follower flow control lives in replication.ts; the log in log.ts; read rounds in
// read-only.ts; snapshot assembly in snapshot-receiver.ts.
import assert from 'node:assert';
import type {
  ConfChange,
  ConfState,
  HardState,
  LogIndex,
  Message,
  NodeId,
  RaftBoot,
  RaftConfig,
  RaftCore,
  RaftResult,
  RaftStatus,
  ReadFailure,
  ReadState,
  Ready,
  Role,
  Snapshot,
  SoftState,
  Term,
} from '../types.js';
import { ok, raftError } from '../errors.js';
import { entryOverheadBytes } from '../limits.js';
import { RaftLog } from './log.js';
import { Replication, type ReplicationHost } from './replication.js';
import type { Outgoing } from './outgoing.js';
import { ReadOnly, type ReadRequest } from './read-only.js';
import { SnapshotReceiver } from './snapshot-receiver.js';
import { encodeConfChange, isVoter } from './conf.js';
import { validateConfig } from './config.js';
import { type PlantedBugs, assertPlantedBugs, noPlantedBugs } from './planted-bugs.js';
import { handleVoteRequest, handleVoteResp, hup, ignoreDisruptiveVote, resetRandomizedElectionTimeout, tickElection } from './election.js';
import { appendLocal, handleAppendResp, handleFromLeader, maybeCommit } from './append.js';
import {
  ackReadRound, dropForwardedReads, dropReadsForwardedElsewhere, failLeaderReads, handleReadIndexResp, leaderRead, startRead,
} from './read-index.js';
import { startTransfer } from './transfer.js';
import { confAt, recomputeConf, validateConfChange } from './membership.js';

type State = 'follower' | 'preCandidate' | 'candidate' | 'leader';

const EMPTY = new Uint8Array(0);

/** The core. Its fields are not private because the helper modules of this folder work
 * on them (as etcd's raft.go and its siblings share one struct); outside raft/core/ and
 * raft/sim/planted-bugs.ts it is only ever seen as a RaftCore. */
export class Raft implements RaftCore {
  readonly cfg: RaftConfig;
  readonly id: NodeId;
  /** Deliberate bugs; production always runs on noPlantedBugs (see planted-bugs.ts). */
  readonly bugs: PlantedBugs;
  readonly initialConf: ConfState;

  term: Term;
  vote: NodeId | null;
  state: State = 'follower';
  lead: NodeId | null = null;
  readonly log: RaftLog;
  /** Latest snapshot held (taken locally by compact() or installed from the leader). */
  snapshot: Snapshot | null;
  conf: ConfState;
  /** Index of the conf entry (or snapshot) that defines `conf`. */
  confIndex: LogIndex = 0;

  private applied: LogIndex;
  /** Committed entries up to here were handed out in a Ready. */
  committedEmitted: LogIndex;

  electionElapsed = 0;
  private heartbeatElapsed = 0;
  randomizedElectionTimeout = 0;

  /** Leader only: per-follower progress and what to send them. */
  repl: Replication;
  private readonly replHost: ReplicationHost;
  readonly votes = new Map<NodeId, boolean>();
  readOnly: ReadOnly;
  readsAwaitingCommit: ReadRequest[] = [];
  /** Reads this follower forwarded: context → the leader it asked. */
  readonly readsForwarded = new Map<string, NodeId>();
  leadTransferee: NodeId | null = null;
  /** Whether the current (or last) candidacy was started by a TimeoutNow. */
  campaignIsTransfer = false;
  uncommittedBytes = 0;
  /** Leader: proposals or a commit advance wait to be sent (built at ready()). */
  needBroadcast = false;

  private msgs: Message[] = [];
  readStates: ReadState[] = [];
  readFailures: ReadFailure[] = [];
  failed: string | null = null;
  readonly receiver = new SnapshotReceiver();
  /** A snapshot installed from the leader, not yet persisted and applied by the driver. */
  pendingSnapshot: Snapshot | null = null;
  pendingSnapshotEmitted = false;

  private prevSoft: SoftState;
  private prevHard: HardState;

  constructor(config: RaftConfig, boot: RaftBoot, bugs: PlantedBugs = noPlantedBugs) {
    validateConfig(config);
    assertPlantedBugs(bugs);
    this.cfg = config;
    this.id = config.id;
    this.bugs = bugs;
    this.initialConf = boot.initialConf;
    this.term = boot.hardState.term;
    this.vote = boot.hardState.vote;
    this.snapshot = boot.snapshot;
    this.log = new RaftLog(boot.snapshot, boot.entries, boot.hardState.commit);
    this.applied = Math.max(boot.applied, this.log.snapIndex);
    assert(this.applied <= this.log.lastIndex(), `boot applied ${this.applied} beyond last index ${this.log.lastIndex()}`);
    // Whatever the state machine applied was committed.
    this.log.commitTo(this.applied);
    this.committedEmitted = this.applied;
    this.conf = this.initialConf;
    recomputeConf(this);
    this.readOnly = new ReadOnly(this.id, `${this.id}/${this.term}`);
    this.replHost = {
      id: this.id, cfg: this.cfg, log: this.log, snapshot: () => this.snapshot, send: (m) => this.send(m),
    };
    this.repl = new Replication(this.replHost);
    resetRandomizedElectionTimeout(this);
    this.prevSoft = this.softState();
    this.prevHard = { term: this.term, vote: this.vote, commit: boot.hardState.commit };
  }

  // ---------------------------------------------------------------- public API: inputs

  tick(): void {
    if (this.failed !== null) return;
    if (this.state === 'leader') this.tickLeader();
    else tickElection(this);
  }

  step(m: Message): void {
    if (this.failed !== null || m.to !== this.id || m.from === this.id) return;
    if (m.term > this.term) {
      if ((m.type === 'vote' || m.type === 'preVote') && ignoreDisruptiveVote(this, m)) return;
      if (m.type === 'preVote' || (m.type === 'preVoteResp' && !m.reject)) {
        // Pre-votes never change terms: the pre-candidate bumps its own when it wins.
      } else {
        const fromLeader = m.type === 'append' || m.type === 'heartbeat' || m.type === 'snapshot';
        this.becomeFollower(m.term, fromLeader ? m.from : null);
      }
    } else if (m.term < this.term) {
      this.stepStale(m);
      return;
    }
    if (m.type === 'vote' || m.type === 'preVote') {
      handleVoteRequest(this, m);
      return;
    }
    if (this.state === 'leader') this.stepLeader(m);
    else if (this.state === 'follower') this.stepFollower(m);
    else this.stepCandidate(m);
  }

  propose(data: Uint8Array): RaftResult<LogIndex> {
    const refused = this.refuseProposal();
    if (refused !== null) return refused;
    const bytes = data.byteLength + entryOverheadBytes;
    if (this.uncommittedBytes > 0 && this.uncommittedBytes + bytes > this.cfg.uncommittedBytesMax) {
      return raftError('RAFT_ERR_OVERLOADED', `uncommitted bytes would exceed ${this.cfg.uncommittedBytesMax}`, this.id);
    }
    this.uncommittedBytes += bytes;
    return ok(appendLocal(this, 'normal', data));
  }

  proposeConfChange(change: ConfChange): RaftResult<LogIndex> {
    const refused = this.refuseProposal();
    if (refused !== null) return refused;
    if (this.confIndex > this.log.committed) {
      return raftError('RAFT_ERR_CONF_CHANGE_PENDING', `conf change at ${this.confIndex} not committed yet`, this.id);
    }
    if (this.log.term(this.log.committed) !== this.term) {
      // A new leader must commit an entry of its term before changing membership, or a
      // change of an earlier term may still be rolled back (Ongaro's single-server fix).
      return raftError('RAFT_ERR_CONF_CHANGE_PENDING', 'leader has not committed an entry of its term yet', this.id);
    }
    const invalid = validateConfChange(this, change);
    if (invalid !== null) return invalid;
    return ok(appendLocal(this, 'conf', encodeConfChange(change)));
  }

  readIndex(context: string): void {
    startRead(this, context);
  }

  transferLeadership(to: NodeId): RaftResult<void> {
    return startTransfer(this, to);
  }

  compact(index: LogIndex, data: Uint8Array): void {
    if (index <= this.log.snapIndex) return;
    assert(index <= this.applied, `compact to ${index} beyond applied ${this.applied}`);
    const { conf } = confAt(this, index);
    const term = this.log.term(index)!;
    this.log.compact(index);
    this.snapshot = { meta: { index, term, conf }, data };
  }

  stepDown(): void {
    if (this.state === 'leader') this.becomeFollower(this.term, null);
  }

  fail(reason: string): void {
    if (this.failed !== null) return;
    if (this.state !== 'follower') this.becomeFollower(this.term, null);
    this.setLead(null);
    this.failed = reason;
    this.msgs = [];
    this.readStates = [];
  }

  // ---------------------------------------------------------------- public API: outputs

  /** Asked after every step of every group, so it compares fields rather than building
   * the soft and hard states it would compare. */
  hasReady(): boolean {
    if (this.lead !== this.prevSoft.leader || this.role() !== this.prevSoft.role || this.readFailures.length > 0) return true;
    if (this.failed !== null) return false;
    if (this.state === 'leader' && this.needBroadcast) return true;
    const hard = this.prevHard;
    return (
      this.term !== hard.term ||
      this.hardVote() !== hard.vote ||
      this.log.committed !== hard.commit ||
      this.log.unstableFrom <= this.log.lastIndex() ||
      (this.pendingSnapshot !== null && !this.pendingSnapshotEmitted) ||
      this.log.committed > this.committedEmitted ||
      this.msgs.length > 0 ||
      this.readStates.length > 0
    );
  }

  ready(): Ready {
    const softState = this.softState();
    this.prevSoft = softState;
    const readFailures = this.readFailures;
    this.readFailures = [];
    if (this.failed !== null) {
      return {
        softState, hardState: null, entries: [], snapshot: null, committed: [], messages: [],
        readStates: [], readFailures, mustSync: false,
      };
    }
    if (this.state === 'leader') {
      if (this.needBroadcast) {
        this.needBroadcast = false;
        this.repl.broadcastAppends();
      }
      this.readOnly.seal();
    }
    const hs = this.hardState();
    const hardChanged = !sameHard(hs, this.prevHard);
    const mustSync = hs.term !== this.prevHard.term || hs.vote !== this.prevHard.vote;
    this.prevHard = hs;
    const entries = this.log.unstableEntries();
    let snapshot: Snapshot | null = null;
    if (this.pendingSnapshot !== null && !this.pendingSnapshotEmitted) {
      snapshot = this.pendingSnapshot;
      this.pendingSnapshotEmitted = true;
    }
    const committed =
      this.log.committed > this.committedEmitted
        ? this.log.slice(this.committedEmitted + 1, this.log.committed + 1)
        : [];
    this.committedEmitted = this.log.committed;
    const messages = this.msgs;
    this.msgs = [];
    const readStates = this.readStates;
    this.readStates = [];
    return {
      softState,
      hardState: hardChanged ? hs : null,
      entries,
      snapshot,
      committed,
      messages,
      readStates,
      readFailures,
      mustSync: mustSync || entries.length > 0 || snapshot !== null,
    };
  }

  advance(rd: Ready): void {
    if (this.failed !== null) return;
    if (rd.snapshot !== null) {
      if (this.pendingSnapshot !== null && this.pendingSnapshot.meta.index === rd.snapshot.meta.index) {
        this.pendingSnapshot = null;
        this.pendingSnapshotEmitted = false;
      }
      this.applied = Math.max(this.applied, rd.snapshot.meta.index);
    }
    if (rd.entries.length > 0) {
      const last = rd.entries[rd.entries.length - 1]!;
      this.log.stableTo(last.index, last.term);
    }
    if (rd.committed.length > 0) {
      this.applied = Math.max(this.applied, rd.committed[rd.committed.length - 1]!.index);
    }
    if (this.state === 'leader') {
      // The leader's own entries count towards commit only now that they are durable.
      this.repl.get(this.id)?.maybeUpdate(this.log.persistedIndex());
      maybeCommit(this);
    }
  }

  status(): RaftStatus {
    const peers = this.state === 'leader' ? this.repl.peers(this.conf) : [];
    return {
      id: this.id,
      role: this.role(),
      term: this.term,
      vote: this.vote,
      leader: this.lead,
      commit: this.log.committed,
      applied: this.applied,
      lastIndex: this.log.lastIndex(),
      firstIndex: this.log.firstIndex(),
      snapshotIndex: this.log.snapIndex,
      conf: this.conf,
      peers,
      failed: this.failed,
      leadership: this.state !== 'leader' ? null : this.campaignIsTransfer ? 'transfer' : 'election',
    };
  }

  // ---------------------------------------------------------------- roles
  // Not private: the helper modules of this folder (election, append, read-index,
  // transfer, membership) call these, as they read and write the fields above.

  private role(): Role {
    if (this.state === 'follower') return this.conf.learners.includes(this.id) ? 'learner' : 'follower';
    return this.state;
  }

  private softState(): SoftState {
    return { leader: this.lead, role: this.role() };
  }

  private hardState(): HardState {
    return { term: this.term, vote: this.hardVote(), commit: this.log.committed };
  }

  /** The vote the hard state carries (none under the planted voteNotPersisted bug). */
  private hardVote(): NodeId | null {
    return this.bugs.voteNotPersisted ? null : this.vote;
  }

  promotable(): boolean {
    return this.failed === null && isVoter(this.conf, this.id) && this.pendingSnapshot === null;
  }

  reset(term: Term): void {
    if (this.term !== term) {
      assert(term > this.term, `term must not go back from ${this.term} to ${term}`);
      this.term = term;
      this.vote = null;
      dropForwardedReads(this);
    }
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    resetRandomizedElectionTimeout(this);
    this.leadTransferee = null;
    this.votes.clear();
  }

  becomeFollower(term: Term, lead: NodeId | null): void {
    const wasLeader = this.state === 'leader';
    this.reset(term);
    this.state = 'follower';
    if (wasLeader) failLeaderReads(this);
    this.setLead(lead);
  }

  setLead(lead: NodeId | null): void {
    if (this.lead === lead) return;
    this.lead = lead;
    dropReadsForwardedElsewhere(this, lead);
  }

  becomeLeader(): void {
    assert(this.state === 'candidate', `become leader from ${this.state}`);
    this.reset(this.term);
    this.state = 'leader';
    this.setLead(this.id);
    this.repl = new Replication(this.replHost);
    this.repl.sync(this.conf);
    const self = this.repl.get(this.id);
    if (self !== undefined) {
      self.match = this.log.persistedIndex();
      self.becomeReplicate();
    }
    this.readOnly = new ReadOnly(this.id, `${this.id}/${this.term}`);
    this.readsAwaitingCommit = [];
    this.uncommittedBytes = 0;
    // Entries of earlier terms commit only by committing one of ours (§5.4.2).
    appendLocal(this, 'noop', EMPTY);
  }

  private tickLeader(): void {
    this.heartbeatElapsed += 1;
    this.electionElapsed += 1;
    this.repl.tick();
    if (this.electionElapsed >= this.cfg.electionTimeoutTicks) {
      this.electionElapsed = 0;
      if (this.cfg.checkQuorum && !this.repl.quorumActive(this.conf.voters)) {
        this.becomeFollower(this.term, null);
        return;
      }
      // A transfer that did not complete within an election timeout is abandoned.
      this.leadTransferee = null;
    }
    if (this.heartbeatElapsed < this.cfg.heartbeatTicks) return;
    this.heartbeatElapsed = 0;
    // The newest pending read round rides on the heartbeat: its quorum confirms all.
    const contexts = this.readOnly.pendingContexts();
    this.repl.broadcastHeartbeat(contexts.length > 0 ? contexts[contexts.length - 1]! : '');
    this.repl.heartbeatRound();
  }

  // ---------------------------------------------------------------- per-role message handling

  /** A message from an older term. Tell a stale leader about our term so it steps down,
   * and refuse stale pre-votes so the pre-candidate learns it is behind. */
  private stepStale(m: Message): void {
    if ((this.cfg.checkQuorum || this.cfg.preVote) && (m.type === 'append' || m.type === 'heartbeat' || m.type === 'snapshot')) {
      this.send({ type: 'appendResp', to: m.from, reject: true, index: 0, hintIndex: 0, hintTerm: 0 });
    } else if (m.type === 'preVote') {
      this.send({ type: 'preVoteResp', to: m.from, reject: true });
    } else if (m.type === 'readIndex') {
      this.send({ type: 'readIndexResp', to: m.from, context: m.context, index: 0, reject: true });
    }
  }

  private stepFollower(m: Message): void {
    switch (m.type) {
      case 'append':
      case 'heartbeat':
      case 'snapshot':
        this.electionElapsed = 0;
        this.setLead(m.from);
        handleFromLeader(this, m);
        return;
      case 'timeoutNow':
        if (this.promotable()) hup(this, true);
        return;
      case 'readIndex':
        this.send({ type: 'readIndexResp', to: m.from, context: m.context, index: 0, reject: true });
        return;
      case 'readIndexResp':
        handleReadIndexResp(this, m);
        return;
      default:
        return;
    }
  }

  private stepCandidate(m: Message): void {
    switch (m.type) {
      case 'append':
      case 'heartbeat':
      case 'snapshot':
        // A leader exists for our term: we lost this election.
        this.becomeFollower(this.term, m.from);
        handleFromLeader(this, m);
        return;
      case 'preVoteResp':
      case 'voteResp':
        handleVoteResp(this, m);
        return;
      case 'readIndex':
        this.send({ type: 'readIndexResp', to: m.from, context: m.context, index: 0, reject: true });
        return;
      default:
        return;
    }
  }

  private stepLeader(m: Message): void {
    switch (m.type) {
      case 'appendResp':
        handleAppendResp(this, m);
        return;
      case 'heartbeatResp':
        this.repl.onHeartbeatResp(m);
        if (m.context !== '') ackReadRound(this, m);
        return;
      case 'snapshotResp':
        this.repl.onSnapshotResp(m);
        return;
      case 'readIndex':
        leaderRead(this, { from: m.from, context: m.context });
        return;
      default:
        return;
    }
  }

  private refuseProposal(): ReturnType<typeof raftError> | null {
    if (this.failed !== null) return raftError('RAFT_ERR_FAILED', `node failed: ${this.failed}`);
    if (this.state !== 'leader') return raftError('RAFT_ERR_NOT_LEADER', 'not the leader', this.lead);
    if (this.leadTransferee !== null) {
      return raftError('RAFT_ERR_TRANSFER_IN_PROGRESS', `leadership moving to ${this.leadTransferee}`, this.leadTransferee);
    }
    return null;
  }

  send(m: Outgoing): void {
    this.msgs.push({ term: this.term, ...m, from: this.id } as Message);
  }
}

function sameHard(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}
