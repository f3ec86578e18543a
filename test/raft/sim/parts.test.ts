// Proves the simulator's parts behave as the fault model says, without any Raft core:
// the seeded generator replays and stays in range; the disk keeps only synced writes
// across a crash (a synced write also makes earlier ones durable), overwrites and
// truncates the log like Ready asks, and compacts; the network drops everything on a
// cut link or at loss 1, delivers everything at loss 0, and duplicates when told to.
// A store's shared disk loses the unsynced tail of every group's log in one crash, and an
// fsync covers exactly the writes made before it began. The leader's view handed to
// raft/group's quiescence rules hides a lagging member only with the planted bug on.

import t from 'tap';
import type { Entry, Message } from '../../../raft/types.js';
import type { RaftStatus } from '../../../raft/types.js';
import { SharedDisk, SimDisk } from '../../../raft/sim/disk.js';
import { leaderMayQuiesce } from '../../../raft/group/quiesce.js';
import { leaderView } from '../../../raft/sim/quiesce.js';
import { Network } from '../../../raft/sim/network.js';
import type { NetworkProfile } from '../../../raft/sim/network.js';
import { createPrng } from '../../../raft/sim/prng.js';
import { Scheduler } from '../../../raft/sim/scheduler.js';

const entry = (index: number, term: number, tag = ''): Entry => ({ index, term, kind: 'normal', timestampMs: 0, data: new TextEncoder().encode(tag) });

t.test('prng: one seed, one stream; forks are independent of later draws', async (t) => {
  const a = createPrng(42);
  const b = createPrng(42);
  const xs = Array.from({ length: 100 }, () => a.next());
  t.same(Array.from({ length: 100 }, () => b.next()), xs);
  t.ok(xs.every((x) => x >= 0 && x < 1));
  t.not(createPrng(43).next(), createPrng(42).next());
  const c = createPrng(7);
  const f1 = c.fork('net').next();
  c.next();
  t.equal(c.fork('net').next(), f1, 'a fork depends on the seed and label only');
  for (let i = 0; i < 200; i++) {
    const r = a.range(3, 5);
    t.ok(r >= 3 && r <= 5 && Number.isInteger(r));
  }
});

t.test('disk: a crash loses unsynced writes and keeps synced ones', async (t) => {
  const d = new SimDisk();
  d.write({ hardState: { term: 1, vote: 'n1', commit: 0 }, entries: [entry(1, 1)], snapshot: null }, true);
  d.write({ hardState: { term: 2, vote: 'n2', commit: 1 }, entries: [entry(2, 2)], snapshot: null }, false);
  t.equal(d.lastIndex(), 2, 'the running process reads its unsynced write back');
  d.crash();
  const boot = d.load();
  t.same(boot.hardState, { term: 1, vote: 'n1', commit: 0 });
  t.same(boot.entries.map((e) => e.index), [1]);
  t.equal(d.lastIndex(), 1, 'after the crash the process sees the durable state');
});

t.test('disk: a synced write makes earlier unsynced writes durable too', async (t) => {
  const d = new SimDisk();
  d.write({ hardState: { term: 3, vote: 'n3', commit: 0 }, entries: [], snapshot: null }, false);
  d.write({ hardState: null, entries: [entry(1, 3)], snapshot: null }, true);
  d.crash();
  t.same(d.load().hardState, { term: 3, vote: 'n3', commit: 0 });
  t.equal(d.load().entries.length, 1);
});

t.test('disk: entries overwrite from their first index and truncate the rest', async (t) => {
  const d = new SimDisk();
  d.write({ hardState: null, entries: [entry(1, 1), entry(2, 1), entry(3, 1), entry(4, 1)], snapshot: null }, true);
  d.write({ hardState: null, entries: [entry(3, 2)], snapshot: null }, true);
  t.same(d.load().entries.map((e) => `${e.index}/${e.term}`), ['1/1', '2/1', '3/2']);
  t.throws(() => d.write({ hardState: null, entries: [entry(6, 2)], snapshot: null }, true), /gap/);
});

