// Quiescence: the pure rules deciding when a Raft group may stop ticking and what wakes
// it (CockroachDB's quiesced ranges, TiKV's hibernate regions). A quiesced group makes no
// ticks, so it sends no heartbeats and never times out an election: 0 CPU while idle.
// This is safe only while nothing is in flight, every member holds the whole log, and
// something else (store liveness, raft/group/host.ts) watches the stores for failures.
// The rules are plain functions over plain data so the simulator (raft/sim/) applies the
// very same ones to its simulated stores.

import type { ConfState, LogIndex, Message, NodeId, PeerStatus, Role, Term } from '../types.js';

/** What a leader knows when it considers quiescing. */
export type LeaderView = Readonly<{
  self: NodeId;
  role: Role;
  conf: ConfState;
  term: Term;
  commit: LogIndex;
  lastIndex: LogIndex;
  applied: LogIndex;
  /** Progress of every member as the leader tracks it (RaftStatus.peers). */
  peers: readonly PeerStatus[];
  /** Proposals, reads, membership changes and leadership transfers still waiting. */
  pendingRequests: number;
  /** A Ready is in flight or waiting: something is still to be persisted, sent or applied. */
  readyPending: boolean;
  /** Members whose store liveness reports silent (CockroachDB quiesces past a dead
   * follower too): they are not waited for, as long as the others make a quorum. */
  silentMembers?: readonly NodeId[];
}>;

/** The notice a quiescing leader sends each member (a heartbeat flagged `quiesce`). */
export type QuiesceNotice = Readonly<{ from: NodeId; term: Term; commit: LogIndex }>;

/** What a follower knows when a quiesce notice arrives (after stepping it). */
export type FollowerView = Readonly<{
  role: Role;
  term: Term;
  leader: NodeId | null;
  lastIndex: LogIndex;
  commit: LogIndex;
}>;

/** A leader may quiesce when it is leader with nothing pending, its log is committed,
 * applied and durable, and EVERY other member (voters and learners) holds the whole log
 * and answered recently — except members on a store that liveness reports silent, as
 * long as the rest of the voters make a quorum. A single lagging member keeps the group
 * awake (nobody would catch it up without heartbeats); a silent store's members are
 * caught up when it is heard again (the host wakes the group then). */
export function leaderMayQuiesce(v: LeaderView): boolean {
  if (v.role !== 'leader' || v.pendingRequests > 0 || v.readyPending) return false;
  if (v.commit !== v.lastIndex || v.applied !== v.lastIndex) return false;
  const silent = new Set(v.silentMembers ?? []);
  if (silent.has(v.self)) return false;
  const members = [...v.conf.voters, ...v.conf.learners];
  for (const id of members) {
    if (silent.has(id)) continue;
    const p = v.peers.find((x) => x.id === id);
    if (p === undefined || p.matchIndex !== v.lastIndex) return false;
    if (id !== v.self && !p.recentActive) return false;
  }
  const heard = v.conf.voters.filter((id) => !silent.has(id)).length;
  return heard > v.conf.voters.length / 2;
}

/** A follower quiesces on a notice only from the leader it follows, in its own term, and
 * only once its log ends exactly at the notice's commit and has committed it: a lagging
 * follower that stopped ticking would wait forever for entries nobody sends it. */
export function followerMayQuiesce(f: FollowerView, n: QuiesceNotice): boolean {
  if (f.role !== 'follower' && f.role !== 'learner') return false;
  return f.term === n.term && f.leader === n.from && f.lastIndex === n.commit && f.commit === n.commit;
}

/** Whether a quiesce notice, as a message. */
export function isQuiesceNotice(m: Message): m is Extract<Message, { type: 'heartbeat' }> {
  return m.type === 'heartbeat' && m.quiesce === true;
}

/** Whether message `m` wakes a quiesced group whose role is `role`. Anything wakes it
 * except the traffic quiescing itself causes: a notice (handled by followerMayQuiesce) and,
 * on the leader, the heartbeat answers to its notices — waking on those would make the
 * leader quiesce again one firing later, forever. */
export function wakesQuiesced(role: Role, m: Message): boolean {
  if (isQuiesceNotice(m)) return false;
  if (role === 'leader' && m.type === 'heartbeatResp' && m.context === '') return false;
  return true;
}

/** Why a group woke, counted by the host for its metrics. */
export type WakeReason =
  | 'message'
  | 'proposal'
  | 'read'
  | 'transfer'
  | 'confChange'
  | 'leaderStoreSilent'
  | 'peerStoreSilent'
  | 'peerStoreBack'
  | 'refusedNotice';

export const wakeReasons: readonly WakeReason[] = [
  'message', 'proposal', 'read', 'transfer', 'confChange', 'leaderStoreSilent', 'peerStoreSilent', 'peerStoreBack', 'refusedNotice',
];
