// Proves RaftHost duties over LoopRaftTransports (real core, real codec, routing,
// liveness pings through the hub):
// - one Ready pass per turn: proposals to twenty groups in one turn start their Readies
//   in a single setImmediate of the host's;
// - staggered snapshots: twenty groups come due for a snapshot in the same turn; the host
//   lets them serialize one per event-loop turn (the others wait in its queue), and every
//   group still takes its snapshot;
// - partition with quiesced groups: the store leading every group is cut off while all are
//   quiesced; the survivors' liveness wakes their followers, which elect new leaders and
//   commit; the isolated store's liveness wakes its quiesced leaders, check-quorum steps
//   each down, and nothing proposed there after the cut is acknowledged;
// - busy leaders cut off: the isolated store steps every leader down as soon as its
//   liveness calls its peers silent, and answers the proposals waiting there "outcome
//   unknown: leadership lost" at once (long before their own timeouts), none applied;
// - a follower store cut off: the leaders quiesce again without it (the other two stores
//   go idle), and wake to catch it up once it is heard again, after which every replica
//   quiesces.

import t from 'tap';
import { put, waitFor } from './helpers.js';
import { loopStoreCluster, memberOf, storeOf } from './host-helpers.js';

/** Waits for every group to elect, then hands each one's leadership to its replica on `store`. */
async function leadEveryGroupFrom(c: Awaited<ReturnType<typeof loopStoreCluster>>, store: string): Promise<void> {
  await waitFor(() => c.groupIds.every((g) => c.leaderStore(g) !== null), 'leaders');
  await waitFor(() => {
    for (const g of c.groupIds) {
      const at = c.leaderStore(g);
      if (at !== null && at !== store) c.replica(g, at)!.transferLeadership(memberOf(g, store), { timeoutMs: 2000 }).catch(() => {});
    }
    return c.groupIds.every((g) => c.leaderStore(g) === store);
  }, `${store} leads every group`);
}

t.test('snapshots due together are taken one per turn', async (t) => {
  const groups = 20;
  const c = await loopStoreCluster({ stores: 1, groups, snapshotEveryEntries: 5 });
  t.teardown(() => c.close());
  const host = c.stores[0]!.host;
  await waitFor(() => c.groupIds.every((g) => c.leaderStore(g) === 's1'), 'single-voter groups lead themselves');
  let turnTaken = false;
  let sameTurn = 0;
  let taken = 0;
  let queuedMax = 0;
  for (const sm of c.stores[0]!.sms.values()) {
    const serialize = sm.snapshot.bind(sm);
    sm.snapshot = () => {
      // A setImmediate queued now runs before the next turn's snapshot pump.
      if (turnTaken) sameTurn++;
      turnTaken = true;
      setImmediate(() => (turnTaken = false));
      taken++;
      queuedMax = Math.max(queuedMax, host.stats().snapshotsQueued);
      return serialize();
    };
  }
  await Promise.all(c.groupIds.flatMap((g) => Array.from({ length: 5 }, (_, i) => c.replica(g, 's1')!.propose(put(`k${i}`, g)))));
  await waitFor(() => taken >= groups, 'every group snapshotted');
  t.equal(sameTurn, 0, 'never two snapshots serialized in one turn');
  t.ok(queuedMax > 0, `others waited in the queue meanwhile (up to ${queuedMax})`);
  t.equal(host.stats().snapshotsTaken, taken, 'all through the host queue');
  await waitFor(() => c.groupIds.every((g) => c.replica(g, 's1')!.status().snapshotIndex >= 5), 'logs compacted');
  t.pass('every group compacted its log');
});

