// The leader's side of log replication: one Progress per member, and what to send each
// follower — appends (pipelined in replicate state, bounded per message and by the
// in-flight window), chunked snapshots to followers behind the compacted prefix, and
// heartbeats. It updates progress from the followers' answers; deciding commit, leader
// transfer and reads stays with the caller (raft.ts).
import assert from 'node:assert';
import type { ConfState, Message, NodeId, PeerStatus, RaftConfig, Snapshot } from '../types.js';
import { heartbeatSkipRounds, replicateStallHeartbeats } from '../limits.js';
import { type RaftLog, entryBytes } from './log.js';
import { Progress } from './progress.js';
import { isVoter, members } from './conf.js';
import type { Outgoing } from './outgoing.js';

export type ReplicationHost = Readonly<{
  id: NodeId;
  cfg: RaftConfig;
  log: RaftLog;
  snapshot: () => Snapshot | null;
  send: (m: Outgoing) => void;
}>;

export class Replication {
  private readonly progress = new Map<NodeId, Progress>();

  constructor(private readonly host: ReplicationHost) {}

  get(id: NodeId): Progress | undefined {
    return this.progress.get(id);
  }

  /** Keeps one Progress per member plus ourselves; new ones probe from the log's end. */
  sync(conf: ConfState): void {
    const { id: self, log, cfg } = this.host;
    const ids = new Set([...members(conf), self]);
    for (const id of ids) {
      if (!this.progress.has(id)) this.progress.set(id, new Progress(log.lastIndex() + 1, cfg.inflightAppendsMax));
    }
    for (const id of [...this.progress.keys()]) if (!ids.has(id)) this.progress.delete(id);
  }

  /** Sends whatever each follower is missing, and the new commit index where it changed.
   * Called from ready(), so all proposals since the last Ready go out in one message per
   * follower (batching). An append without entries goes only to tell a follower a commit
   * index it was not sent, and under RaftConfig.commitRidesAlong only when
   * `announceCommit` says so. */
  broadcastAppends(announceCommit = this.host.cfg.commitRidesAlong !== true): void {
    // Every loop over the followers is a plain loop skipping ourselves: a generator cost
    // an iterator and a result object per follower, per leader Ready and per tick of
    // every group a store hosts.
    const self = this.host.id;
    for (const [id, pr] of this.progress) {
      if (id === self) continue;
      let sendIfEmpty = announceCommit && pr.sentCommit < this.host.log.committed;
      while (this.maybeSendAppend(id, sendIfEmpty)) sendIfEmpty = false;
    }
  }

  /** Sends the next append to `to` unless its flow control pauses it; an append with no
   * entries only when `sendIfEmpty` (to carry the commit index or probe). */
  maybeSendAppend(to: NodeId, sendIfEmpty: boolean): boolean {
    const pr = this.progress.get(to);
    if (pr === undefined || pr.paused()) return false;
    const { log, cfg } = this.host;
    const prevIndex = pr.next - 1;
    const prevTerm = log.term(prevIndex);
    if (prevTerm === undefined) {
      assert(prevIndex < log.snapIndex, `next ${pr.next} beyond last index ${log.lastIndex()}`);
      const snap = this.host.snapshot();
      assert(snap !== null, 'follower needs compacted entries but no snapshot is held');
      pr.becomeSnapshot(snap.meta.index);
      this.sendSnapshotChunk(to, pr);
      return false;
    }
    const entries =
      pr.next <= log.lastIndex() ? log.slice(pr.next, log.lastIndex() + 1, cfg.appendEntriesMax, cfg.appendBytesMax) : [];
    if (entries.length === 0 && !sendIfEmpty) return false;
    const commit = log.committed;
    this.host.send({ type: 'append', to, prevIndex, prevTerm, entries, commit });
    pr.sentCommit = commit;
    pr.roundsSinceAppend = 0;
    let bytes = 0;
    for (const e of entries) bytes += entryBytes(e);
    pr.sentEntries(entries.length, prevIndex + entries.length, bytes);
    return true;
  }

  /** Sends as many appends as flow control allows. */
  sendAll(to: NodeId): void {
    while (this.maybeSendAppend(to, false));
  }

  /** Sends the chunk at the offset the follower last acknowledged (one chunk in flight;
   * heartbeat rounds resend it if it was lost). A newer snapshot restarts the transfer. */
  private sendSnapshotChunk(to: NodeId, pr: Progress): void {
    const snap = this.host.snapshot();
    assert(snap !== null, 'snapshot state without a snapshot');
    if (pr.pendingSnapshot !== snap.meta.index) pr.becomeSnapshot(snap.meta.index);
    const total = snap.data.byteLength;
    const offset = Math.min(pr.snapshotOffset, total);
    const end = Math.min(offset + this.host.cfg.snapshotChunkBytes, total);
    this.host.send({
      type: 'snapshot', to, meta: snap.meta, totalBytes: total, offset,
      chunk: snap.data.subarray(offset, end), done: end === total,
    });
  }

