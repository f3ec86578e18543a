// Proves RaftHost end to end over real TcpRaftTransports on 127.0.0.1 (port 0): three
// stores, each hosting one replica of the same 30 groups, each store with its one shared
// LevelDB log (SharedLogDb) as in production.
// - every group elects a leader, and each store holds exactly one authenticated outbound
//   link per peer store and accepts exactly one inbound per peer store: 6 connections in
//   all for 30 groups;
// - proposals commit and apply on every replica of every group; with all groups busy,
//   the messages to a peer store travel several to a frame (coalescing);
// - left idle, every group quiesces on every store; then no Raft frame flows, the ticker
//   stops firing, and only liveness pings go out;
// - the store leading a third of the groups dies (its transport and host closed while the
//   groups are quiesced): store liveness wakes its followers, every one of those groups
//   elects a new leader and commits a proposal, and none of the other groups loses its
//   leader or changes term.
// Deadlines below are hang guards, not measurements; the failover time is printed
// (with this test's timeouts; the defaults detect a dead store 4x sooner).

import t from 'tap';
import { put, waitFor } from './helpers.js';
import { memberOf, storeOf, tcpStoreCluster } from './host-helpers.js';

const GROUPS = 30;

t.test('three stores, thirty groups, one connection per store pair', async (t) => {
  // A 300 ms election timeout and a 1 s liveness timeout (not 100 and 250 ms): parallel
  // test files on 2 cores stall this one process — all three stores at once — long enough
  // for check-quorum to depose a healthy leader, or for liveness to raise a false alarm
  // whose pre-votes break the silence the idle phase checks.
  const c = await tcpStoreCluster({ stores: 3, groups: GROUPS, raftOn: () => ({ electionTimeoutTicks: 30 }), livenessTimeoutMs: 1000, logDir: t.testdir() });
  t.teardown(() => c.close());
  const [s1, s2, s3] = c.stores as [typeof c.stores[0], typeof c.stores[0], typeof c.stores[0]];

  await waitFor(() => c.groupIds.every((g) => c.leaderStore(g) !== null), 'a leader in every group', 60_000);
  t.pass('every group elected a leader');

  for (const s of c.stores) {
    const links = s.transport.peerStats();
    t.same(Object.keys(links).sort(), c.stores.filter((x) => x !== s).map((x) => x.id), `${s.id}: one outbound link per peer store`);
    t.ok(Object.values(links).every((l) => l.connected && l.connects === 1), `${s.id}: each link connected once`);
    t.equal(s.transport.inbound.authenticated, 2, `${s.id}: exactly one inbound link per peer store`);
    t.equal(s.transport.inboundSockets, 2, `${s.id}: and no other inbound socket open`);
  }

  // Each store leads a third of the groups, so the failover below hits a third of them.
  const want = (i: number) => c.stores[i % 3]!.id;
  await waitFor(() => {
    for (const [i, g] of c.groupIds.entries()) {
      const at = c.leaderStore(g);
      if (at !== null && at !== want(i)) c.replica(g, at)!.transferLeadership(memberOf(g, want(i)), { timeoutMs: 2000 }).catch(() => {});
    }
    return c.groupIds.every((g, i) => c.leaderStore(g) === want(i));
  }, 'leadership spread over the stores', 60_000);

  const balancedTerms = c.groupIds.map((g) => c.replica(g, 's2')!.status().term);
  const before = s1.transport.stats();
  for (let round = 0; round < 5; round++) {
    await Promise.all(c.groupIds.map((g) => c.replica(g, c.leaderStore(g)!)!.propose(put(`k${round}`, g))));
  }
  const after = s1.transport.stats();
  const frames = after.framesSent - before.framesSent;
  const messages = after.messagesSent - before.messagesSent;
  t.ok(frames > 0 && messages / frames > 1, `busy: ${messages} messages in ${frames} frames from s1 (${(messages / frames).toFixed(1)} per frame)`);
  await waitFor(() => c.stores.every((s) => c.groupIds.every((g) => s.sms.get(g)!.map.size === 5)), 'every replica applied every proposal', 60_000);
  t.pass('proposals committed and applied on every replica of every group');

  await waitFor(() => c.stores.every((s) => s.host.stats().quiesced === GROUPS), 'every group quiesced on every store', 60_000);
  // The followers' answers to the last quiesce notices may still be on their way; a ping
  // goes out only after a ping interval with nothing else to send.
  const pings = c.stores.map((s) => s.transport.stats().pingsSent);
  await waitFor(() => c.stores.every((s, i) => s.transport.stats().pingsSent >= pings[i]! + 2), 'pings only');
  const idleBefore = c.stores.map((s) => ({ tr: s.transport.stats(), host: s.host.stats() }));
  await new Promise((r) => setTimeout(r, 600));
  for (const [i, s] of c.stores.entries()) {
    const tr = s.transport.stats();
    const host = s.host.stats();
    t.equal(host.quiesced, GROUPS, `${s.id}: still ${GROUPS} quiesced`);
    t.equal(tr.framesSent - idleBefore[i]!.tr.framesSent, 0, `${s.id}: no Raft frame while quiesced`);
    t.equal(host.tickerFirings - idleBefore[i]!.host.tickerFirings, 0, `${s.id}: the ticker stopped`);
    t.ok(tr.pingsSent - idleBefore[i]!.tr.pingsSent > 0, `${s.id}: ${tr.pingsSent - idleBefore[i]!.tr.pingsSent} liveness pings sent while idle`);
    t.same(host.peerStoresAlive, Object.fromEntries(c.stores.filter((x) => x !== s).map((x) => [x.id, true])), `${s.id}: peer stores alive`);
  }

  const moved = c.groupIds.filter((g, i) => c.replica(g, 's2')!.status().term !== balancedTerms[i]);
  t.same(moved, [], 'no election after leadership was spread');
  // s1 dies with its groups quiesced.
  const led = c.groupIds.filter((g) => c.leaderStore(g) === 's1');
  const others = c.groupIds.filter((g) => !led.includes(g));
  t.equal(led.length, GROUPS / 3, 's1 leads a third of the groups');
  const termsBefore = new Map(others.map((g) => [g, { leader: c.replica(g, 's2')!.leader(), term: c.replica(g, 's2')!.status().term }]));
  const killedAt = performance.now();
  await s1.transport.close();
  await s1.host.close();
  const committedAt = new Map<string, number>();
  await Promise.all(led.map(async (g) => {
    for (;;) {
      const at = c.leaderStore(g);
      if (at !== null && at !== 's1') {
        try {
          await c.replica(g, at)!.propose(put('after', 'failover'), { timeoutMs: 2000 });
          committedAt.set(g, performance.now() - killedAt);
          return;
        } catch {
          // leadership moved again; look again
        }
      }
      if (performance.now() - killedAt > 60_000) throw new Error(`${g}: no new leader committed`);
      await new Promise((r) => setTimeout(r, 5));
    }
  }));
  const ms = [...committedAt.values()].sort((a, b) => a - b);
  t.equal(ms.length, led.length, 'every group s1 led has a new leader that committed a proposal');
  t.comment(`failover, kill to first commit over ${ms.length} groups: median ${ms[ms.length >> 1]!.toFixed(0)} ms, max ${ms[ms.length - 1]!.toFixed(0)} ms`);
  for (const g of others) {
    const st = c.replica(g, 's2')!.status();
    const was = termsBefore.get(g)!;
    if (st.leader !== was.leader || st.term !== was.term) t.fail(`${g} lost its leader ${was.leader} (term ${was.term} -> ${st.term}, leader ${st.leader})`);
  }
  t.pass(`none of the ${others.length} other groups lost its leader or changed term`);
  const woke = [s2, s3].reduce((n, s) => n + s.host.stats().wakesByReason.leaderStoreSilent, 0);
  t.ok(woke >= led.length, `store liveness woke ${woke} follower replicas of the ${led.length} groups`);
  t.equal(s2.host.stats().peerStoresAlive.s1, false, 's2 sees s1 silent');
  t.ok(led.every((g) => storeOf(c.replica(g, 's2')!.leader()!) !== 's1'), 'no survivor still follows s1');
});
