// Proves the driver's snapshot, membership and leadership paths end to end over the
// in-memory hub with the real core:
// - with a small snapshotEveryEntries every replica snapshots and compacts its log
//   (core and storage), and a replica that was down while the log was compacted past it
//   catches up through InstallSnapshot, restoring its state machine from the snapshot;
// - a restarted replica rebuilds its state from its own snapshot plus the entries after;
// - addLearner → promote → removeMember works: the learner receives the log without
//   voting, becomes a voter, and the removed voter no longer counts;
// - transferLeadership hands the lead to the named voter;
// - a storage failure makes that replica stop acknowledging (RAFT_ERR_FAILED) while the
//   others carry on.

import t from 'tap';
import { MemoryRaftStorage } from '../../../raft/storage/memory-storage.js';
import type { StorageBatch } from '../../../raft/storage/storage.js';
import { ioError } from '../../../raft/io-error.js';
import { LoopCluster, RecordingStorage, put, waitFor } from './helpers.js';

t.test('snapshots compact the log and a lagging replica catches up by InstallSnapshot', async (t) => {
  const c = new LoopCluster(['a', 'b', 'c'], { snapshotEveryEntries: 20 });
  t.teardown(() => c.closeAll());
  for (const id of c.voters) await c.open(id);
  const leader = await c.leader();
  const lagger = [...c.members.values()].find((m) => m !== leader)!.id;
  await leader.group.propose(put('before', '1'));
  await waitFor(() => c.members.get(lagger)!.sm.map.has('before'), 'lagger has the first write');
  await c.close(lagger);

  for (let i = 0; i < 70; i++) await leader.group.propose(put(`k${i % 30}`, `${i}`));
  const st = leader.group.status();
  // Replicas take turns (snapshot-phase.ts): a snapshot at most one interval behind the log.
  t.ok(st.snapshotIndex >= st.lastIndex - 20, `leader snapshotted at ${st.snapshotIndex} of ${st.lastIndex}`);
  t.ok(st.firstIndex > st.snapshotIndex, 'leader log compacted');
  t.ok(leader.storage.compactions >= 3, 'storage compacted');
  const stored = await leader.storage.inner.load();
  t.equal(stored.snapshot?.meta.index, st.snapshotIndex, 'snapshot stored');
  t.equal(stored.entries[0]?.index ?? st.snapshotIndex + 1, st.snapshotIndex + 1, 'stored log starts after it');

  const back = await c.open(lagger);
  await waitFor(() => back.sm.map.get('k9') === '69', 'lagger caught up');
  t.ok(back.sm.restores >= 1, 'state machine restored from a snapshot');
  t.same([...back.sm.map].sort(), [...leader.sm.map].sort(), 'same state as the leader');
  t.ok(back.group.status().snapshotIndex >= 40, 'lagger holds a snapshot from after it went down');

  // restart the leader: state = its snapshot + replayed entries
  const leaderId = leader.id;
  const before = [...leader.sm.map].sort();
  await c.close(leaderId);
  const reopened = await c.open(leaderId);
  await waitFor(() => JSON.stringify([...reopened.sm.map].sort()) === JSON.stringify(before), 'restarted replica rebuilt its state');
  t.same([...reopened.sm.map].sort(), before);
  t.ok(reopened.sm.restores >= 1, 'rebuilt from its own snapshot');
});

t.test('addLearner, promote and removeMember end to end', async (t) => {
  const c = new LoopCluster(['a', 'b', 'c']);
  t.teardown(() => c.closeAll());
  for (const id of c.voters) await c.open(id);
  let leader = await c.leader();
  await leader.group.propose(put('x', '1'));

  const d = await c.open('d'); // boots with the bootstrap conf, in which it is no voter
  await leader.group.addLearner('d');
  t.same(leader.group.status().conf.learners, ['d']);
  await waitFor(() => d.sm.map.get('x') === '1', 'learner receives the log');
  t.equal(d.group.status().role, 'learner');

  await waitFor(() => (leader.group.status().peers.find((p) => p.id === 'd')?.matchIndex ?? 0) >= leader.group.status().lastIndex, 'learner caught up');
  await leader.group.promote('d');
  t.ok(leader.group.status().conf.voters.includes('d'), 'd is a voter');
  await waitFor(() => d.group.status().role === 'follower', 'd knows it votes');

  const victim = c.voters.find((id) => id !== leader.id)!;
  await leader.group.removeMember(victim);
  t.notOk(leader.group.status().conf.voters.includes(victim), `${victim} removed`);
  await c.close(victim);
  // 3 voters remain (leader, d, the other): commits still need and get a majority
  await leader.group.propose(put('after', 'remove'));
  await waitFor(() => d.sm.map.get('after') === 'remove', 'd applies new entries as a voter');

  // transfer leadership to d
  await leader.group.transferLeadership('d');
  await waitFor(() => d.group.isLeader(), 'd leads');
  leader = (await c.leader());
  t.equal(leader.id, 'd');
  const r = await d.group.propose(put('by', 'd'));
  t.ok(r.index > 0, 'the new leader commits');
});

/** A real MemoryRaftStorage that starts failing every write on demand (a full disk). */
class FailingStorage extends MemoryRaftStorage {
  broken = false;
  override async save(batch: StorageBatch, sync: boolean): Promise<void> {
    if (this.broken) throw ioError('RAFT_ERR_STORAGE', 'ENOSPC: no space left on device');
    return super.save(batch, sync);
  }
}

t.test('a replica whose storage fails stops acknowledging; the rest carry on', async (t) => {
  const c = new LoopCluster(['a', 'b', 'c']);
  t.teardown(() => c.closeAll());
  for (const id of c.voters) await c.open(id);
  let leader = await c.leader();
  // swap in a failing storage for the leader by restarting it on one
  const failing = new FailingStorage();
  const seed = await leader.storage.inner.load();
  await failing.save({ hardState: seed.hardState, entries: seed.entries, snapshot: seed.snapshot }, true);
  c.setStorage(leader.id, new RecordingStorage(failing));
  const id = leader.id;
  await c.close(id);
  leader = await c.leader();
  const victim = await c.open(id);
  await leader.group.transferLeadership(id);
  await waitFor(() => victim.group.isLeader(), 'victim leads');
  await victim.group.propose(put('ok', '1'));

  failing.broken = true;
  await t.rejects(victim.group.propose(put('lost', '1')), { code: 'RAFT_ERR_FAILED' });
  t.match(victim.group.status().failed, /ENOSPC/);
  t.notOk(victim.group.isLeader(), 'failed replica stepped down');
  await t.rejects(victim.group.read(), { code: 'RAFT_ERR_FAILED' });
  const others = [...c.members.values()].filter((m) => m.id !== id);
  await waitFor(() => others.some((m) => m.group.isLeader()), 'another leader');
  const newLeader = others.find((m) => m.group.isLeader())!;
  await newLeader.group.propose(put('still', 'works'));
  t.notOk(victim.sm.map.has('lost'), 'the failed write never applied on the failed replica');
});
