// Single-server membership change as the core runs it: which configuration is in force
// (the latest conf entry in the log, committed or not), and which proposed changes a
// leader accepts. Encoding and applying a change are conf.ts.
// Functions over the core's state (raft.ts).
import assert from 'node:assert';
import type { ConfChange, ConfState, LogIndex } from '../types.js';
import { raftError } from '../errors.js';
import { promoteLagEntriesMax } from '../limits.js';
import type { Raft } from './raft.js';
import { confAfter, isMember, isVoter } from './conf.js';
import { maybeCommit } from './append.js';

/** The configuration after the log's entries up to `index`, and where it was set. */
export function confAt(r: Raft, index: LogIndex): { conf: ConfState; index: LogIndex } {
  const base = r.snapshot !== null ? r.snapshot.meta.conf : r.initialConf;
  return confAfter(base, r.log.snapIndex, r.log.all(), index);
}

/** The configuration in force is the latest conf entry in the log, committed or not. */
export function recomputeConf(r: Raft): void {
  assert.equal(r.snapshot?.meta.index ?? 0, r.log.snapIndex, 'snapshot and log boundary disagree');
  const { conf, index } = confAt(r, Infinity);
  r.conf = conf;
  r.confIndex = index;
  if (r.state === 'leader') {
    syncProgress(r);
    maybeCommit(r);
  }
}

function syncProgress(r: Raft): void {
  r.repl.sync(r.conf);
  if (r.leadTransferee !== null && !isVoter(r.conf, r.leadTransferee)) r.leadTransferee = null;
}

/** A change the leader must refuse (typed error), or null. */
export function validateConfChange(r: Raft, change: ConfChange): ReturnType<typeof raftError> | null {
  const { node } = change;
  if (change.type === 'promote') {
    if (!r.conf.learners.includes(node)) return raftError('RAFT_ERR_UNKNOWN_NODE', `${node} is not a learner`, r.id);
    const pr = r.repl.get(node);
    const lag = r.log.lastIndex() - (pr?.match ?? 0);
    // Near the log's end is not enough on a young log: a learner that never answered has
    // match 0 and may still be within the lag. Promoted, it would count towards the
    // quorum without being able to vote, and with one voter already down the shard would
    // stall. It must have accepted an append (replicate state) first.
    if (pr === undefined || pr.state !== 'replicate') {
      return raftError('RAFT_ERR_CONF_CHANGE_PENDING', `learner ${node} has not caught up yet (${pr?.state ?? 'unknown'}, ${lag} entries behind)`, r.id);
    }
    if (lag > promoteLagEntriesMax) {
      // Retryable: the learner is still catching up.
      return raftError('RAFT_ERR_CONF_CHANGE_PENDING', `learner ${node} is ${lag} entries behind`, r.id);
    }
  } else if (change.type === 'remove') {
    if (!isMember(r.conf, node)) return raftError('RAFT_ERR_UNKNOWN_NODE', `${node} is not a member`, r.id);
    if (r.conf.voters.length === 1 && r.conf.voters[0] === node) {
      return raftError('RAFT_ERR_CONF_CHANGE_PENDING', 'cannot remove the last voter', r.id);
    }
  }
  return null;
}
