// Chaos smoke for `npm test`: the same engine as `npm run chaos`, shortened — a whole local
// cluster of real processes (2 shards × 3 replicas, a gateway, and the SIP nodes, phones
// and SIPp callers when they are in the tree) under load for RINGFENCE_CHAOS_SMOKE_S
// seconds (default 30: seed 20261126 then kills 6 processes, a shard leader among them;
// 45 s added 20 s to npm test on 2 cores) while the nemesis SIGKILLs a shard replica, a
// shard leader, a SIP node or the gateway every few seconds, never more than one replica
// of a shard at once.
// It proves, from the recorded histories: the nemesis really killed processes, the shards
// kept granting reservations through the kills, no agent was double-booked (the shard
// history checker, and the phones' INVITE records when SIP is in), no acknowledged change
// was lost, every agent was READY again once the load stopped, and no SIP call hung; with
// SIP in, agent breaks made callers queue and the shared queue served them in arrival
// order (no inversion outside a killed node's callers, no entry left behind).
import t from 'tap';
import { runChaos } from './engine.js';
import type { ProcessSet } from '../../cluster/local-cluster.js';

const loadS = Number(process.env.RINGFENCE_CHAOS_SMOKE_S ?? 30);
const seed = Number(process.env.RINGFENCE_CHAOS_SEED ?? 20261126);

t.test('chaos smoke: kills under load, nothing double-booked, lost, leaked or hung', { timeout: 400_000 }, async (t) => {
  let procs: ProcessSet | null = null;
  // The engine stops its processes itself; this catches a test that dies half-way.
  t.teardown(() => procs?.killAllNow());
  const r = await runChaos({ minutes: loadS / 60, seed, sip: 'auto', log: (line) => t.comment(line), onProcs: (p) => { procs = p; } });
  t.comment(`seed ${r.seed}: ${r.kills} kills ${JSON.stringify(r.killsByFault)}, ${r.calls} calls${r.sipIncluded ? '' : ` (SIP not in: ${r.sipMissingWhy})`}, ${r.shardLoad.grants} grants`);
  for (const o of r.orphaned) t.comment(o);
  t.ok(r.kills >= Math.floor(loadS / 10), `the nemesis killed processes (${r.kills})`);
  const leaderKills = r.timeline.filter((e) => e.kind === 'kill' && e.wasLeader).length;
  t.ok(leaderKills > 0, `shard leaders were among the victims (${leaderKills})`);
  t.ok(r.historyCounts.grantsAcknowledged > 50, `the checker judged acknowledged grants (${r.historyCounts.grantsAcknowledged})`);
  const judged = r.registers.filter((g) => g.acknowledged > 0).length;
  t.equal(judged, r.registers.length, `every register had acknowledged writes to check for loss (${r.registers.map((g) => `${g.dn}: ${g.acknowledged}`).join(', ')})`);
  t.same(r.violationList.filter((v) => !v.startsWith('not READY') && !v.startsWith('leaked')), [], 'no violation: no double booking, no lost change, no double offer');
  t.equal(r.violations, 0, 'the verdict counts no violation');
  t.equal(r.leaked, 0, `every agent is READY once the load stops (${r.notReadyAtEnd.join(', ') || 'all READY'})`);
  t.equal(r.hung, 0, 'no SIP call hung');
  if (r.sipIncluded) {
    t.ok(r.calls > 0, `SIPp placed calls (${r.calls})`);
    t.ok((r.sip?.successful ?? 0) > 0, `calls completed through the kills (${r.sip?.successful})`);
    // Agent breaks make callers outnumber READY agents, so calls wait in the shared queue
    // while the nemesis kills; the queue's feed is then judged for order (queue-order.ts).
    const q = r.queue!;
    t.comment(`queue: ${q.enqueued} enqueued, ${q.claims} claims, ${q.answered} answered, ${q.timedOut} timed out, ${q.leaseExpired + q.ownerRestarted} removed with their node, ${q.directServes} routed without queueing, ${q.inversionsKilledNode} inversions of killed nodes' callers, ${q.feedGaps} feed gaps`);
    for (const e of q.examples) t.comment(e);
    t.ok(q.pressure.agentBreaks > 0, `agents went on breaks (${q.pressure.agentBreaks})`);
    t.ok(q.enqueued > 0 && q.claims > 0, `callers queued and were served through claims (${q.enqueued} enqueued, ${q.claims} claims)`);
    t.ok(q.pairsCompared > 0, `callers waited behind others, so the order was judged (${q.pairsCompared} pairs, up to ${q.depthMax} queued)`);
    t.equal(q.inversions, 0, 'no queued caller was passed by a later one outside killed nodes\' callers');
    t.same(q.leftAtEnd, [], 'no queue entry was left once every call ended');
  }
});