t.test('disk: compaction keeps entries after the snapshot, a foreign snapshot drops all', async (t) => {
  const d = new SimDisk();
  d.write({ hardState: null, entries: [entry(1, 1), entry(2, 1), entry(3, 1)], snapshot: null }, true);
  d.compact({ meta: { index: 2, term: 1, conf: { voters: ['n1'], learners: [] } }, data: new Uint8Array() });
  t.same(d.load().entries.map((e) => e.index), [3]);
  t.equal(d.termAt(2), 1);
  t.equal(d.entryAt(2), null, 'compacted entries are gone');
  d.write({ hardState: null, entries: [], snapshot: { meta: { index: 5, term: 4, conf: { voters: ['n1'], learners: [] } }, data: new Uint8Array() } }, true);
  t.same(d.load().entries, []);
  t.equal(d.lastIndex(), 5);
});

function net(profile: Partial<NetworkProfile>, seed = 1): { sched: Scheduler; network: Network<Message>; got: Message[] } {
  const sched = new Scheduler();
  const got: Message[] = [];
  const p: NetworkProfile = { lossP: 0, duplicateP: 0, delayMsMin: 1, delayMsMax: 10, slowP: 0, ...profile };
  return { sched, network: new Network<Message>(sched, createPrng(seed), p, (m) => got.push(m)), got };
}

const hb = (from: string, to: string, term: number): Message => ({ type: 'heartbeat', from, to, term, commit: 0, context: '' });

function drain(s: Scheduler): void {
  while (s.runNext(Infinity));
}

t.test('network: loss 0 delivers everything, loss 1 nothing; duplicates when told', async (t) => {
  const a = net({});
  for (let i = 0; i < 50; i++) a.network.send(hb('n1', 'n2', i));
  drain(a.sched);
  t.equal(a.got.length, 50);
  t.not(a.got.map((m) => m.term).join(), [...Array(50).keys()].join(), 'random delays reorder messages');
  const b = net({ lossP: 1 });
  for (let i = 0; i < 50; i++) b.network.send(hb('n1', 'n2', i));
  drain(b.sched);
  t.equal(b.got.length, 0);
  const c = net({ duplicateP: 1 });
  for (let i = 0; i < 10; i++) c.network.send(hb('n1', 'n2', i));
  drain(c.sched);
  t.equal(c.got.length, 20);
});

t.test('network: cut links drop both new and in-flight messages, one way only', async (t) => {
  const a = net({ delayMsMin: 5, delayMsMax: 5 });
  a.network.send(hb('n1', 'n2', 1));
  a.network.send(hb('n2', 'n1', 1));
  a.network.cutLink('n1', 'n2');
  a.network.send(hb('n1', 'n2', 2));
  a.network.send(hb('n2', 'n1', 2));
  drain(a.sched);
  t.same(a.got.map((m) => `${m.from}>${m.to}:${m.term}`), ['n2>n1:1', 'n2>n1:2']);
  a.network.heal();
  a.network.isolate(['n3'], ['n1', 'n2', 'n3']);
  for (const [f, to] of [['n1', 'n3'], ['n3', 'n2'], ['n1', 'n2']] as const) a.network.send(hb(f, to, 3));
  drain(a.sched);
  t.same(a.got.slice(2).map((m) => `${m.from}>${m.to}`), ['n1>n2']);
});

t.test('scheduler: time order, ties in insertion order', async (t) => {
  const s = new Scheduler();
  const seen: string[] = [];
  s.at(5, () => seen.push('b'));
  s.at(1, () => seen.push('a'));
  s.at(5, () => seen.push('c'));
  s.at(9, () => seen.push('late'));
  while (s.runNext(6));
  t.same(seen, ['a', 'b', 'c']);
  t.equal(s.nowMs, 5);
});

