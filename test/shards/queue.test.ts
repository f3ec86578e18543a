// Proves the replicated queues (shards/queue.ts through the state machine, as Raft applies
// entries): entries of a service are served in the order their enqueue entries applied,
// whichever owner queued them; a claim goes to the oldest unclaimed entry the agent can
// take (skill level, agents the entry passed), a repeated claim for the same agent returns
// the same entry, a lapsed claim frees the entry, unclaim puts the entry back at its
// place; enqueue, dequeue and unclaim are idempotent and owner-checked; an expired lease
// (and a restarted owner's releaseByOwner) removes that owner's entries in the same
// command, leaving other owners' in order; every change is a feed record; a service owned
// by another shard under the replicated map is refused; queues survive a snapshot round
// trip and a version-3 snapshot (before queues) still restores; bad commands name the field.
import t from 'tap';
import { validateCommand } from '../../shards/commands.js';
import { shardMapVersion, shardOf } from '../../shards/shard-map.js';
import { ShardStateMachine } from '../../shards/state-machine.js';
import { isQueueRecord, type Command, type QueueEntry, type ShardResult } from '../../shards/types.js';
import { ShardHarness } from './shard-harness.js';

const S = '7001';
const enqueue = (callId: string, owner: string, o: Partial<Extract<Command, { type: 'enqueue' }>> = {}): Command => ({ type: 'enqueue', service: S, callId, owner, skill: 'sales', minLevel: 0, ...o });
const claim = (dn: string, skills: Record<string, number> = { sales: 50 }, claimer = 'sipA', ttlMs = 20_000): Command => ({ type: 'claim', service: S, dn, skills, claimer, ttlMs });
const claimed = (r: ShardResult): QueueEntry | null => {
  if (!r.ok || r.type !== 'claimed') throw new Error(JSON.stringify(r));
  return r.entry;
};
const order = (h: ShardHarness): string[] => h.sm.queueEntries(S).map((e) => e.callId);

t.test('served in log order across owners; claims go to the oldest eligible entry', async (t) => {
  const h = new ShardHarness();
  const a = h.openClient();
  const b = h.openClient();
  t.match(a.send(enqueue('a1', 'sipA')), { ok: true, type: 'queued', position: 1 });
  t.match(b.send(enqueue('b1', 'sipB')), { ok: true, type: 'queued', position: 2 });
  a.send(enqueue('a2', 'sipA', { minLevel: 80 }));
  b.send(enqueue('b2', 'sipB'));
  t.same(order(h), ['a1', 'b1', 'a2', 'b2'], 'arrival order is the log order, whichever node queued');
  t.match(a.send(enqueue('a1', 'sipA')), { ok: true, type: 'queued', position: 1, entry: { enqueuedIndex: h.sm.queueEntries(S)[0]!.enqueuedIndex } }, 'a repeated enqueue keeps the place');

  t.equal(claimed(b.send(claim('1001')))?.callId, 'a1', 'a claim from node B serves node A\'s older caller');
  t.equal(claimed(a.send(claim('1001')))?.callId, 'a1', 'the same agent claimed again (another node) gets the same entry');
  t.equal(claimed(a.send(claim('1002')))?.callId, 'b1', 'the next agent the next entry');
  t.equal(claimed(a.send(claim('1003', { sales: 50 })))?.callId, 'b2', 'a2 needs level 80: skipped, keeping its place');
  t.equal(claimed(a.send(claim('1004', { sales: 90 })))?.callId, 'a2');
  t.equal(claimed(a.send(claim('1005', { sales: 90 }))), null, 'every entry is claimed');
  t.equal(claimed(a.send(claim('1006', { other: 90 }))), null);

  t.match(a.send({ type: 'unclaim', service: S, callId: 'a1', owner: 'sipA', dn: '1001', pass: true }), { ok: true, changed: true });
  t.match(a.send({ type: 'unclaim', service: S, callId: 'a1', owner: 'sipA', dn: '1001', pass: true }), { ok: true, changed: false }, 'idempotent');
  t.equal(claimed(a.send(claim('1001'))), null, 'a passed agent is never claimed for that call again');
  t.equal(claimed(a.send(claim('1007')))?.callId, 'a1', 'unclaimed, a1 is at the head again');
  t.match(b.send({ type: 'unclaim', service: S, callId: 'a1', owner: 'sipB', dn: '1007', pass: false }), { ok: false, code: 'SHARD_ERR_QUEUE_OWNER' }, 'only the owner gives a claim back');

  t.match(b.send({ type: 'dequeue', service: S, callId: 'b1', owner: 'sipB', reason: 'answered' }), { ok: true, type: 'dequeued', removed: true });
  t.match(b.send({ type: 'dequeue', service: S, callId: 'b1', owner: 'sipB', reason: 'answered' }), { ok: true, type: 'dequeued', removed: false }, 'a second dequeue changes nothing');
  t.match(b.send({ type: 'dequeue', service: S, callId: 'a1', owner: 'sipB', reason: 'abandoned' }), { ok: false, code: 'SHARD_ERR_QUEUE_OWNER' });
  t.match(b.send(enqueue('a1', 'sipB')), { ok: false, code: 'SHARD_ERR_QUEUE_OWNER' }, 'a call id queued by another node');
  t.same(order(h), ['a1', 'a2', 'b2']);
  const records = h.sm.changesSince(0).changes.filter(isQueueRecord);
  t.same(records.map((r) => `${r.reason}:${r.callId}`).slice(-3), ['unclaimed:a1', 'claimed:a1', 'answered:b1'], 'every change is a feed record');
});

