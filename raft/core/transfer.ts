// Leader transfer: the leader stops taking proposals, brings the transferee's log up to
// date, then sends it TimeoutNow so it campaigns at once (its vote requests carry
// `transfer` and so pass the leader-lease check). A transfer not done within an election
// timeout is abandoned (raft.ts tickLeader). A leader whose own removal committed hands
// off the same way before stepping down.
// Functions over the core's state (raft.ts).
import type { NodeId, RaftResult } from '../types.js';
import { ok, raftError } from '../errors.js';
import type { Raft } from './raft.js';
import { isVoter } from './conf.js';

/** The body of RaftCore.transferLeadership(). */
export function startTransfer(r: Raft, to: NodeId): RaftResult<void> {
  if (r.failed !== null) return raftError('RAFT_ERR_FAILED', `node failed: ${r.failed}`);
  if (r.state !== 'leader') return raftError('RAFT_ERR_NOT_LEADER', 'not the leader', r.lead);
  if (to === r.id) return ok(undefined);
  if (!isVoter(r.conf, to)) return raftError('RAFT_ERR_UNKNOWN_NODE', `${to} is not a voter`, r.id);
  if (r.leadTransferee !== null) {
    if (r.leadTransferee === to) return ok(undefined);
    return raftError('RAFT_ERR_TRANSFER_IN_PROGRESS', `transfer to ${r.leadTransferee} in progress`, r.id);
  }
  r.leadTransferee = to;
  // The transfer is aborted if it has not completed within an election timeout.
  r.electionElapsed = 0;
  if (r.repl.get(to)?.match === r.log.lastIndex()) r.send({ type: 'timeoutNow', to });
  else r.repl.maybeSendAppend(to, true);
  return ok(undefined);
}

/** The transferee acked an append: once it holds our whole log, tell it to campaign. */
export function sendTimeoutNowIfCaughtUp(r: Raft, to: NodeId): void {
  if (r.repl.get(to)?.match === r.log.lastIndex()) r.send({ type: 'timeoutNow', to });
}

/** Our removal committed: an up-to-date voter campaigns at once instead of waiting out
 * an election timeout. */
export function handOffBeforeLeaving(r: Raft): void {
  const heir = r.conf.voters.find((id) => id !== r.id && r.repl.get(id)?.match === r.log.lastIndex());
  if (heir !== undefined) r.send({ type: 'timeoutNow', to: heir });
}
