// Majority arithmetic over a voter set: the index a quorum holds, and election outcomes.
// Learners never appear here: callers pass voters only.
import type { NodeId } from '../types.js';

export function quorumSize(voterCount: number): number {
  return Math.floor(voterCount / 2) + 1;
}

/** Scratch for quorumMatchIndex's matches, reused: it never yields before it is done. */
const matchesScratch: number[] = [];

/** The highest index that a majority of `voters` hold, by their match indexes (0 when the
 * voter set is empty, so nothing is committed by an empty configuration). */
export function quorumMatchIndex(voters: readonly NodeId[], matchOf: (id: NodeId) => number): number {
  const n = voters.length;
  if (n === 0) return 0;
  // The quorum index is the q-th highest match: the highest m that at least q voters
  // reach. Counted in a reused array rather than a mapped and sorted copy: the leader
  // asks after every append response of every group a store leads, and voter sets are
  // a handful (O(n²) compares).
  const q = quorumSize(n);
  const matches = matchesScratch;
  for (let i = 0; i < n; i++) matches[i] = matchOf(voters[i]!);
  let best = 0;
  for (let i = 0; i < n; i++) {
    const m = matches[i]!;
    if (m <= best) continue;
    let reaching = 0;
    for (let j = 0; j < n; j++) if (matches[j]! >= m) reaching++;
    if (reaching >= q) best = m;
  }
  return best;
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