t.test('one Ready pass per turn drives every group with work', async (t) => {
  const c = await loopStoreCluster({ stores: 1, groups: 20 });
  t.teardown(() => c.close());
  const host = c.stores[0]!.host;
  await waitFor(() => c.groupIds.every((g) => c.leaderStore(g) === 's1'), 'single-voter groups lead themselves');
  const before = host.stats();
  const proposals = c.groupIds.map((g) => c.replica(g, 's1')!.propose(put('k', g)));
  // A setImmediate queued now runs after the pass the proposals queued, and before any
  // pass queued during it.
  await new Promise((r) => setImmediate(r));
  const after = host.stats();
  t.equal(after.readyPasses - before.readyPasses, 1, 'the Readies of all twenty groups started in one pass');
  // In memory a save settles at once, so each single-voter group handles its entry's
  // Ready and then its commit's before the turn ends.
  t.equal(after.readies - before.readies, 40, 'two Readies each, counted in the host\'s stats');
  const results = await Promise.all(proposals);
  t.equal(results.length, 20, 'and every proposal was applied');
  const total = host.stats().readies;
  await c.replica(c.groupIds[0]!, 's1')!.close();
  t.equal(host.stats().groups, 19, 'one group closed');
  t.ok(host.stats().readies >= total, 'the count of Readies is a running total: a closed group\'s stay in it');
});

t.test('the store leading every group is cut off while they are quiesced', async (t) => {
  const c = await loopStoreCluster({ stores: 3, groups: 6 });
  t.teardown(() => c.close());
  await leadEveryGroupFrom(c, 's1');
  await waitFor(() => c.stores.every((s) => s.host.stats().quiesced === c.groupIds.length), 'all quiesced');
  const s1 = c.stores[0]!;

  c.hub.isolate('s1', ['s2', 's3']);
  await waitFor(() => s1.host.stats().peerStoresAlive.s2 === false && s1.host.stats().peerStoresAlive.s3 === false, 's1 finds its peer stores silent');
  const silenceWakes = s1.host.stats().wakesByReason.peerStoreSilent;
  t.ok(silenceWakes >= c.groupIds.length, `which woke each of its quiesced leaders (${silenceWakes} wakes)`);
  t.ok(c.groupIds.every((g) => !c.replica(g, 's1')!.quiesced), 'none of them is quiesced');
  const acked: string[] = [];
  const stale = c.groupIds.map((g) => c.replica(g, 's1')!.propose(put('stale', g), { timeoutMs: 3000 }).then(() => acked.push(g), () => {}));

  await Promise.all(c.groupIds.map(async (g) => {
    for (;;) {
      const leader = ['s2', 's3'].map((s) => c.replica(g, s)!).find((r) => r.isLeader());
      if (leader !== undefined) {
        try {
          await leader.propose(put('fresh', g), { timeoutMs: 2000 });
          return;
        } catch {
          // lost it again; look again
        }
      }
      await new Promise((r) => setTimeout(r, 5));
    }
  }));
  t.pass('every group elected a leader among s2 and s3 and committed');
  await waitFor(() => c.groupIds.every((g) => !c.replica(g, 's1')!.isLeader()), 'check-quorum stepped every old leader down', 30_000);
  t.pass('every isolated old leader stepped down');
  await Promise.all(stale);
  t.same(acked, [], 'nothing proposed on the isolated store was acknowledged');
  c.hub.heal();
  await waitFor(() => c.groupIds.every((g) => c.stores.every((s) => s.sms.get(g)!.map.get('fresh') === g)), 's1 caught up after the heal');
  t.ok(c.groupIds.every((g) => storeOf(c.replica(g, 's1')!.leader() ?? 's1') !== 's1'), 's1 follows the new leaders');
  t.ok(c.groupIds.every((g) => c.stores.every((s) => !s.sms.get(g)!.map.has('stale'))), 'no replica applied a stale proposal');
});

