// Majority arithmetic over a voter set: the index a quorum holds, and election outcomes.
// Learners never appear here: callers pass voters only.
import type { NodeId } from '../types.js';

export function quorumSize(voterCount: number): number {
  return Math.floor(voterCount / 2) + 1;
}

/** The highest index that a majority of `voters` hold, by their match indexes (0 when the
 * voter set is empty, so nothing is committed by an empty configuration). */
export function quorumMatchIndex(voters: readonly NodeId[], matchOf: (id: NodeId) => number): number {
  if (voters.length === 0) return 0;
  const matches = voters.map(matchOf).sort((a, b) => b - a);
  return matches[quorumSize(voters.length) - 1]!;
}

export type VoteOutcome = 'won' | 'lost' | 'pending';

/** Whether `votes` (true = granted) decide an election among `voters`; votes from
 * non-voters are ignored. */
export function voteOutcome(voters: readonly NodeId[], votes: ReadonlyMap<NodeId, boolean>): VoteOutcome {
  const needed = quorumSize(voters.length);
  let granted = 0;
  let rejected = 0;
  for (const id of voters) {
    const v = votes.get(id);
    if (v === true) granted += 1;
    else if (v === false) rejected += 1;
  }
  if (voters.length > 0 && granted >= needed) return 'won';
  if (voters.length - rejected < needed) return 'lost';
  return 'pending';
}

/** True when the nodes in `active` (plus nothing else) form a majority of `voters`. */
export function hasQuorum(voters: readonly NodeId[], active: (id: NodeId) => boolean): boolean {
  let n = 0;
  for (const id of voters) if (active(id)) n += 1;
  return voters.length > 0 && n >= quorumSize(voters.length);
}
