// Proves the quiescence rules (raft/group/quiesce.ts) and their use by RaftGroup on a
// RaftHost, over LoopRaftTransports (real core, real codec, store routing):
// - the pure rules: a leader with a lagging, silent or missing member, a pending request,
//   an unapplied or uncommitted tail, does not quiesce — unless the member's whole store is
//   reported silent and the others make a quorum; a follower refuses a notice from a
//   non-leader, of another term, or ahead of its log; which messages wake a quiesced group;
// - on a live group (leader ticking on a store that never quiesces): forged notices from
//   a non-leader, of a stale term, or to a follower whose log ends before the notice's
//   commit quiesce nothing, while a valid notice does (the positive control);
// - a leader whose follower is heard (liveness) but cannot be caught up never quiesces the
//   group, however many firings pass; once the follower is caught up, every replica
//   quiesces.

import t from 'tap';
import { followerMayQuiesce, leaderMayQuiesce, wakesQuiesced, type LeaderView } from '../../../raft/group/quiesce.js';
import type { Message, PeerStatus } from '../../../raft/types.js';
import { put, waitFor } from './helpers.js';
import { loopStoreCluster, memberOf } from './host-helpers.js';

const peer = (id: string, matchIndex: number, recentActive = true): PeerStatus => ({ id, voter: true, matchIndex, nextIndex: matchIndex + 1, state: 'replicate', recentActive });
const idle: LeaderView = {
  self: 'a', role: 'leader', conf: { voters: ['a', 'b', 'c'], learners: [] }, term: 3, commit: 9, lastIndex: 9, applied: 9,
  peers: [peer('a', 9), peer('b', 9), peer('c', 9)], pendingRequests: 0, readyPending: false,
};

t.test('the pure rules', async (t) => {
  t.ok(leaderMayQuiesce(idle), 'an idle, caught-up leader quiesces');
  t.notOk(leaderMayQuiesce({ ...idle, peers: [peer('a', 9), peer('b', 9), peer('c', 8)] }), 'not with a lagging follower');
  t.notOk(leaderMayQuiesce({ ...idle, peers: [peer('a', 9), peer('b', 9), peer('c', 9, false)] }), 'not with a silent follower');
  t.notOk(leaderMayQuiesce({ ...idle, peers: [peer('a', 9), peer('b', 9)] }), 'not with a member it has no progress for');
  t.notOk(leaderMayQuiesce({ ...idle, conf: { voters: ['a', 'b', 'c'], learners: ['d'] }, peers: [...idle.peers, peer('d', 4)] }), 'not with a lagging learner');
  t.notOk(leaderMayQuiesce({ ...idle, pendingRequests: 1 }), 'not with a request pending');
  t.notOk(leaderMayQuiesce({ ...idle, readyPending: true }), 'not with a Ready pending');
  t.notOk(leaderMayQuiesce({ ...idle, commit: 8 }), 'not with an uncommitted tail');
  t.notOk(leaderMayQuiesce({ ...idle, applied: 8 }), 'not with an unapplied tail');
  t.notOk(leaderMayQuiesce({ ...idle, role: 'follower' }), 'not as a follower');
  const cDead = [peer('a', 9), peer('b', 9), peer('c', 4, false)];
  t.ok(leaderMayQuiesce({ ...idle, peers: cDead, silentMembers: ['c'] }), 'past a member on a silent store, with a quorum left');
  t.notOk(leaderMayQuiesce({ ...idle, peers: [peer('a', 9), peer('b', 2, false), peer('c', 4, false)], silentMembers: ['b', 'c'] }), 'not without a quorum of heard voters');
  t.notOk(leaderMayQuiesce({ ...idle, peers: [peer('a', 9), peer('b', 8), peer('c', 4, false)], silentMembers: ['c'] }), 'not with a lagging member that is heard');

  const f = { role: 'follower' as const, term: 3, leader: 'a', lastIndex: 9, commit: 9 };
  const n = { from: 'a', term: 3, commit: 9 };
  t.ok(followerMayQuiesce(f, n), 'a caught-up follower of the noticing leader quiesces');
  t.notOk(followerMayQuiesce(f, { ...n, from: 'b' }), 'not on a notice from a non-leader');
  t.notOk(followerMayQuiesce(f, { ...n, term: 2 }), 'not on a stale notice');
  t.notOk(followerMayQuiesce({ ...f, lastIndex: 7, commit: 7 }, n), 'not when its log ends before the commit');
  t.notOk(followerMayQuiesce({ ...f, commit: 8 }, n), 'not before it committed the notice\'s commit');
  t.notOk(followerMayQuiesce({ ...f, role: 'candidate' }, n), 'not as a candidate');

  const hb = (extra: object): Message => ({ type: 'heartbeat', from: 'a', to: 'b', term: 3, commit: 9, context: '', ...extra });
  t.notOk(wakesQuiesced('follower', hb({ quiesce: true })), 'a notice does not wake');
  t.ok(wakesQuiesced('follower', hb({})), 'a plain heartbeat wakes a follower');
  t.notOk(wakesQuiesced('leader', { type: 'heartbeatResp', from: 'b', to: 'a', term: 3, context: '' }), 'answers to the notice do not wake the leader');
  t.ok(wakesQuiesced('leader', { type: 'heartbeatResp', from: 'b', to: 'a', term: 3, context: 'read-1' }), 'a read round answer does');
  t.ok(wakesQuiesced('follower', { type: 'preVote', from: 'c', to: 'b', term: 4, lastLogIndex: 9, lastLogTerm: 3, transfer: false }), 'a pre-vote wakes');
});