t.test('busy leaders cut off step down at once and answer their waiting proposals', async (t) => {
  // Ticks as in production (100 ms, election timeout 1 s), so check-quorum would take a
  // second: the step-down seen here is store liveness's (250 ms).
  const c = await loopStoreCluster({ stores: 3, groups: 6, quiesce: false, tickMs: 100 });
  t.teardown(() => c.close());
  await leadEveryGroupFrom(c, 's1');
  const s1 = c.stores[0]!;
  const before = s1.host.stats().leadersSteppedDown;

  c.hub.isolate('s1', ['s2', 's3']);
  // Proposed before s1 knows: each waits for a commit it cannot reach.
  const waiting = c.groupIds.map((g) => c.replica(g, 's1')!.propose(put('cut', g), { timeoutMs: 60_000 }).then(() => null, (e: Error & { code?: string }) => e));
  const errors = await Promise.all(waiting);
  t.ok(errors.every((e) => e !== null), 'no proposal on the isolated store was acknowledged');
  t.ok(errors.every((e) => e!.code === 'RAFT_ERR_TIMEOUT' && /outcome unknown: leadership lost/.test(e!.message)), `each was answered "outcome unknown: leadership lost", not by its 60 s timeout (${errors[0]?.message})`);
  t.equal(s1.host.stats().leadersSteppedDown - before, c.groupIds.length, `every leader on s1 stepped down on store liveness (${s1.host.stats().leadersSteppedDown - before})`);
  t.ok(c.groupIds.every((g) => !c.replica(g, 's1')!.isLeader()), 'none leads any more');
  for (const g of c.groupIds) {
    await waitFor(() => ['s2', 's3'].some((s) => c.replica(g, s)!.isLeader()), `${g} elects a leader on s2 or s3`);
  }
  c.hub.heal();
  await waitFor(() => c.groupIds.every((g) => c.leaderStore(g) !== null && c.leaderStore(g) !== 's1'), 's1 follows the new leaders');
  await Promise.all(c.groupIds.map(async (g) => {
    for (;;) {
      const leader = c.stores.map((s) => c.replica(g, s.id)!).find((r) => r.isLeader());
      if (leader !== undefined && (await leader.propose(put('after', g), { timeoutMs: 2000 }).then(() => true, () => false))) return;
      await new Promise((r) => setTimeout(r, 5));
    }
  }));
  await waitFor(() => c.groupIds.every((g) => c.stores.every((s) => s.sms.get(g)!.map.get('after') === g)), 'every replica applied the write after the heal');
  t.ok(c.groupIds.every((g) => c.stores.every((s) => !s.sms.get(g)!.map.has('cut'))), 'no replica applied a proposal of the cut-off leaders');
});

t.test('groups quiesce past a silent follower store and catch it up when it is back', async (t) => {
  const c = await loopStoreCluster({ stores: 3, groups: 4 });
  t.teardown(() => c.close());
  await waitFor(() => c.groupIds.every((g) => c.leaderStore(g) !== null), 'leaders');
  await waitFor(() => {
    for (const g of c.groupIds) {
      const at = c.leaderStore(g);
      if (at === 's3') c.replica(g, at)!.transferLeadership(memberOf(g, 's1'), { timeoutMs: 2000 }).catch(() => {});
    }
    return c.groupIds.every((g) => c.leaderStore(g) !== null && c.leaderStore(g) !== 's3');
  }, 'no group led from s3');
  const [s1, s2, s3] = c.stores as [typeof c.stores[0], typeof c.stores[0], typeof c.stores[0]];
  await waitFor(() => c.stores.every((s) => s.host.stats().quiesced === c.groupIds.length), 'all quiesced');

  c.hub.isolate('s3', ['s1', 's2']);
  await waitFor(() => s1.host.stats().peerStoresAlive.s3 === false && s2.host.stats().peerStoresAlive.s3 === false, 's3 silent');
  for (const g of c.groupIds) {
    await waitFor(() => [s1, s2].some((s) => s.host.groups.get(g)!.isLeader()), `${g} led from s1 or s2`);
    await [s1, s2].map((s) => s.host.groups.get(g)!).find((r) => r.isLeader())!.propose(put('while', 's3 away'));
  }
  await waitFor(() => [s1, s2].every((s) => s.host.stats().quiesced === c.groupIds.length), 's1 and s2 quiesce without s3');
  t.ok(c.groupIds.every((g) => !s3.sms.get(g)!.map.has('while')), 's3 missed the writes');

  const back = [s1, s2].map((s) => s.host.stats().wakesByReason.peerStoreBack);
  c.hub.heal();
  await waitFor(() => c.groupIds.every((g) => s3.sms.get(g)!.map.get('while') === 's3 away'), 's3 caught up');
  const woke = [s1, s2].reduce((n, s, i) => n + s.host.stats().wakesByReason.peerStoreBack - back[i]!, 0);
  t.ok(woke >= 1, `leaders woke when s3 was heard again (${woke})`);
  await waitFor(() => c.stores.every((s) => s.host.stats().quiesced === c.groupIds.length), 'every replica quiesced again', 30_000);
  t.pass('every replica of every group quiesced with s3 back');
});
