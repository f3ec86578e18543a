// The chaos run's queue-order judge (queue-order.ts) on hand-made feeds: sequences that
// MUST count inversions (a later entry claimed past an earlier eligible one; a newcomer
// routed past a waiting caller), and the cases that must not (passed DN, skill the agent
// lacks, an earlier entry under a live claim, a killed node's entry, a newcomer racing an
// entry within the grace, a reservation that a claim explains). The records are built by
// the shard's own ServiceQueues, so they have exactly the shape a real feed carries.
import t from 'tap';
import { ServiceQueues } from '../../shards/queue.js';
import type { QueueChangeRecord } from '../../shards/types.js';
import { countQueueInversions, queueDepthPerSecond, type QueueOrderEvent, type QueueOrderOptions } from './queue-order.js';

const S = '5000';
const skills: Record<string, Record<string, number>> = { '1001': { support: 50 }, '1002': { support: 50 }, '1003': { billing: 50 }, '1004': { support: 10 } };
const opts = (killsOf: Record<string, number[]> = {}): QueueOrderOptions => ({ skillsOf: (dn) => skills[dn] ?? null, killsOf: (n) => killsOf[n] ?? [], graceMs: 500 });

/** A feed script: commands applied to a real ServiceQueues, each at its index and time. */
function script() {
  const q = new ServiceQueues();
  const events: QueueOrderEvent[] = [];
  let index = 10;
  const push = (records: readonly QueueChangeRecord[], atMs: number): void => {
    for (const record of records) events.push({ kind: 'queue', record, seenAtMs: atMs });
  };
  return {
    events,
    enqueue(callId: string, owner: string, atMs: number, skill = 'support', minLevel = 0) {
      push(q.enqueue({ type: 'enqueue', service: S, callId, owner, skill, minLevel }, ++index, atMs).records, atMs);
    },
    claim(dn: string, atMs: number, ttlMs = 3000) {
      const out = q.claim({ type: 'claim', service: S, dn, skills: skills[dn]!, claimer: 'sip1', ttlMs }, ++index, atMs);
      push(out.records, atMs);
      return out.result.ok && out.result.type === 'claimed' ? out.result.entry?.callId ?? null : null;
    },
    unclaim(callId: string, owner: string, dn: string, pass: boolean, atMs: number) {
      push(q.unclaim({ type: 'unclaim', service: S, callId, owner, dn, pass }, ++index).records, atMs);
    },
    dequeue(callId: string, owner: string, reason: 'answered' | 'timed-out' | 'abandoned', atMs: number) {
      push(q.dequeue({ type: 'dequeue', service: S, callId, owner, reason }, ++index).records, atMs);
    },
    removeOwner(owner: string, atMs: number) {
      push(q.removeOwner(owner, 'lease-expired', ++index).records, atMs);
    },
    /** A record the shard did not make: the given entry claimed past the queue's head. */
    forgeClaim(callId: string, dn: string, atMs: number) {
      const entry = q.entries(S).find((e) => e.callId === callId)!;
      events.push({ kind: 'queue', seenAtMs: atMs, record: { index: ++index, kind: 'queue', service: S, callId, reason: 'claimed', entry: { ...entry, claim: { dn, claimer: 'sip2', claimedAtMs: atMs, expiresAtMs: atMs + 3000 } } } });
    },
    serve(dn: string, owner: string, grantedAtMs: number) {
      events.push({ kind: 'serve', service: S, dn, owner, grantedAtMs, seenAtMs: grantedAtMs });
    },
  };
}

t.test('served in arrival order across two nodes: no inversion, figures counted', async (t) => {
  const s = script();
  s.enqueue('sip1/a', 'sip1', 1000);
  s.enqueue('sip2/b', 'sip2', 1100);
  s.enqueue('sip1/c', 'sip1', 1200);
  t.equal(s.claim('1001', 2000), 'sip1/a');
  s.serve('1001', 'sip1', 2010);
  s.dequeue('sip1/a', 'sip1', 'answered', 2300);
  t.equal(s.claim('1002', 2400), 'sip2/b');
  s.serve('1002', 'sip2', 2410);
  s.dequeue('sip2/b', 'sip2', 'answered', 2700);
  s.dequeue('sip1/c', 'sip1', 'timed-out', 9000);
  const r = countQueueInversions(s.events, opts());
  // At the second claim a was gone (answered); nothing earlier than b to judge: 0 pairs.
  // At the first, nothing was earlier than a either.
  t.match(r, { enqueued: 3, claims: 2, answered: 2, timedOut: 1, stillQueued: 0, directServes: 0, inversions: 0, inversionsKilledNode: 0, pairsCompared: 0, depthMax: 3 });
});

