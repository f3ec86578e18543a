// Proves the RaftGroup driver runs a real replicated state machine, with three groups in
// one process over LoopRaftTransport and MemoryRaftStorage (real core, real codec):
// a single leader is elected and agreed on; proposals resolve with the state machine's
// result after every replica applied them; a follower refuses with RAFT_ERR_NOT_LEADER
// and names the leader; read() is linearizable (sees every acknowledged write, also from
// a follower); proposals made in one event-loop turn are persisted in one save (group
// commit); after the leader close()s the others elect a new one and keep committing, and
// the old leader re-opened from its storage rebuilds its state and catches up; close()
// rejects waiting callers with RAFT_ERR_CLOSED; an unanswered proposal times out; and a
// proposal made by a cut-off leader, whose index the majority fills with another term,
// rejects with RAFT_ERR_NOT_LEADER (certainly not applied) once the partition heals.

import t, { type Test } from 'tap';
import { LoopCluster, put, waitFor } from './helpers.js';

/** Three members; the leader, once it committed a write, is cut off from the other two. */
async function isolatedLeader(t: Pick<Test, 'teardown'>, opts?: ConstructorParameters<typeof LoopCluster>[1]) {
  const c = new LoopCluster(['a', 'b', 'c'], opts);
  t.teardown(() => c.closeAll());
  for (const id of c.voters) await c.open(id);
  const old = await c.leader();
  await old.group.propose(put('base', '1'));
  c.hub.isolate(old.id, c.voters);
  return { c, old };
}

t.test('elect, replicate, redirect, read, fail over, recover', async (t) => {
  const c = new LoopCluster(['a', 'b', 'c']);
  t.teardown(() => c.closeAll());
  for (const id of c.voters) await c.open(id);
  const leader = await c.leader();
  t.equal(c.leaders().length, 1, 'exactly one leader');

  const r1 = await leader.group.propose(put('x', '1'));
  t.equal(r1.result, 1, 'result of apply returned to the proposer');
  t.ok(r1.index > 0);
  await waitFor(() => [...c.members.values()].every((m) => m.sm.map.get('x') === '1'), 'x applied everywhere');

  const follower = [...c.members.values()].find((m) => m !== leader)!;
  await t.rejects(follower.group.propose(put('y', '1')), { code: 'RAFT_ERR_NOT_LEADER', leaderHint: leader.id });

  await leader.group.propose(put('y', '2'));
  await follower.group.read();
  t.equal(follower.sm.map.get('y'), '2', 'a follower read after read() sees the acknowledged write');
  await leader.group.read();
  t.equal(leader.sm.map.get('y'), '2');

  // group commit: 100 proposals in one turn land in one save on the leader
  const savesBefore = leader.storage.saves.length;
  const many = Array.from({ length: 100 }, (_, i) => leader.group.propose(put(`k${i}`, `${i}`)));
  const results = await Promise.all(many);
  t.same(results.map((r) => r.index), results.map((_, i) => results[0]!.index + i), 'consecutive indexes');
  const withEntries = leader.storage.saves.slice(savesBefore).filter((s) => s.entries > 0);
  t.equal(withEntries[0]!.entries, 100, 'all 100 entries persisted by one save');
  t.ok(withEntries.every((s) => s.sync), 'entry saves are synced');

  // fail over
  const oldId = leader.id;
  await c.close(oldId);
  const next = await c.leader();
  t.not(next.id, oldId, 'a new leader took over');
  await next.group.propose(put('after', 'failover'));

  // the old leader comes back from its storage and catches up
  const back = await c.open(oldId);
  await waitFor(() => back.sm.map.get('after') === 'failover', 'old leader caught up');
  t.equal(back.sm.map.size, next.sm.map.size, 'same state as the leader');
  t.equal(back.group.leader(), next.id);
});

t.test('close() rejects waiting callers with RAFT_ERR_CLOSED', async (t) => {
  const c = new LoopCluster(['a', 'b', 'c']);
  t.teardown(() => c.closeAll());
  for (const id of c.voters) await c.open(id);
  const leader = await c.leader();
  // cut the leader off so its proposal cannot commit, then close it
  c.hub.isolate(leader.id, c.voters);
  const stuck = leader.group.propose(put('never', '1'), { timeoutMs: 60_000 });
  await new Promise((r) => setTimeout(r, 20));
  await leader.group.close();
  await t.rejects(stuck, { code: 'RAFT_ERR_CLOSED' });
  await t.rejects(leader.group.propose(put('z', '1')), { code: 'RAFT_ERR_CLOSED' });
});

