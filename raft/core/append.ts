// Log replication as the core sees it: a follower taking appends, heartbeats and snapshot
// chunks from its leader; a leader appending its own entries, taking append answers, and
// advancing the commit index. Per-follower flow control (what to send whom) is
// replication.ts; the log itself is log.ts.
// Functions over the core's state (raft.ts). This is the hot path: each message costs a
// direct call and no allocation beyond what the log and the replies need.
import assert from 'node:assert';
import type { Entry, EntryKind, LogIndex, Message, Snapshot } from '../types.js';
import type { Raft } from './raft.js';
import { entryBytes } from './log.js';
import { quorumMatchIndex } from './quorum.js';
import { isVoter } from './conf.js';
import { recomputeConf } from './membership.js';
import { releaseReadsAwaitingCommit } from './read-index.js';
import { handOffBeforeLeaving, sendTimeoutNowIfCaughtUp } from './transfer.js';

// ---------------------------------------------------------------- follower

export function handleFromLeader(r: Raft, m: Extract<Message, { type: 'append' | 'heartbeat' | 'snapshot' }>): void {
  if (m.type === 'append') handleAppend(r, m);
  else if (m.type === 'heartbeat') handleHeartbeat(r, m);
  else handleSnapshot(r, m);
}

function handleAppend(r: Raft, m: Extract<Message, { type: 'append' }>): void {
  const log = r.log;
  if (m.prevIndex < log.committed) {
    r.send({ type: 'appendResp', to: m.from, reject: false, index: log.committed, hintIndex: 0, hintTerm: 0 });
    return;
  }
  if (!log.matchTerm(m.prevIndex, m.prevTerm)) {
    const hint = log.findConflictByTerm(Math.min(m.prevIndex, log.lastIndex()), m.prevTerm);
    r.send({
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
    if (truncates && r.bugs.noTruncateOnConflict) log.overwriteInPlace(suffix);
    else log.truncateAndAppend(suffix);
    if (truncates || suffix.some((e) => e.kind === 'conf')) recomputeConf(r);
  }
  log.commitTo(Math.min(m.commit, lastNew));
  r.send({ type: 'appendResp', to: m.from, reject: false, index: lastNew, hintIndex: 0, hintTerm: 0 });
}

function handleHeartbeat(r: Raft, m: Extract<Message, { type: 'heartbeat' }>): void {
  // The leader sends min(our match, its commit), so this prefix is known to match.
  r.log.commitTo(Math.min(m.commit, r.log.lastIndex()));
  r.send({ type: 'heartbeatResp', to: m.from, context: m.context });
}

function handleSnapshot(r: Raft, m: Extract<Message, { type: 'snapshot' }>): void {
  const reply = (offset: number, done: boolean, reject: boolean): void =>
    r.send({ type: 'snapshotResp', to: m.from, index: m.meta.index, offset, done, reject });
  if (m.meta.index <= r.log.committed) {
    // We already hold everything it covers.
    r.receiver.reset();
    reply(m.totalBytes, true, false);
    return;
  }
  const outcome = r.receiver.receive(m);
  if (outcome.kind === 'reject') reply(0, false, true);
  else if (outcome.kind === 'partial') reply(outcome.offset, false, false);
  else {
    installSnapshot(r, outcome.snapshot);
    reply(m.totalBytes, true, false);
  }
}

function installSnapshot(r: Raft, snap: Snapshot): void {
  const { index, term } = snap.meta;
  assert(index > r.log.committed, 'install of a snapshot not ahead of commit');
  if (r.log.matchTerm(index, term)) {
    // Our log already has the snapshot's last entry: just commit up to it.
    r.log.commitTo(index);
    return;
  }
  assert(r.committedEmitted <= r.log.committed, 'emitted committed entries beyond commit');
  r.log.restore(index, term);
  r.snapshot = snap;
  r.pendingSnapshot = snap;
  r.pendingSnapshotEmitted = false;
  r.committedEmitted = index;
  recomputeConf(r);
}

// ---------------------------------------------------------------- leader

/** Appends one entry of ours to the local log (leader only). */
export function appendLocal(r: Raft, kind: EntryKind, data: Uint8Array): LogIndex {
  assert(r.state === 'leader', 'only a leader appends');
  const entry: Entry = { term: r.term, index: r.log.lastIndex() + 1, kind, timestampMs: r.cfg.nowMs(), data };
  r.log.truncateAndAppend([entry]);
  if (kind === 'conf') recomputeConf(r);
  r.needBroadcast = true;
  return entry.index;
}

export function handleAppendResp(r: Raft, m: Extract<Message, { type: 'appendResp' }>): void {
  if (r.repl.onAppendResp(m)) {
    maybeCommit(r);
    if (r.state !== 'leader') return;
    if (m.from === r.leadTransferee) sendTimeoutNowIfCaughtUp(r, m.from);
  }
  r.repl.sendAll(m.from);
}

/** Commits what a quorum of voters holds durably, if it is of our term. */
export function maybeCommit(r: Raft): void {
  if (r.state !== 'leader') return;
  const log = r.log;
  const mci = quorumMatchIndex(r.conf.voters, (id) =>
    id === r.id ? log.persistedIndex() : (r.repl.get(id)?.match ?? 0),
  );
  if (mci <= log.committed) return;
  // Only entries of the current term commit by counting replicas (§5.4.2).
  if (log.term(mci) !== r.term && !r.bugs.commitOldTermByCount) return;
  const before = log.committed;
  log.commitTo(mci);
  afterLeaderCommit(r, before);
}

function afterLeaderCommit(r: Raft, before: LogIndex): void {
  const log = r.log;
  for (let i = before + 1; i <= log.committed; i++) {
    const e = log.entry(i);
    if (e !== undefined && e.term === r.term && e.kind === 'normal') r.uncommittedBytes -= entryBytes(e);
  }
  if (r.uncommittedBytes < 0) r.uncommittedBytes = 0;
  r.needBroadcast = true;
  if (log.term(log.committed) === r.term && r.readsAwaitingCommit.length > 0) releaseReadsAwaitingCommit(r);
  if (!isVoter(r.conf, r.id) && r.confIndex <= log.committed) {
    // Our removal is committed: tell the others the commit index, hand leadership to
    // an up-to-date voter (so nobody waits for an election timeout), then step down.
    r.repl.broadcastAppends(true);
    handOffBeforeLeaving(r);
    r.becomeFollower(r.term, null);
  }
}