t.test('forged notices quiesce nothing; a valid one does', async (t) => {
  // s1 leads (short election timeout) on a store that never quiesces, so it heartbeats on;
  // s2 and s3 would quiesce on a valid notice.
  const c = await loopStoreCluster({ stores: 3, groups: 1, quiesceOn: (s) => s !== 's1', raftOn: (s) => ({ electionTimeoutTicks: s === 's1' ? 10 : 1000 }) });
  t.teardown(() => c.close());
  const g = 'g0';
  await waitFor(() => c.leaderStore(g) === 's1', 's1 leads');
  await c.replica(g, 's1')!.propose(put('k', 'v'));
  await waitFor(() => c.stores.every((s) => s.sms.get(g)!.map.size === 1), 'all applied');
  const [s1, s2, s3] = c.stores as [typeof c.stores[0], typeof c.stores[0], typeof c.stores[0]];
  const st = c.replica(g, 's1')!.status();
  const notice = (from: string, term: number, commit: number): Message => ({ type: 'heartbeat', from, to: memberOf(g, 's3'), term, commit, context: '', quiesce: true });
  const before = s3.host.stats().quiescings;
  const delivered = c.hub.delivered;
  s2.transport.send(g, [notice(memberOf(g, 's2'), st.term, st.commit)]); // from a non-leader
  s1.transport.send(g, [notice(memberOf(g, 's1'), st.term - 1, st.commit)]); // stale term
  s1.transport.send(g, [notice(memberOf(g, 's1'), st.term, st.lastIndex + 3)]); // ahead of s3's log
  await waitFor(() => c.hub.delivered >= delivered + 3, 'the forged notices delivered');
  t.equal(s3.host.stats().quiescings, before, 'none of them quiesced s3');
  t.equal(c.replica(g, 's3')!.leader(), memberOf(g, 's1'), 's3 still follows s1');
  s1.transport.send(g, [notice(memberOf(g, 's1'), st.term, st.commit)]);
  await waitFor(() => s3.host.stats().quiescings === before + 1, 'a valid notice quiesces s3');
  t.pass('the valid notice quiesced s3 (the next heartbeat wakes it again)');
  t.equal(s2.host.stats().quiescings, 0, 's2 never got a valid notice');
  t.equal(s1.host.stats().quiescings, 0, 's1 does not quiesce');
});

t.test('a leader whose follower is heard but lags stays awake', async (t) => {
  const c = await loopStoreCluster({ stores: 3, groups: 1, raftOn: (s) => ({ electionTimeoutTicks: s === 's1' ? 10 : 1000 }) });
  t.teardown(() => c.close());
  const g = 'g0';
  await waitFor(() => c.leaderStore(g) === 's1', 's1 leads');
  const s1 = c.stores[0]!;
  // One way only: s3 is still heard (its pings reach s1), so it is no silent store to
  // quiesce past; it just gets nothing from s1.
  c.hub.block('s1', 's3');
  await c.replica(g, 's1')!.propose(put('while', 'cut'));
  const firings = s1.host.stats().tickerFirings;
  await waitFor(() => s1.host.stats().tickerFirings >= firings + 30, 'thirty ticker firings');
  t.equal(s1.host.stats().peerStoresAlive.s3, true, 's1 still hears s3');
  t.equal(c.replica(g, 's1')!.quiesced, false, 'the leader did not quiesce with s3 lagging');
  t.equal(s1.host.stats().quiescings, 0);
  c.hub.heal();
  await waitFor(() => c.stores.every((s) => s.host.stats().quiesced === 1), 'every replica quiesced once s3 caught up', 30_000);
  t.equal(c.stores[2]!.sms.get(g)!.map.get('while'), 'cut', 's3 caught up before quiescing');
});