t.test('an unanswered proposal times out with RAFT_ERR_TIMEOUT', async (t) => {
  const c = new LoopCluster(['a', 'b', 'c']);
  t.teardown(() => c.closeAll());
  for (const id of c.voters) await c.open(id);
  const leader = await c.leader();
  c.hub.isolate(leader.id, c.voters);
  await t.rejects(leader.group.propose(put('lost', '1'), { timeoutMs: 50 }), { code: 'RAFT_ERR_TIMEOUT' });
});

t.test('a single-voter group commits on its own', async (t) => {
  const c = new LoopCluster(['solo']);
  t.teardown(() => c.closeAll());
  const m = await c.open('solo');
  await waitFor(() => m.group.isLeader(), 'solo leader');
  const r = await m.group.propose(put('a', 'b'));
  t.equal(r.result, 1);
});

t.test('a proposal whose index is committed with another term rejects as not applied', async (t) => {
  // Without check-quorum the isolated leader leads on until it hears its successor, and
  // then learns for certain that its entry lost.
  const { c, old } = await isolatedLeader(t, { raft: { checkQuorum: false } });
  const orphan = old.group.propose(put('orphan', '1'), { timeoutMs: 60_000 });
  const outcome = orphan.then(
    () => 'applied',
    (e: { code: string }) => e.code,
  );
  const others = [...c.members.values()].filter((m) => m !== old);
  await waitFor(() => others.some((m) => m.group.isLeader()), 'a new leader on the majority side');
  const fresh = others.find((m) => m.group.isLeader())!;
  await fresh.group.propose(put('winner', '1'));
  c.hub.heal();
  t.equal(await outcome, 'RAFT_ERR_NOT_LEADER', 'the orphan was certainly not applied');
  await waitFor(() => old.sm.map.get('winner') === '1', 'old leader converged');
  t.notOk(old.sm.map.has('orphan'), 'and never applied the orphan');
});

t.test('a leader stepping down with no successor known answers its waiting proposal "outcome unknown" at once', async (t) => {
  const { c, old } = await isolatedLeader(t);
  const orphan = await old.group.propose(put('orphan', '1'), { timeoutMs: 60_000 }).then(() => null, (e: Error & { code?: string }) => e);
  t.equal(orphan?.code, 'RAFT_ERR_TIMEOUT', 'not acknowledged: outcome unknown');
  t.match(orphan?.message, /leadership lost with index \d+ uncommitted and no new leader known/, 'said when check-quorum stepped the leader down, not at its 60 s timeout');
  t.notOk(old.group.isLeader(), 'the old leader no longer leads');
  const others = [...c.members.values()].filter((m) => m !== old);
  await waitFor(() => others.some((m) => m.group.isLeader()), 'a new leader on the majority side');
  await others.find((m) => m.group.isLeader())!.group.propose(put('winner', '1'));
  c.hub.heal();
  await waitFor(() => old.sm.map.get('winner') === '1', 'old leader converged');
  t.notOk(old.sm.map.has('orphan'), 'the orphan was never applied');
});

t.test('a commit-only hard state waits for a tick firing, not the next write; close() still makes it durable', async (t) => {
  const c = new LoopCluster(['a', 'b', 'c'], { tickMs: 20, raft: { electionTimeoutTicks: 10, heartbeatTicks: 2 } });
  t.teardown(() => c.closeAll());
  for (const id of c.voters) await c.open(id);
  const leader = await c.leader();
  const members = [...c.members.values()];
  const before = new Map(members.map((m) => [m.id, m.storage.saves.length]));
  for (let i = 0; i < 50; i++) await leader.group.propose(put(`s${i}`, `${i}`));
  const saves = leader.storage.saves.slice(before.get(leader.id));
  const commitOnly = saves.filter((s) => s.entries === 0).length;
  const withEntries = saves.filter((s) => s.entries > 0).length;
  t.equal(withEntries, 50, 'one synced save per sequential proposal');
  // Once every commit was a LevelDB write of its own (50 more here); the commit index
  // goes out at a tick firing (every 40 ms) instead.
  t.ok(commitOnly < 25, `commit-only saves: ${commitOnly} for 50 commits`);
  // Nor does it ride with the entries: a follower's commit moves with nearly every
  // append, and one hard-state put per group per Ready was most of a busy store's keys.
  for (const m of members) {
    const carrying = m.storage.saves.slice(before.get(m.id)).filter((s) => s.entries > 0 && s.hardState).length;
    t.equal(carrying, 0, `${m.id}${m === leader ? ' (leader)' : ''}: no save of entries carries a commit-only hard state`);
  }
  const lastIndex = (await leader.group.propose(put('last', 'x'))).index;
  const storage = leader.storage;
  await c.close(leader.id);
  const loaded = await storage.load();
  t.equal(loaded.hardState.commit, lastIndex, 'the last commit index was written on close');
});
