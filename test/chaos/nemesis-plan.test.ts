// Proves the chaos run's replay promise at the level of its plan: the nemesis schedule is a
// pure function of the seed (same seed, same kills at the same offsets with the same down
// times; another seed, another schedule), steps stay in order inside the load window at
// about one per interval, and without the SIP layer no step aims at a SIP node.
import t from 'tap';
import { isPartitionFault, planFaults, withExtraFaults } from './nemesis-plan.js';
import { createPrng } from './prng.js';

const spec = { loadMs: 600_000, intervalMs: 5000, firstAtMs: 3000, downMsMin: 300, downMsMax: 1500, withSip: true } as const;

t.test('the same seed gives the same schedule, another seed another', async (t) => {
  const a = planFaults(createPrng(42).fork('nemesis'), spec);
  const b = planFaults(createPrng(42).fork('nemesis'), spec);
  const c = planFaults(createPrng(43).fork('nemesis'), spec);
  t.same(a, b, 'seed 42 twice: identical plans');
  t.not(JSON.stringify(a), JSON.stringify(c), 'seed 43 plans differently');
});

t.test('steps are ordered, inside the load, about one per interval, down times in range', async (t) => {
  const plan = planFaults(createPrng(7), spec);
  t.ok(plan.length >= 110 && plan.length <= 120, `10 minutes at 5 s: ${plan.length} steps`);
  for (let i = 1; i < plan.length; i++) t.ok(plan[i]!.atMs > plan[i - 1]!.atMs, `step ${i} after step ${i - 1}`);
  t.ok(plan.every((f) => f.atMs >= spec.firstAtMs && f.atMs < spec.loadMs), 'every step inside the load window');
  t.ok(plan.every((f) => f.downMs >= spec.downMsMin && f.downMs <= spec.downMsMax), 'down times within bounds');
  const kinds = new Set(plan.map((f) => f.kind));
  t.same([...kinds].sort(), ['gateway', 'shard-leader', 'shard-replica', 'sip'], 'every kind of fault occurs');
});

t.test('without the SIP layer no step aims at a SIP node', async (t) => {
  const plan = planFaults(createPrng(7), { ...spec, withSip: false });
  t.equal(plan.filter((f) => f.kind === 'sip').length, 0);
  t.ok(plan.some((f) => f.kind === 'shard-leader'), 'leaders are still aimed at');
});

t.test('the opt-in nemeses add their steps without moving the random ones', async (t) => {
  const base = planFaults(createPrng(7).fork('nemesis'), spec);
  const plan = withExtraFaults(base, createPrng(7).fork('nemesis-extra'), spec, { sipGone: true, evictSessions: true, evictIntervalMs: 30_000 });
  t.same(plan.filter((f) => f.kind !== 'sip-gone' && f.kind !== 'evict-sessions'), base, 'the random kills are unchanged');
  t.equal(plan.filter((f) => f.kind === 'sip-gone').length, 1, 'one SIP node goes for good');
  t.ok(plan.filter((f) => f.kind === 'evict-sessions').length >= 19, 'session evictions all through the load');
  for (let i = 1; i < plan.length; i++) t.ok(plan[i]!.atMs >= plan[i - 1]!.atMs, `step at ${i} in time order`);
  t.same(withExtraFaults(base, createPrng(7).fork('nemesis-extra'), { ...spec, withSip: false }, { sipGone: true, evictSessions: false, evictIntervalMs: 30_000 }), base, 'no SIP layer: no SIP node to lose');
});

t.test('with hosts in namespaces, partitions join the kills; without, none', async (t) => {
  const plan = planFaults(createPrng(7), { ...spec, withPartitions: true, partitionMsMin: 2000, partitionMsMax: 6000 });
  const kinds = new Set(plan.map((f) => f.kind));
  for (const k of ['partition-isolate', 'partition-one-way', 'partition-bridge', 'shard-leader', 'shard-replica', 'sip', 'gateway']) t.ok(kinds.has(k as never), `${k} occurs`);
  const parts = plan.filter((f) => isPartitionFault(f.kind));
  t.ok(parts.length > plan.length / 4 && parts.length < plan.length / 2, `partitions are ${parts.length} of ${plan.length} steps`);
  t.ok(parts.every((f) => f.downMs >= 2000 && f.downMs <= 6000), 'each partition lasts 2-6 s');
  t.ok(plan.filter((f) => !isPartitionFault(f.kind)).every((f) => f.downMs >= spec.downMsMin && f.downMs <= spec.downMsMax), 'kills keep their down times');
  t.same(planFaults(createPrng(7), { ...spec, withPartitions: false }), planFaults(createPrng(7), spec), 'withPartitions false: the plan of old');
  t.notOk(planFaults(createPrng(7), spec).some((f) => isPartitionFault(f.kind)), 'no partition on loopback');
});