t.test('shared disk: one crash loses the unsynced tail of every group; an fsync covers what came before it', async (t) => {
  const shared = new SharedDisk();
  const a = shared.open();
  const b = shared.open();
  a.write({ hardState: null, entries: [entry(1, 1, 'a1')], snapshot: null }, false);
  b.write({ hardState: null, entries: [entry(1, 1, 'b1')], snapshot: null }, false);
  const upTo = shared.beginSync();
  a.write({ hardState: null, entries: [entry(2, 1, 'a2')], snapshot: null }, false);
  b.write({ hardState: { term: 1, vote: 'n1', commit: 0 }, entries: [entry(2, 1, 'b2')], snapshot: null }, false);
  t.equal(shared.unsyncedWrites, 4);
  shared.completeSync(upTo);
  t.equal(shared.unsyncedWrites, 2, 'the fsync made the two writes before it durable, not the two after');
  t.equal(shared.syncs, 1);
  shared.crash([a.log, b.log]);
  t.same(a.load().entries.map((e) => e.index), [1], 'group a keeps its synced entry only');
  t.same(b.load().entries.map((e) => e.index), [1], 'group b too');
  t.same(b.load().hardState, { term: 0, vote: null, commit: 0 }, 'an unsynced vote is lost');
  t.equal(a.lastIndex(), 1, 'the process sees the durable state after the crash');
  t.equal(shared.lostWrites, 2);
});

function leaderStatus(peers: { id: string; match: number; active?: boolean }[], over: Partial<RaftStatus> = {}): RaftStatus {
  const ids = ['n1', ...peers.map((p) => p.id)];
  return {
    id: 'n1', role: 'leader', term: 3, vote: 'n1', leader: 'n1', commit: 10, applied: 10, lastIndex: 10, firstIndex: 1, snapshotIndex: 0,
    conf: { voters: ids, learners: [] }, leadership: 'election', failed: null,
    peers: [
      { id: 'n1', voter: true, matchIndex: 10, nextIndex: 11, state: 'replicate', recentActive: true },
      ...peers.map((p) => ({ id: p.id, voter: true, matchIndex: p.match, nextIndex: p.match + 1, state: 'replicate' as const, recentActive: p.active ?? true })),
    ],
    ...over,
  };
}

t.test("quiesce: the simulator judges leaders by raft/group's rules; the planted bug hides a lagging member", async (t) => {
  const work = { pendingRequests: 0, readyPending: false, silentMembers: [] };
  t.ok(leaderMayQuiesce(leaderView(leaderStatus([{ id: 'n2', match: 10 }, { id: 'n3', match: 10 }]), work, false)), 'all caught up: quiesce');
  const lagging = leaderStatus([{ id: 'n2', match: 10 }, { id: 'n3', match: 8 }]);
  t.notOk(leaderMayQuiesce(leaderView(lagging, work, false)), 'a lagging follower keeps the group awake');
  t.ok(leaderMayQuiesce(leaderView(lagging, work, true)), 'with quiesce-with-lagging-follower it quiesces anyway');
  t.notOk(leaderMayQuiesce(leaderView(lagging, { ...work, pendingRequests: 1 }, true)), 'the bug touches nothing else: work pending still keeps it awake');
  t.notOk(leaderMayQuiesce(leaderView(leaderStatus([{ id: 'n2', match: 10, active: false }]), work, true)), 'nor does it quiesce past an unheard member');
  const behindSilent = leaderStatus([{ id: 'n2', match: 10 }, { id: 'n3', match: 4, active: false }]);
  t.ok(leaderMayQuiesce(leaderView(behindSilent, { ...work, silentMembers: ['n3'] }, false)), 'a member on a silent store is not waited for while the rest make a quorum');
  t.notOk(leaderMayQuiesce(leaderView(leaderStatus([{ id: 'n2', match: 10 }, { id: 'n3', match: 10 }]), { ...work, silentMembers: ['n2', 'n3'] }, false)), 'but a minority does not quiesce');
});
