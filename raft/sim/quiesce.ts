// The quiescence rules of the simulated store, as pure functions over a replica's status
// (the rules of DESIGN.md's multi-raft section, after CockroachDB's quiescence; the same
// as mr-raft's raft/group/quiesce.ts, which had not landed when this was written; the
// simulator keeps its own copy so its planted bug can switch one condition off):
//  - a leader quiesces its group once nothing is pending (no proposal or read waiting,
//    everything committed and applied), the group made no progress for quiesceIdleTicks
//    ticks, and every follower is caught up (match == last index == commit), answered
//    recently and sits on a store that is live;
//  - it then sends each follower a notice: a heartbeat carrying min(match, commit), as a
//    heartbeat would; the follower quiesces when, after taking it, it follows that leader
//    in that term with the notice's commit index and no entry beyond it; otherwise the
//    notice just wakes it like any message;
//  - a quiesced replica is not ticked; any message wakes it (but a heartbeat answer does
//    not wake a quiesced leader: it answers a notice);
//  - when a peer store goes silent, quiesced followers whose leader is there wake and let
//    a whole election timeout pass at once (so they campaign, and grant pre-votes, without
//    waiting), and quiesced leaders with a follower there wake (check-quorum runs again).
// One difference from raft/group: the notice carries min(match, commit), as any heartbeat
// of the core does, where raft/group sends the commit index. With the leader's rule kept
// the two are equal; with the planted bug, the follower then quiesces on it while behind
// (the harm the bug is about) instead of refusing it and campaigning.

import type { Message, NodeId, RaftStatus, Role } from '../types.js';

export type LeaderQuiesceInput = Readonly<{
  status: RaftStatus;
  idleTicks: number;
  idleTicksMin: number;
  pending: boolean;
  silent: (store: NodeId) => boolean;
  /** The planted bug quiesce-with-lagging-follower: match indexes are not looked at. */
  ignoreMatch: boolean;
}>;

export function leaderShouldQuiesce(i: LeaderQuiesceInput): boolean {
  const st = i.status;
  if (st.role !== 'leader' || i.pending || i.idleTicks < i.idleTicksMin) return false;
  if (st.lastIndex !== st.commit || st.applied !== st.commit || st.failed !== null) return false;
  for (const id of [...st.conf.voters, ...st.conf.learners]) {
    if (id === st.id) continue;
    const p = st.peers.find((x) => x.id === id);
    if (p === undefined || !p.recentActive || i.silent(id)) return false;
    if (!i.ignoreMatch && p.matchIndex !== st.lastIndex) return false;
  }
  return true;
}

/** The commit index a notice to a follower carries: never more than it is known to hold. */
export function noticeCommit(st: RaftStatus, follower: NodeId): number {
  const p = st.peers.find((x) => x.id === follower);
  return Math.min(p?.matchIndex ?? 0, st.commit);
}

export type Notice = Readonly<{ from: NodeId; term: number; commit: number }>;

/** Whether `m` wakes a quiesced replica whose role is `role`: anything but the traffic
 * quiescing causes (a notice is judged by followerShouldQuiesce; a heartbeat answer to a
 * quiesced leader answers its notice, and waking on it would undo every quiescence). */
export function wakesQuiesced(role: Role, m: Message): boolean {
  return !(role === 'leader' && m.type === 'heartbeatResp' && m.context === '');
}

/** After the notice's heartbeat was stepped into the follower. */
export function followerShouldQuiesce(st: RaftStatus, n: Notice): boolean {
  return (
    (st.role === 'follower' || st.role === 'learner') &&
    st.term === n.term &&
    st.leader === n.from &&
    st.commit === n.commit &&
    st.lastIndex === n.commit &&
    st.failed === null
  );
}