t.test('a claim lapses at its TTL (entry time), freeing the entry', async (t) => {
  const h = new ShardHarness();
  const a = h.openClient();
  a.send(enqueue('a1', 'sipA'));
  t.equal(claimed(a.send(claim('1001', undefined, 'sipA', 5000)))?.callId, 'a1');
  t.equal(claimed(a.send(claim('1002'))), null);
  h.advance(5000);
  t.equal(claimed(a.send(claim('1002')))?.callId, 'a1', 'after the TTL another agent may be claimed for it');
  t.equal(claimed(a.send(claim('1001'))), null, 'and the first agent no longer holds it');
});

t.test('an expired lease removes the owner\'s entries in the same command; releaseByOwner too', async (t) => {
  const h = new ShardHarness();
  const a = h.openClient();
  const b = h.openClient();
  const lease = a.send({ type: 'renewLease', owner: 'sipA', ttlMs: 5000 }) as Extract<ShardResult, { type: 'leaseRenewed' }>;
  a.send(enqueue('a1', 'sipA'));
  b.send(enqueue('b1', 'sipB'));
  a.send(enqueue('a2', 'sipA'));
  b.send(enqueue('b2', 'sipB'));
  a.send({ ...enqueue('a3', 'sipA'), service: '7002' } as Command);
  a.send(claim('1001'));
  const before = h.index;
  const expired = h.propose({ type: 'expireLease', owner: 'sipA', renewedIndex: lease.lease.renewedIndex });
  t.same(expired, { ok: true, type: 'leaseExpired', owner: 'sipA', released: [], dequeued: [{ service: S, callId: 'a1' }, { service: S, callId: 'a2' }, { service: '7002', callId: 'a3' }] });
  t.same(order(h), ['b1', 'b2'], "the other node's callers keep their order");
  t.same(h.sm.queueEntries('7002'), []);
  const recs = h.sm.changesSince(before).changes.filter(isQueueRecord);
  t.same(recs.map((r) => [r.index, r.callId, r.reason, r.entry]), [[h.index, 'a1', 'lease-expired', null], [h.index, 'a2', 'lease-expired', null], [h.index, 'a3', 'lease-expired', null]], 'one entry, one record per removed call');
  t.equal(claimed(b.send(claim('1001')))?.callId, 'b1', 'the head is now the other node\'s oldest caller');

  b.send(enqueue('b3', 'sipB'));
  t.same(b.send({ type: 'releaseByOwner', owner: 'sipB' }), { ok: true, type: 'releasedByOwner', released: [], dequeued: [{ service: S, callId: 'b1' }, { service: S, callId: 'b2' }, { service: S, callId: 'b3' }] }, 'a restarted node\'s old callers leave');
  t.same(b.send({ type: 'releaseByOwner', owner: 'sipB' }), { ok: true, type: 'releasedByOwner', released: [] }, 'without entries the result has its old shape');
});

