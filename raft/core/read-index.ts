// Linearizable reads (ReadIndex) as the core runs them. A leader records its commit index,
// confirms it is still leader with a quorum-acked heartbeat round (read-only.ts), and
// answers at that index; until it has committed an entry of its own term its commit
// index may lag, so reads wait. A follower forwards the read to its leader and relays the
// answer; forwarded reads whose leader or term went away fail as 'dropped'.
// Functions over the core's state (raft.ts).
import type { LogIndex, Message, NodeId, ReadFailure } from '../types.js';
import { readsForwardedMax, readsPendingMax } from '../limits.js';
import type { Raft } from './raft.js';
import type { ReadRequest } from './read-only.js';

/** The body of RaftCore.readIndex(). */
export function startRead(r: Raft, context: string): void {
  if (r.failed !== null) {
    r.readFailures.push({ context, reason: 'notLeader' });
    return;
  }
  if (r.state === 'leader') {
    if (r.bugs.readWithoutReadIndex) {
      r.readStates.push({ context, index: r.log.committed });
      return;
    }
    leaderRead(r, { from: r.id, context });
    return;
  }
  if (r.lead === null) {
    r.readFailures.push({ context, reason: 'notLeader' });
    return;
  }
  if (r.readsForwarded.size >= readsForwardedMax || r.readsForwarded.has(context)) {
    r.readFailures.push({ context, reason: 'dropped' });
    return;
  }
  r.readsForwarded.set(context, r.lead);
  r.send({ type: 'readIndex', to: r.lead, context });
}

// ---------------------------------------------------------------- leader

export function leaderRead(r: Raft, req: ReadRequest): void {
  if (r.readOnly.size + r.readsAwaitingCommit.length >= readsPendingMax) {
    failRead(r, req, 'dropped');
    return;
  }
  if (r.log.term(r.log.committed) !== r.term) {
    // Our commit index may be behind the previous leader's until we commit our noop.
    r.readsAwaitingCommit.push(req);
    return;
  }
  if (r.conf.voters.length === 1 && r.conf.voters[0] === r.id) {
    answerRead(r, req, r.log.committed);
    return;
  }
  const round = r.readOnly.add(r.log.committed, req);
  if (round !== null) r.repl.broadcastHeartbeat(round.ctx);
}

/** Our first commit in this term: the reads that waited for it start their rounds. */
export function releaseReadsAwaitingCommit(r: Raft): void {
  const waiting = r.readsAwaitingCommit;
  r.readsAwaitingCommit = [];
  for (const req of waiting) leaderRead(r, req);
}

/** A heartbeat answer carrying a read round's context: answers the rounds it confirms. */
export function ackReadRound(r: Raft, m: Extract<Message, { type: 'heartbeatResp' }>): void {
  for (const round of r.readOnly.ack(m.from, m.context, r.conf.voters)) {
    for (const req of round.requests) answerRead(r, req, round.index);
  }
}

function answerRead(r: Raft, req: ReadRequest, index: LogIndex): void {
  if (req.from === r.id) r.readStates.push({ context: req.context, index });
  else r.send({ type: 'readIndexResp', to: req.from, context: req.context, index, reject: false });
}

function failRead(r: Raft, req: ReadRequest, reason: ReadFailure['reason']): void {
  if (req.from === r.id) r.readFailures.push({ context: req.context, reason });
  else r.send({ type: 'readIndexResp', to: req.from, context: req.context, index: 0, reject: true });
}

/** Leadership lost: every read still pending here fails. */
export function failLeaderReads(r: Raft): void {
  const reqs = [...r.readsAwaitingCommit, ...r.readOnly.drain()];
  r.readsAwaitingCommit = [];
  for (const req of reqs) failRead(r, req, 'notLeader');
}

// ---------------------------------------------------------------- follower

/** The leader's answer to a read we forwarded. */
export function handleReadIndexResp(r: Raft, m: Extract<Message, { type: 'readIndexResp' }>): void {
  if (!r.readsForwarded.has(m.context)) return;
  r.readsForwarded.delete(m.context);
  if (m.reject) r.readFailures.push({ context: m.context, reason: 'notLeader' });
  else r.readStates.push({ context: m.context, index: m.index });
}

/** A new term: answers to reads forwarded in the old one would be dropped as stale. */
export function dropForwardedReads(r: Raft): void {
  for (const context of r.readsForwarded.keys()) r.readFailures.push({ context, reason: 'dropped' });
  r.readsForwarded.clear();
}

/** A new leader (or none): reads forwarded to another one will not be answered by it. */
export function dropReadsForwardedElsewhere(r: Raft, lead: NodeId | null): void {
  for (const [context, to] of r.readsForwarded) {
    if (to !== lead) {
      r.readsForwarded.delete(context);
      r.readFailures.push({ context, reason: 'dropped' });
    }
  }
}