t.test('a later entry claimed while an earlier eligible one waits unclaimed IS an inversion', async (t) => {
  const s = script();
  s.enqueue('sip1/a', 'sip1', 1000);
  s.enqueue('sip2/b', 'sip2', 1100);
  s.forgeClaim('sip2/b', '1001', 2000);
  const r = countQueueInversions(s.events, opts());
  t.equal(r.inversions, 1);
  t.match(r.examples[0], { kind: 'claim', waiting: 'sip1/a', served: 'sip2/b', dn: '1001', killedNode: false });
});

t.test('an entry whose claim failed and was unclaimed keeps its place: claimed past later is an inversion, served first is not', async (t) => {
  const s = script();
  s.enqueue('sip1/a', 'sip1', 1000);
  s.enqueue('sip2/b', 'sip2', 1100);
  t.equal(s.claim('1001', 2000), 'sip1/a');
  // While a is being offered 1001, 1002 goes to b: a held a live claim, not an inversion.
  t.equal(s.claim('1002', 2100), 'sip2/b');
  // 1001's reservation was denied (no pass): a is back at its place, the head again.
  s.unclaim('sip1/a', 'sip1', '1001', false, 2200);
  t.equal(s.claim('1001', 2300), 'sip1/a');
  t.equal(countQueueInversions(s.events, opts()).inversions, 0, 'the shard served the unclaimed entry first');
  t.equal(countQueueInversions(s.events, opts()).pairsCompared, 1, 'the claim of 1002 for b judged a (under a live claim)');
  s.enqueue('sip2/c', 'sip2', 2400);
  s.unclaim('sip1/a', 'sip1', '1001', false, 2500);
  s.forgeClaim('sip2/c', '1001', 2600);
  t.equal(countQueueInversions(s.events, opts()).inversions, 1, 'a later entry took 1001 while the unclaimed a waited');
});

t.test('a DN the earlier entry passed (its phone was offered that call) may serve a later one', async (t) => {
  const s = script();
  s.enqueue('sip1/a', 'sip1', 1000);
  s.enqueue('sip2/b', 'sip2', 1100);
  t.equal(s.claim('1001', 2000), 'sip1/a');
  s.unclaim('sip1/a', 'sip1', '1001', true, 2200);
  t.equal(s.claim('1001', 2300), 'sip2/b', 'the shard skips a for 1001');
  t.equal(countQueueInversions(s.events, opts()).inversions, 0);
  // The same skip for another DN is an inversion: a never passed 1002.
  s.enqueue('sip2/c', 'sip2', 2400);
  s.forgeClaim('sip2/c', '1002', 2500);
  t.equal(countQueueInversions(s.events, opts()).inversions, 1);
});

t.test('an earlier entry the agent cannot take (skill, level) is no inversion', async (t) => {
  const s = script();
  s.enqueue('sip1/a', 'sip1', 1000, 'billing');
  s.enqueue('sip1/b', 'sip1', 1050, 'support', 40);
  s.enqueue('sip2/c', 'sip2', 1100);
  t.equal(s.claim('1004', 2000), 'sip2/c', '1004 (support 10) takes neither a (billing) nor b (level 40)');
  t.equal(countQueueInversions(s.events, opts()).inversions, 0);
  s.enqueue('sip2/d', 'sip2', 2100);
  s.forgeClaim('sip2/d', '1003', 2200);
  t.equal(countQueueInversions(s.events, opts()).inversions, 1, '1003 (billing) past a is an inversion');
});

t.test('a killed node\'s waiting entries are counted apart until its lease removes them', async (t) => {
  const s = script();
  s.enqueue('sip1/a', 'sip1', 1000);
  s.enqueue('sip2/b', 'sip2', 1100);
  s.forgeClaim('sip2/b', '1001', 2000);
  const r = countQueueInversions(s.events, opts({ sip1: [1500] }));
  t.match(r, { inversions: 0, inversionsKilledNode: 1 });
  t.equal(countQueueInversions(s.events, opts({ sip1: [2500] })).inversions, 1, 'a kill after the inversion excuses nothing');
  s.removeOwner('sip1', 4000);
  t.equal(countQueueInversions(s.events, opts({ sip1: [1500] })).leaseExpired, 1);
});

