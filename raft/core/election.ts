// Elections: the randomized election timer, pre-vote and vote campaigns, counting the
// answers, and granting or refusing votes — including the leader-lease check that keeps a
// node which lost touch with a live leader from disrupting it.
// Functions over the core's state (raft.ts), the way etcd spreads its raft struct's
// methods over files; role changes themselves (becomeFollower, becomeLeader) stay there.
import assert from 'node:assert';
import type { Message, Term } from '../types.js';
import type { Raft } from './raft.js';
import { voteOutcome } from './quorum.js';

type VoteRequest = Extract<Message, { type: 'vote' | 'preVote' }>;

/** A new election timeout in [electionTimeoutTicks, 2 × electionTimeoutTicks). */
export function resetRandomizedElectionTimeout(r: Raft): void {
  const base = r.cfg.electionTimeoutTicks;
  const x = r.cfg.random();
  assert(x >= 0 && x < 1, `config.random() returned ${x}, outside [0, 1)`);
  r.randomizedElectionTimeout = base + Math.floor(x * base);
}

/** A follower's or candidate's tick: campaign when the election timeout ran out. */
export function tickElection(r: Raft): void {
  r.electionElapsed += 1;
  if (r.promotable() && r.electionElapsed >= r.randomizedElectionTimeout) {
    r.electionElapsed = 0;
    hup(r, false);
  }
}

/** Starts a campaign: a pre-vote first when configured, unless a transfer asked for it. */
export function hup(r: Raft, transfer: boolean): void {
  if (r.state === 'leader') return;
  if (r.cfg.preVote && !transfer) campaignPre(r);
  else campaign(r, transfer);
}

function campaignPre(r: Raft): void {
  r.state = 'preCandidate';
  r.votes.clear();
  r.setLead(null);
  r.votes.set(r.id, true);
  if (tally(r) !== 'pending') return;
  requestVotes(r, 'preVote', r.term + 1, false);
}

function campaign(r: Raft, transfer: boolean): void {
  r.campaignIsTransfer = transfer;
  r.reset(r.term + 1);
  r.state = 'candidate';
  r.setLead(null);
  r.vote = r.id;
  r.votes.set(r.id, true);
  if (tally(r) !== 'pending') return;
  requestVotes(r, 'vote', r.term, transfer);
}

function requestVotes(r: Raft, type: 'preVote' | 'vote', term: Term, transfer: boolean): void {
  for (const to of r.conf.voters) {
    if (to === r.id) continue;
    r.send({
      type, to, term, lastLogIndex: r.log.lastIndex(), lastLogTerm: r.log.lastTerm(), transfer,
    });
  }
}

/** Counts votes and acts on a decided election. */
function tally(r: Raft): 'won' | 'lost' | 'pending' {
  const outcome = voteOutcome(r.conf.voters, r.votes);
  if (outcome === 'won') {
    if (r.state === 'preCandidate') campaign(r, false);
    else r.becomeLeader();
  } else if (outcome === 'lost') {
    r.becomeFollower(r.term, null);
  }
  return outcome;
}

/** A (pre-)candidate's answer from a voter of its own term. */
export function handleVoteResp(r: Raft, m: Extract<Message, { type: 'preVoteResp' | 'voteResp' }>): void {
  if ((m.type === 'preVoteResp') !== (r.state === 'preCandidate')) return;
  r.votes.set(m.from, !m.reject);
  tally(r);
}

/** A vote request of a higher term while we heard from a live leader within an election
 * timeout: the candidate is disruptive, so it is ignored (a pre-vote is refused) and our
 * term stays. A request sent on a leader's behalf (transfer) is always heard. */
export function ignoreDisruptiveVote(r: Raft, m: VoteRequest): boolean {
  const inLease =
    (r.cfg.checkQuorum || r.cfg.preVote) &&
    r.lead !== null &&
    r.electionElapsed < r.cfg.electionTimeoutTicks;
  if (m.transfer || !inLease) return false;
  if (m.type === 'preVote') r.send({ type: 'preVoteResp', to: m.from, reject: true });
  return true;
}

export function handleVoteRequest(r: Raft, m: VoteRequest): void {
  const canVote =
    r.vote === m.from ||
    (r.vote === null && r.lead === null) ||
    (m.type === 'preVote' && m.term > r.term);
  const logOk = r.bugs.voteForStaleLog || r.log.isUpToDate(m.lastLogIndex, m.lastLogTerm);
  const respType = m.type === 'vote' ? 'voteResp' : 'preVoteResp';
  if (canVote && logOk) {
    // Answer with the request's term so a pre-candidate can count a granted pre-vote.
    r.send({ type: respType, to: m.from, term: m.term, reject: false });
    if (m.type === 'vote') {
      r.electionElapsed = 0;
      r.vote = m.from;
    }
  } else {
    r.send({ type: respType, to: m.from, reject: true });
  }
}