  broadcastHeartbeat(context: string): void {
    const committed = this.host.log.committed;
    const skipBusy = context === '' && this.host.cfg.heartbeatsSkipBusy === true;
    const commitRides = this.host.cfg.commitRidesAlong === true;
    const self = this.host.id;
    for (const [to, pr] of this.progress) {
      if (to === self) continue;
      const busy = pr.roundsSinceAppend < heartbeatSkipRounds;
      if (context === '') pr.roundsSinceAppend++; // a read round is not a periodic one
      // A read round's heartbeat always goes: its acks confirm the leadership. When the
      // commit rides along, a busy follower's next append brings it, or, if none comes
      // within heartbeatSkipRounds rounds, a heartbeat does.
      if (skipBusy && busy && pr.state === 'replicate' && pr.ticksSinceAck <= heartbeatSkipRounds * this.host.cfg.heartbeatTicks && (commitRides || pr.sentCommit >= committed)) continue;
      // Never more than the follower is known to hold: its log may differ beyond match.
      const commit = Math.min(pr.match, committed);
      this.host.send({ type: 'heartbeat', to, commit, context });
      // Told now: its answer sets off no append just for the commit (onHeartbeatResp).
      if (commitRides && commit > pr.sentCommit) pr.sentCommit = commit;
    }
  }

  /** Every leader tick: counts ticks without acks (for stall detection). */
  tick(): void {
    const self = this.host.id;
    for (const [id, pr] of this.progress) if (id !== self) pr.ticksSinceAck += 1;
  }

  /** Each heartbeat round: resend a possibly lost snapshot chunk, and put followers whose
   * pipeline stalled (its tail was lost) back into probe. */
  heartbeatRound(): void {
    const stallTicks = replicateStallHeartbeats * this.host.cfg.heartbeatTicks;
    const self = this.host.id;
    for (const [id, pr] of this.progress) {
      if (id === self) continue;
      if (pr.state === 'snapshot') this.sendSnapshotChunk(id, pr);
      else if (pr.state === 'replicate' && pr.inflights.count > 0 && pr.ticksSinceAck >= stallTicks) {
        pr.becomeProbe();
        this.maybeSendAppend(id, true);
      }
    }
  }

  /** Check-quorum: did a quorum of voters (we count) answer since the last round? Starts
   * a new round. */
  quorumActive(voters: readonly NodeId[]): boolean {
    let active = 0;
    for (const id of voters) if (id === this.host.id || this.progress.get(id)?.recentActive === true) active += 1;
    for (const [id, pr] of this.progress) pr.recentActive = id === this.host.id;
    return voters.length > 0 && active > voters.length / 2;
  }

  /** An append answer. Returns true when the follower's match index advanced (the caller
   * then checks commit); sending what comes next is left to the caller (sendAll). */
  onAppendResp(m: Extract<Message, { type: 'appendResp' }>): boolean {
    const pr = this.progress.get(m.from);
    if (pr === undefined) return false;
    pr.recentActive = true;
    if (m.reject) {
      let hintNext = m.hintIndex;
      if (m.hintTerm > 0) hintNext = this.host.log.findConflictByTerm(m.hintIndex, m.hintTerm).index;
      if (pr.maybeDecrTo(m.index, hintNext)) {
        if (pr.state === 'replicate') pr.becomeProbe();
        this.maybeSendAppend(m.from, true);
      }
      return false;
    }
    pr.ticksSinceAck = 0;
    if (!pr.maybeUpdate(m.index)) return false;
    if (pr.state === 'probe') pr.becomeReplicate();
    else if (pr.state === 'snapshot' && pr.match >= pr.pendingSnapshot) {
      pr.becomeProbe();
      pr.becomeReplicate();
    } else if (pr.state === 'replicate') pr.inflights.freeLE(m.index);
    return true;
  }

  onHeartbeatResp(m: Extract<Message, { type: 'heartbeatResp' }>): void {
    const pr = this.progress.get(m.from);
    if (pr === undefined) return;
    pr.recentActive = true;
    pr.probeSent = false;
    const { log } = this.host;
    if (pr.match < log.lastIndex() || pr.sentCommit < log.committed) {
      // Sent even when empty: if the tail of the pipeline was lost, the follower rejects
      // it and we fall back to probing at once.
      this.maybeSendAppend(m.from, true);
    }
  }

  onSnapshotResp(m: Extract<Message, { type: 'snapshotResp' }>): void {
    const pr = this.progress.get(m.from);
    if (pr === undefined) return;
    pr.recentActive = true;
    if (pr.state !== 'snapshot' || m.index !== pr.pendingSnapshot) return; // an older transfer
    if (m.reject) {
      pr.pendingSnapshot = 0;
      pr.becomeProbe();
      return;
    }
    if (m.done) {
      // Resume with appends after the snapshot; the append answer moves `match`.
      pr.becomeProbe();
      this.maybeSendAppend(m.from, true);
      return;
    }
    if (m.offset !== pr.snapshotOffset) {
      pr.snapshotOffset = m.offset;
      this.sendSnapshotChunk(m.from, pr);
    }
  }

  peers(conf: ConfState): PeerStatus[] {
    const { id: self, log } = this.host;
    const out: PeerStatus[] = [];
    for (const id of members(conf)) {
      const pr = this.progress.get(id);
      if (pr === undefined) continue;
      const isSelf = id === self;
      out.push({
        id,
        voter: isVoter(conf, id),
        matchIndex: isSelf ? log.persistedIndex() : pr.match,
        nextIndex: isSelf ? log.lastIndex() + 1 : pr.next,
        state: isSelf ? 'replicate' : pr.state,
        recentActive: isSelf || pr.recentActive,
      });
    }
    return out;
  }
}