t.test('a newcomer routed straight to an agent while an eligible entry waits is a bypass', async (t) => {
  const s = script();
  s.enqueue('sip1/a', 'sip1', 1000);
  s.serve('1001', 'sip2', 3000);
  s.dequeue('sip1/a', 'sip1', 'timed-out', 9000);
  const r = countQueueInversions(s.events, opts());
  t.match(r, { directServes: 1, inversions: 1 });
  t.match(r.examples[0], { kind: 'bypass', waiting: 'sip1/a', dn: '1001' });
  t.equal(countQueueInversions(s.events, opts({ sip1: [2000] })).inversionsKilledNode, 1);
});

t.test('not a bypass: within the grace, a claimed reservation, a claimed entry, a DN that cannot take it', async (t) => {
  const s = script();
  s.enqueue('sip1/a', 'sip1', 1000);
  s.serve('1001', 'sip2', 1300); // raced the enqueue within the 500 ms grace
  s.serve('1003', 'sip2', 3000); // billing: cannot take a
  t.equal(s.claim('1002', 4000), 'sip1/a');
  s.serve('1002', 'sip1', 4020); // explained by the claim
  s.serve('1001', 'sip2', 5000); // a is under a live claim
  s.dequeue('sip1/a', 'sip1', 'answered', 5500);
  s.serve('1001', 'sip2', 7000); // nobody waits
  const r = countQueueInversions(s.events, opts());
  t.match(r, { directServes: 4, inversions: 0, inversionsKilledNode: 0, answered: 1 });
});

t.test('after a feed gap the judge forgets what it knew rather than judge against ghosts', async (t) => {
  const s = script();
  s.enqueue('sip1/a', 'sip1', 1000);
  s.events.push({ kind: 'gap', seenAtMs: 1500 });
  s.enqueue('sip2/b', 'sip2', 1600);
  s.forgeClaim('sip2/b', '1001', 2000);
  const r = countQueueInversions(s.events, opts());
  t.match(r, { feedGaps: 1, inversions: 0 });
});

t.test('queue depth per second: the deepest in each second, carried over quiet seconds', async (t) => {
  const s = script();
  s.enqueue('sip1/a', 'sip1', 1200);
  s.enqueue('sip2/b', 'sip2', 1500);
  s.claim('1001', 1600);
  s.dequeue('sip1/a', 'sip1', 'answered', 1900);
  s.dequeue('sip2/b', 'sip2', 'answered', 4100);
  t.same(queueDepthPerSecond(s.events, 0, 6), [0, 2, 1, 1, 1, 0]);
});

t.test('a bypass during a partition (or within the grace after its heal) is counted apart; a claim inversion never is', async (t) => {
  const s = script();
  s.enqueue('sip1/a', 'sip1', 1000);
  s.serve('1001', 'sip2', 5000);
  s.dequeue('sip1/a', 'sip1', 'timed-out', 9000);
  const partitions = [{ fromMs: 4000, toMs: 6000 }];
  const during = countQueueInversions(s.events, { ...opts(), partitions });
  t.match(during, { inversions: 0, inversionsPartitioned: 1, inversionsKilledNode: 0 }, 'granted inside the cut: counted apart');
  t.match(during.examples[0], { kind: 'bypass', duringPartition: true });
  t.match(countQueueInversions(s.events, { ...opts(), partitions: [{ fromMs: 3000, toMs: 4600 }] }), { inversions: 0, inversionsPartitioned: 1 }, 'within the grace after the heal: apart');
  t.match(countQueueInversions(s.events, { ...opts(), partitions: [{ fromMs: 1000, toMs: 4000 }] }), { inversions: 1, inversionsPartitioned: 0 }, 'past the grace after the heal: an inversion');
  t.match(countQueueInversions(s.events, opts()), { inversions: 1, inversionsPartitioned: 0 }, 'without partitions: an inversion');
  const c = script();
  c.enqueue('sip1/a', 'sip1', 1000);
  c.enqueue('sip2/b', 'sip2', 1100);
  c.forgeClaim('sip2/b', '1001', 5000);
  t.match(countQueueInversions(c.events, { ...opts(), partitions }), { inversions: 1, claimInversions: 1, inversionsPartitioned: 0 }, 'a claim inversion inside the cut still counts');
  t.match(countQueueInversions(s.events, opts()), { inversions: 1, claimInversions: 0 }, 'a bypass is no claim inversion');
});
