// The simulator's use of raft/group/quiesce.ts, the quiescence rules the real store runs
// (RaftHost): it builds the rules' views from a simulated replica, and is where the planted
// bug quiesce-with-lagging-follower switches one condition off — every member's match
// index is reported as the leader's last index, so a lagging member no longer keeps the
// group awake.

import type { LeaderView } from '../group/quiesce.js';
import type { NodeId, RaftStatus } from '../types.js';

export type LeaderWork = Readonly<{ pendingRequests: number; readyPending: boolean; silentMembers: readonly NodeId[] }>;

export function leaderView(st: RaftStatus, work: LeaderWork, ignoreMatch: boolean): LeaderView {
  const peers = ignoreMatch ? st.peers.map((p) => ({ ...p, matchIndex: st.lastIndex })) : st.peers;
  return {
    self: st.id, role: st.role, conf: st.conf, term: st.term, commit: st.commit, lastIndex: st.lastIndex, applied: st.applied,
    peers, pendingRequests: work.pendingRequests, readyPending: work.readyPending, silentMembers: work.silentMembers,
  };
}