t.test('bounded, owned by shardOf(service), and checked field by field', async (t) => {
  const h = new ShardHarness({ queues: { entriesPerShardMax: 3, entriesPerServiceMax: 2 } });
  const a = h.openClient();
  a.send(enqueue('a1', 'sipA'));
  a.send(enqueue('a2', 'sipA'));
  t.match(a.send(enqueue('a3', 'sipA')), { ok: false, code: 'SHARD_ERR_QUEUE_FULL' });
  a.send({ ...enqueue('x1', 'sipA'), service: '7002' } as Command);
  t.match(a.send({ ...enqueue('x2', 'sipA'), service: '7003' } as Command), { ok: false, code: 'SHARD_ERR_QUEUE_FULL' });

  const ids = ['s1', 's2'];
  const mine = shardOf(S, ids);
  const other = ids.find((id) => id !== mine)!;
  const service = ['7001', '7002', '7003', '7004', '7005', '7006', '7007', '7008'].find((n) => shardOf(n, ids) === other)!;
  const m = new ShardHarness();
  m.propose({ type: 'setShardMap', shardId: mine, shardIds: ids, version: shardMapVersion(ids) });
  const c = m.openClient();
  t.match(c.send(enqueue('a1', 'sipA')), { ok: true, type: 'queued' }, 'a service this shard owns');
  t.match(c.send({ ...enqueue('a1', 'sipA'), service } as Command), { ok: false, code: 'SHARD_ERR_WRONG_SHARD', reason: new RegExp(`service ${service} belongs to shard ${other}`) });

  t.match(validateCommand({ type: 'enqueue', service: S, callId: 'c', owner: 'sipA', skill: 'bad skill', minLevel: 0 }), { ok: false, code: 'SHARD_ERR_BAD_COMMAND', reason: /command\.skill/ });
  t.match(validateCommand({ type: 'dequeue', service: S, callId: 'c', owner: 'sipA', reason: 'bored' }), { ok: false, reason: /command\.reason must be one of/ });
  t.match(validateCommand({ type: 'claim', service: S, dn: '1001', skills: { sales: 50 }, claimer: 'sipA', ttlMs: 0 }), { ok: false, reason: /command\.ttlMs/ });
  t.match(validateCommand({ type: 'unclaim', service: S, callId: 'c', owner: 'sipA', dn: '1001' }), { ok: false, reason: /command\.pass is missing/ });
  t.match(validateCommand({ type: 'unclaim', service: S, callId: 'c', owner: 'sipA', dn: '1001', pass: 'yes' }), { ok: false, reason: /command\.pass must be true or false/ });
});

t.test('queues survive a snapshot round trip; a version-3 snapshot restores with none', async (t) => {
  const h = new ShardHarness();
  const a = h.openClient();
  a.send(enqueue('a1', 'sipA'));
  a.send(enqueue('b1', 'sipB'));
  a.send({ ...enqueue('z1', 'sipA'), service: '7002' } as Command);
  a.send(claim('1001'));
  a.send({ type: 'unclaim', service: S, callId: 'a1', owner: 'sipA', dn: '1001', pass: true });
  const copy = new ShardStateMachine();
  copy.restore(h.sm.snapshot());
  t.same(copy.queueEntries(), h.sm.queueEntries(), 'same entries, same order, same claims and passed agents');
  t.same(copy.snapshot(), h.sm.snapshot(), 'same bytes');
  const follower = new ShardHarness({}, copy);
  follower.index = h.index;
  follower.nowMs = h.nowMs;
  t.equal(claimed(follower.openClient().send(claim('1001')))?.callId, 'b1', 'restored, a1 still skips the agent it passed');

  const v3 = JSON.parse(new TextDecoder().decode(h.sm.snapshot())) as Record<string, unknown>;
  delete v3.queues;
  v3.v = 3;
  const old = new ShardStateMachine();
  old.restore(new TextEncoder().encode(JSON.stringify(v3)));
  t.same(old.queueEntries(), [], 'a snapshot from before queues restores with none');
  const broken = JSON.parse(new TextDecoder().decode(h.sm.snapshot())) as { queues: QueueEntry[] };
  broken.queues = [broken.queues[1]!, broken.queues[0]!];
  t.throws(() => new ShardStateMachine().restore(new TextEncoder().encode(JSON.stringify(broken))), /not in arrival order/);
});
