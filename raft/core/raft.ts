// The Raft state machine of one group member: elections (with pre-vote and check-quorum),
// log replication (probe/replicate/snapshot flow control, pipelining, batching), commit,
// ReadIndex, leader transfer, chunked snapshots and single-server membership change.
// It is pure: inputs are tick/step/propose/..., outputs are collected into a Ready.
// Time is counted in ticks; randomness and the clock for entry timestamps come from the
// config. Nothing here is module-level, so any number of groups can share a process.
// Per-follower flow control lives in replication.ts; the log in log.ts; read rounds in
// read-only.ts; snapshot assembly in snapshot-receiver.ts.
import assert from 'node:assert';
import type {
  ConfChange,
  ConfState,
  Entry,
  EntryKind,
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
import {
  entryOverheadBytes,
  promoteLagEntriesMax,
  readsForwardedMax,
  readsPendingMax,
} from '../limits.js';
import { RaftLog, entryBytes } from './log.js';
import { Replication, type ReplicationHost } from './replication.js';
import type { Outgoing } from './outgoing.js';
import { quorumMatchIndex, voteOutcome } from './quorum.js';
import { ReadOnly, type ReadRequest } from './read-only.js';
import { SnapshotReceiver } from './snapshot-receiver.js';
import { confAfter, encodeConfChange, isMember, isVoter } from './conf.js';
import { validateConfig } from './config.js';
import { type PlantedBugs, assertPlantedBugs, noPlantedBugs } from './planted-bugs.js';

type State = 'follower' | 'preCandidate' | 'candidate' | 'leader';

const EMPTY = new Uint8Array(0);

export class Raft implements RaftCore {
  private readonly cfg: RaftConfig;
  private readonly id: NodeId;
  /** Deliberate bugs; production always runs on noPlantedBugs (see planted-bugs.ts). */
  private readonly bugs: PlantedBugs;
  private readonly initialConf: ConfState;

  private term: Term;
  private vote: NodeId | null;
  private state: State = 'follower';
  private lead: NodeId | null = null;
  private readonly log: RaftLog;
  /** Latest snapshot held (taken locally by compact() or installed from the leader). */
  private snapshot: Snapshot | null;
  private conf: ConfState;
  /** Index of the conf entry (or snapshot) that defines `conf`. */
  private confIndex: LogIndex = 0;

  private applied: LogIndex;
  /** Committed entries up to here were handed out in a Ready. */
  private committedEmitted: LogIndex;

  private electionElapsed = 0;
  private heartbeatElapsed = 0;
  private randomizedElectionTimeout = 0;

  /** Leader only: per-follower progress and what to send them. */
  private repl: Replication;
  private readonly replHost: ReplicationHost;
  private readonly votes = new Map<NodeId, boolean>();
  private readOnly: ReadOnly;
  private readsAwaitingCommit: ReadRequest[] = [];
  /** Reads this follower forwarded: context → the leader it asked. */
  private readonly readsForwarded = new Map<string, NodeId>();
  private leadTransferee: NodeId | null = null;
  /** Whether the current (or last) candidacy was started by a TimeoutNow. */
  private campaignIsTransfer = false;
  private uncommittedBytes = 0;
  /** Leader: proposals or a commit advance wait to be sent (built at ready()). */
  private needBroadcast = false;

  private msgs: Message[] = [];
  private readStates: ReadState[] = [];
  private readFailures: ReadFailure[] = [];
  private failed: string | null = null;
  private readonly receiver = new SnapshotReceiver();
  /** A snapshot installed from the leader, not yet persisted and applied by the driver. */
  private pendingSnapshot: Snapshot | null = null;
  private pendingSnapshotEmitted = false;

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
    this.recomputeConf();
    this.readOnly = new ReadOnly(this.id, `${this.id}/${this.term}`);
    this.replHost = {
      id: this.id, cfg: this.cfg, log: this.log, snapshot: () => this.snapshot, send: (m) => this.send(m),
    };
    this.repl = new Replication(this.replHost);
    this.resetRandomizedElectionTimeout();
    this.prevSoft = this.softState();
    this.prevHard = { term: this.term, vote: this.vote, commit: boot.hardState.commit };
  }

  // ---------------------------------------------------------------- public API: inputs

  tick(): void {
    if (this.failed !== null) return;
    if (this.state === 'leader') this.tickLeader();
    else this.tickElection();
  }

  step(m: Message): void {
    if (this.failed !== null || m.to !== this.id || m.from === this.id) return;
    if (m.term > this.term) {
      if (m.type === 'vote' || m.type === 'preVote') {
        const inLease =
          (this.cfg.checkQuorum || this.cfg.preVote) &&
          this.lead !== null &&
          this.electionElapsed < this.cfg.electionTimeoutTicks;
        if (!m.transfer && inLease) {
          // We heard from a live leader recently: this candidate is disruptive.
          if (m.type === 'preVote') this.send({ type: 'preVoteResp', to: m.from, reject: true });
          return;
        }
      }
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
      this.handleVoteRequest(m);
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
    return ok(this.appendLocal('normal', data));
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
    const invalid = this.validateConfChange(change);
    if (invalid !== null) return invalid;
    return ok(this.appendLocal('conf', encodeConfChange(change)));
  }

  readIndex(context: string): void {
    if (this.failed !== null) {
      this.readFailures.push({ context, reason: 'notLeader' });
      return;
    }
    if (this.state === 'leader') {
      if (this.bugs.readWithoutReadIndex) {
        this.readStates.push({ context, index: this.log.committed });
        return;
      }
      this.leaderRead({ from: this.id, context });
      return;
    }
    if (this.lead === null) {
      this.readFailures.push({ context, reason: 'notLeader' });
      return;
    }
    if (this.readsForwarded.size >= readsForwardedMax || this.readsForwarded.has(context)) {
      this.readFailures.push({ context, reason: 'dropped' });
      return;
    }
    this.readsForwarded.set(context, this.lead);
    this.send({ type: 'readIndex', to: this.lead, context });
  }

  transferLeadership(to: NodeId): RaftResult<void> {
    if (this.failed !== null) return raftError('RAFT_ERR_FAILED', `node failed: ${this.failed}`);
    if (this.state !== 'leader') return raftError('RAFT_ERR_NOT_LEADER', 'not the leader', this.lead);
    if (to === this.id) return ok(undefined);
    if (!isVoter(this.conf, to)) return raftError('RAFT_ERR_UNKNOWN_NODE', `${to} is not a voter`, this.id);
    if (this.leadTransferee !== null) {
      if (this.leadTransferee === to) return ok(undefined);
      return raftError('RAFT_ERR_TRANSFER_IN_PROGRESS', `transfer to ${this.leadTransferee} in progress`, this.id);
    }
    this.leadTransferee = to;
    // The transfer is aborted if it has not completed within an election timeout.
    this.electionElapsed = 0;
    if (this.repl.get(to)?.match === this.log.lastIndex()) this.send({ type: 'timeoutNow', to });
    else this.repl.maybeSendAppend(to, true);
    return ok(undefined);
  }

  compact(index: LogIndex, data: Uint8Array): void {
    if (index <= this.log.snapIndex) return;
    assert(index <= this.applied, `compact to ${index} beyond applied ${this.applied}`);
    const { conf } = this.confAt(index);
    const term = this.log.term(index)!;
    this.log.compact(index);
    this.snapshot = { meta: { index, term, conf }, data };
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

  hasReady(): boolean {
    if (!sameSoft(this.softState(), this.prevSoft) || this.readFailures.length > 0) return true;
    if (this.failed !== null) return false;
    if (this.state === 'leader' && this.needBroadcast) return true;
    return (
      !sameHard(this.hardState(), this.prevHard) ||
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
      this.maybeCommit();
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

  // ---------------------------------------------------------------- roles and elections

  private role(): Role {
    if (this.state === 'follower') return this.conf.learners.includes(this.id) ? 'learner' : 'follower';
    return this.state;
  }

  private softState(): SoftState {
    return { leader: this.lead, role: this.role() };
  }

  private hardState(): HardState {
    const vote = this.bugs.voteNotPersisted ? null : this.vote;
    return { term: this.term, vote, commit: this.log.committed };
  }

  private promotable(): boolean {
    return this.failed === null && isVoter(this.conf, this.id) && this.pendingSnapshot === null;
  }

  private resetRandomizedElectionTimeout(): void {
    const base = this.cfg.electionTimeoutTicks;
    const r = this.cfg.random();
    assert(r >= 0 && r < 1, `config.random() returned ${r}, outside [0, 1)`);
    this.randomizedElectionTimeout = base + Math.floor(r * base);
  }

  private reset(term: Term): void {
    if (this.term !== term) {
      assert(term > this.term, `term must not go back from ${this.term} to ${term}`);
      this.term = term;
      this.vote = null;
      // Answers to reads forwarded in the old term would be dropped as stale.
      for (const context of this.readsForwarded.keys()) this.readFailures.push({ context, reason: 'dropped' });
      this.readsForwarded.clear();
    }
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.resetRandomizedElectionTimeout();
    this.leadTransferee = null;
    this.votes.clear();
  }

  private becomeFollower(term: Term, lead: NodeId | null): void {
    const wasLeader = this.state === 'leader';
    this.reset(term);
    this.state = 'follower';
    if (wasLeader) this.failLeaderReads();
    this.setLead(lead);
  }

  private setLead(lead: NodeId | null): void {
    if (this.lead === lead) return;
    this.lead = lead;
    // Reads forwarded to another leader will not be answered by the new one.
    for (const [context, to] of this.readsForwarded) {
      if (to !== lead) {
        this.readsForwarded.delete(context);
        this.readFailures.push({ context, reason: 'dropped' });
      }
    }
  }

  private becomeLeader(): void {
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
    this.appendLocal('noop', EMPTY);
  }

  private tickElection(): void {
    this.electionElapsed += 1;
    if (this.promotable() && this.electionElapsed >= this.randomizedElectionTimeout) {
      this.electionElapsed = 0;
      this.hup(false);
    }
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

  private hup(transfer: boolean): void {
    if (this.state === 'leader') return;
    if (this.cfg.preVote && !transfer) this.campaignPre();
    else this.campaign(transfer);
  }

  private campaignPre(): void {
    this.state = 'preCandidate';
    this.votes.clear();
    this.setLead(null);
    this.votes.set(this.id, true);
    if (this.tally() !== 'pending') return;
    this.requestVotes('preVote', this.term + 1, false);
  }

  private campaign(transfer: boolean): void {
    this.campaignIsTransfer = transfer;
    this.reset(this.term + 1);
    this.state = 'candidate';
    this.setLead(null);
    this.vote = this.id;
    this.votes.set(this.id, true);
    if (this.tally() !== 'pending') return;
    this.requestVotes('vote', this.term, transfer);
  }

  private requestVotes(type: 'preVote' | 'vote', term: Term, transfer: boolean): void {
    for (const to of this.conf.voters) {
      if (to === this.id) continue;
      this.send({
        type, to, term, lastLogIndex: this.log.lastIndex(), lastLogTerm: this.log.lastTerm(), transfer,
      });
    }
  }

  /** Counts votes and acts on a decided election. */
  private tally(): 'won' | 'lost' | 'pending' {
    const outcome = voteOutcome(this.conf.voters, this.votes);
    if (outcome === 'won') {
      if (this.state === 'preCandidate') this.campaign(false);
      else this.becomeLeader();
    } else if (outcome === 'lost') {
      this.becomeFollower(this.term, null);
    }
    return outcome;
  }

  private handleVoteRequest(m: Extract<Message, { type: 'vote' | 'preVote' }>): void {
    const canVote =
      this.vote === m.from ||
      (this.vote === null && this.lead === null) ||
      (m.type === 'preVote' && m.term > this.term);
    const logOk = this.bugs.voteForStaleLog || this.log.isUpToDate(m.lastLogIndex, m.lastLogTerm);
    const respType = m.type === 'vote' ? 'voteResp' : 'preVoteResp';
    if (canVote && logOk) {
      // Answer with the request's term so a pre-candidate can count a granted pre-vote.
      this.send({ type: respType, to: m.from, term: m.term, reject: false });
      if (m.type === 'vote') {
        this.electionElapsed = 0;
        this.vote = m.from;
      }
    } else {
      this.send({ type: respType, to: m.from, reject: true });
    }
  }

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

  // ---------------------------------------------------------------- per-role message handling

  private stepFollower(m: Message): void {
    switch (m.type) {
      case 'append':
      case 'heartbeat':
      case 'snapshot':
        this.electionElapsed = 0;
        this.setLead(m.from);
        this.handleFromLeader(m);
        return;
      case 'timeoutNow':
        if (this.promotable()) this.hup(true);
        return;
      case 'readIndex':
        this.send({ type: 'readIndexResp', to: m.from, context: m.context, index: 0, reject: true });
        return;
      case 'readIndexResp': {
        if (!this.readsForwarded.has(m.context)) return;
        this.readsForwarded.delete(m.context);
        if (m.reject) this.readFailures.push({ context: m.context, reason: 'notLeader' });
        else this.readStates.push({ context: m.context, index: m.index });
        return;
      }
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
        this.handleFromLeader(m);
        return;
      case 'preVoteResp':
      case 'voteResp':
        if ((m.type === 'preVoteResp') !== (this.state === 'preCandidate')) return;
        this.votes.set(m.from, !m.reject);
        this.tally();
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
        this.handleAppendResp(m);
        return;
      case 'heartbeatResp':
        this.handleHeartbeatResp(m);
        return;
      case 'snapshotResp':
        this.repl.onSnapshotResp(m);
        return;
      case 'readIndex':
        this.leaderRead({ from: m.from, context: m.context });
        return;
      default:
        return;
    }
  }

  // ---------------------------------------------------------------- follower: log and snapshots

  private handleFromLeader(m: Extract<Message, { type: 'append' | 'heartbeat' | 'snapshot' }>): void {
    if (m.type === 'append') this.handleAppend(m);
    else if (m.type === 'heartbeat') this.handleHeartbeat(m);
    else this.handleSnapshot(m);
  }

  private handleAppend(m: Extract<Message, { type: 'append' }>): void {
    const log = this.log;
    if (m.prevIndex < log.committed) {
      this.send({ type: 'appendResp', to: m.from, reject: false, index: log.committed, hintIndex: 0, hintTerm: 0 });
      return;
    }
    if (!log.matchTerm(m.prevIndex, m.prevTerm)) {
      const hint = log.findConflictByTerm(Math.min(m.prevIndex, log.lastIndex()), m.prevTerm);
      this.send({
        type: 'appendResp', to: m.from, reject: true, index: m.prevIndex, hintIndex: hint.index, hintTerm: hint.term,
      });
      return;
    }
    const lastNew = m.prevIndex + m.entries.length;
    const conflict = log.findConflict(m.entries);
    if (conflict !== 0) {
      assert(conflict > log.committed, `conflict at ${conflict} inside committed prefix ${log.committed}`);
      const suffix = m.entries.slice(conflict - m.prevIndex - 1);
      const truncates = conflict <= log.lastIndex();
      if (truncates && this.bugs.noTruncateOnConflict) log.overwriteInPlace(suffix);
      else log.truncateAndAppend(suffix);
      if (truncates || suffix.some((e) => e.kind === 'conf')) this.recomputeConf();
    }
    log.commitTo(Math.min(m.commit, lastNew));
    this.send({ type: 'appendResp', to: m.from, reject: false, index: lastNew, hintIndex: 0, hintTerm: 0 });
  }

  private handleHeartbeat(m: Extract<Message, { type: 'heartbeat' }>): void {
    // The leader sends min(our match, its commit), so this prefix is known to match.
    this.log.commitTo(Math.min(m.commit, this.log.lastIndex()));
    this.send({ type: 'heartbeatResp', to: m.from, context: m.context });
  }

  private handleSnapshot(m: Extract<Message, { type: 'snapshot' }>): void {
    const reply = (offset: number, done: boolean, reject: boolean): void =>
      this.send({ type: 'snapshotResp', to: m.from, index: m.meta.index, offset, done, reject });
    if (m.meta.index <= this.log.committed) {
      // We already hold everything it covers.
      this.receiver.reset();
      reply(m.totalBytes, true, false);
      return;
    }
    const outcome = this.receiver.receive(m);
    if (outcome.kind === 'reject') reply(0, false, true);
    else if (outcome.kind === 'partial') reply(outcome.offset, false, false);
    else {
      this.installSnapshot(outcome.snapshot);
      reply(m.totalBytes, true, false);
    }
  }

  private installSnapshot(snap: Snapshot): void {
    const { index, term } = snap.meta;
    assert(index > this.log.committed, 'install of a snapshot not ahead of commit');
    if (this.log.matchTerm(index, term)) {
      // Our log already has the snapshot's last entry: just commit up to it.
      this.log.commitTo(index);
      return;
    }
    assert(this.committedEmitted <= this.log.committed, 'emitted committed entries beyond commit');
    this.log.restore(index, term);
    this.snapshot = snap;
    this.pendingSnapshot = snap;
    this.pendingSnapshotEmitted = false;
    this.committedEmitted = index;
    this.recomputeConf();
  }

  // ---------------------------------------------------------------- leader: replication

  private refuseProposal(): ReturnType<typeof raftError> | null {
    if (this.failed !== null) return raftError('RAFT_ERR_FAILED', `node failed: ${this.failed}`);
    if (this.state !== 'leader') return raftError('RAFT_ERR_NOT_LEADER', 'not the leader', this.lead);
    if (this.leadTransferee !== null) {
      return raftError('RAFT_ERR_TRANSFER_IN_PROGRESS', `leadership moving to ${this.leadTransferee}`, this.leadTransferee);
    }
    return null;
  }

  private validateConfChange(change: ConfChange): ReturnType<typeof raftError> | null {
    const { node } = change;
    if (change.type === 'promote') {
      if (!this.conf.learners.includes(node)) return raftError('RAFT_ERR_UNKNOWN_NODE', `${node} is not a learner`, this.id);
      const pr = this.repl.get(node);
      const lag = this.log.lastIndex() - (pr?.match ?? 0);
      if (pr === undefined || lag > promoteLagEntriesMax) {
        // Retryable: the learner is still catching up.
        return raftError('RAFT_ERR_CONF_CHANGE_PENDING', `learner ${node} is ${lag} entries behind`, this.id);
      }
    } else if (change.type === 'remove') {
      if (!isMember(this.conf, node)) return raftError('RAFT_ERR_UNKNOWN_NODE', `${node} is not a member`, this.id);
      if (this.conf.voters.length === 1 && this.conf.voters[0] === node) {
        return raftError('RAFT_ERR_CONF_CHANGE_PENDING', 'cannot remove the last voter', this.id);
      }
    }
    return null;
  }

  /** Appends one entry of ours to the local log (leader only). */
  private appendLocal(kind: EntryKind, data: Uint8Array): LogIndex {
    assert(this.state === 'leader', 'only a leader appends');
    const entry: Entry = { term: this.term, index: this.log.lastIndex() + 1, kind, timestampMs: this.cfg.nowMs(), data };
    this.log.truncateAndAppend([entry]);
    if (kind === 'conf') this.recomputeConf();
    this.needBroadcast = true;
    return entry.index;
  }

  private handleAppendResp(m: Extract<Message, { type: 'appendResp' }>): void {
    if (this.repl.onAppendResp(m)) {
      this.maybeCommit();
      if (this.state !== 'leader') return;
      if (m.from === this.leadTransferee && this.repl.get(m.from)?.match === this.log.lastIndex()) {
        this.send({ type: 'timeoutNow', to: m.from });
      }
    }
    this.repl.sendAll(m.from);
  }

  private handleHeartbeatResp(m: Extract<Message, { type: 'heartbeatResp' }>): void {
    this.repl.onHeartbeatResp(m);
    if (m.context === '') return;
    for (const round of this.readOnly.ack(m.from, m.context, this.conf.voters)) {
      for (const req of round.requests) this.answerRead(req, round.index);
    }
  }

  private maybeCommit(): void {
    if (this.state !== 'leader') return;
    const log = this.log;
    const mci = quorumMatchIndex(this.conf.voters, (id) =>
      id === this.id ? log.persistedIndex() : (this.repl.get(id)?.match ?? 0),
    );
    if (mci <= log.committed) return;
    // Only entries of the current term commit by counting replicas (§5.4.2).
    if (log.term(mci) !== this.term && !this.bugs.commitOldTermByCount) return;
    const before = log.committed;
    log.commitTo(mci);
    this.afterLeaderCommit(before);
  }

  private afterLeaderCommit(before: LogIndex): void {
    const log = this.log;
    for (let i = before + 1; i <= log.committed; i++) {
      const e = log.entry(i);
      if (e !== undefined && e.term === this.term && e.kind === 'normal') this.uncommittedBytes -= entryBytes(e);
    }
    if (this.uncommittedBytes < 0) this.uncommittedBytes = 0;
    this.needBroadcast = true;
    if (log.term(log.committed) === this.term && this.readsAwaitingCommit.length > 0) {
      const waiting = this.readsAwaitingCommit;
      this.readsAwaitingCommit = [];
      for (const req of waiting) this.leaderRead(req);
    }
    if (!isVoter(this.conf, this.id) && this.confIndex <= log.committed) {
      // Our removal is committed: tell the others the commit index, hand leadership to
      // an up-to-date voter (so nobody waits for an election timeout), then step down.
      this.repl.broadcastAppends();
      const heir = this.conf.voters.find((id) => id !== this.id && this.repl.get(id)?.match === log.lastIndex());
      if (heir !== undefined) this.send({ type: 'timeoutNow', to: heir });
      this.becomeFollower(this.term, null);
    }
  }

  // ---------------------------------------------------------------- leader: reads

  private leaderRead(req: ReadRequest): void {
    if (this.readOnly.size + this.readsAwaitingCommit.length >= readsPendingMax) {
      this.failRead(req, 'dropped');
      return;
    }
    if (this.log.term(this.log.committed) !== this.term) {
      // Our commit index may be behind the previous leader's until we commit our noop.
      this.readsAwaitingCommit.push(req);
      return;
    }
    if (this.conf.voters.length === 1 && this.conf.voters[0] === this.id) {
      this.answerRead(req, this.log.committed);
      return;
    }
    const round = this.readOnly.add(this.log.committed, req);
    if (round !== null) this.repl.broadcastHeartbeat(round.ctx);
  }

  private answerRead(req: ReadRequest, index: LogIndex): void {
    if (req.from === this.id) this.readStates.push({ context: req.context, index });
    else this.send({ type: 'readIndexResp', to: req.from, context: req.context, index, reject: false });
  }

  private failRead(req: ReadRequest, reason: ReadFailure['reason']): void {
    if (req.from === this.id) this.readFailures.push({ context: req.context, reason });
    else this.send({ type: 'readIndexResp', to: req.from, context: req.context, index: 0, reject: true });
  }

  private failLeaderReads(): void {
    const reqs = [...this.readsAwaitingCommit, ...this.readOnly.drain()];
    this.readsAwaitingCommit = [];
    for (const req of reqs) this.failRead(req, 'notLeader');
  }

  // ---------------------------------------------------------------- membership

  private confAt(index: LogIndex): { conf: ConfState; index: LogIndex } {
    const base = this.snapshot !== null ? this.snapshot.meta.conf : this.initialConf;
    return confAfter(base, this.log.snapIndex, this.log.all(), index);
  }

  /** The configuration in force is the latest conf entry in the log, committed or not. */
  private recomputeConf(): void {
    assert.equal(this.snapshot?.meta.index ?? 0, this.log.snapIndex, 'snapshot and log boundary disagree');
    const { conf, index } = this.confAt(Infinity);
    this.conf = conf;
    this.confIndex = index;
    if (this.state === 'leader') {
      this.syncProgress();
      this.maybeCommit();
    }
  }

  private syncProgress(): void {
    this.repl.sync(this.conf);
    if (this.leadTransferee !== null && !isVoter(this.conf, this.leadTransferee)) this.leadTransferee = null;
  }

  private send(m: Outgoing): void {
    this.msgs.push({ term: this.term, ...m, from: this.id } as Message);
  }
}

function sameSoft(a: SoftState, b: SoftState): boolean {
  return a.leader === b.leader && a.role === b.role;
}

function sameHard(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}
