// Proves the replicated service definitions (shards/services.ts through the state
// machine): putService creates and replaces a definition on the shard owning the number,
// filled with the parser's defaults; ifAbsent (a SIP node's seed) never replaces one; a
// put of the same definition and a delete of a missing one change nothing; each change is
// one feed record; the definition's maxQueueLength is enforced at enqueue; a service
// another shard owns is refused; the definitions survive a snapshot round trip and a
// version-4 snapshot (before services) still restores; a bad definition names its field;
// the RPC policy lets a SIP node only seed; a grant carries its service's wrap-up, which
// overrides the agent's own when the answered call ends.
import t from 'tap';
import { serviceDefinition } from '../../common/config.js';
import { validateCommand } from '../../shards/commands.js';
import { commandRefusal } from '../../shards/rpc/policy.js';
import { shardMapVersion, shardOf } from '../../shards/shard-map.js';
import { ShardStateMachine } from '../../shards/state-machine.js';
import { isServiceRecord, type Command } from '../../shards/types.js';
import { ShardHarness } from './shard-harness.js';

const S = '7001';
const sales = serviceDefinition({ number: S, skill: 'sales', minLevel: 0 });
const put = (over: Record<string, unknown> = {}, ifAbsent = false): Command => ({ type: 'putService', definition: { ...sales, ...over } as typeof sales, ifAbsent });

t.test('put, replace, seed if absent, delete: each change one feed record', async (t) => {
  const h = new ShardHarness();
  const c = h.openClient();
  const before = h.index;
  t.match(c.send(put({ strategy: 'skill-ranked', maxQueueLength: 2 })), { ok: true, type: 'service', changed: true, definition: { number: S, strategy: 'skill-ranked', maxQueueLength: 2 } });
  t.match(c.send(put({ strategy: 'skill-ranked', maxQueueLength: 2 })), { ok: true, changed: false }, 'the same definition again changes nothing');
  t.match(c.send(put({ strategy: 'round-robin' }, true)), { ok: true, changed: false, definition: { strategy: 'skill-ranked' } }, 'a seed never replaces a definition in force');
  t.match(c.send(put({ strategy: 'fewest-calls', overflow: { status: 486 } })), { ok: true, changed: true, definition: { strategy: 'fewest-calls', overflow: { status: 486 } } });
  t.match(c.send(put({ number: '7002' }, true)), { ok: true, changed: true }, 'a seed writes an absent service');
  t.same(h.sm.services().map((d) => [d.number, d.strategy]), [[S, 'fewest-calls'], ['7002', null]]);
  t.same(c.send({ type: 'deleteService', number: '7002' }), { ok: true, type: 'serviceDeleted', number: '7002', removed: true });
  t.same(c.send({ type: 'deleteService', number: '7002' }), { ok: true, type: 'serviceDeleted', number: '7002', removed: false });
  const recs = h.sm.changesSince(before).changes.filter(isServiceRecord);
  t.same(recs.map((r) => [r.number, r.definition === null ? 'deleted' : r.definition.strategy]), [[S, 'skill-ranked'], [S, 'fewest-calls'], ['7002', null], ['7002', 'deleted']]);
});

t.test('a partial definition is stored whole (defaults filled); a bad one names its field', async (t) => {
  const v = validateCommand({ type: 'putService', definition: { number: S, skill: 'sales' }, ifAbsent: false });
  t.ok(v.ok);
  if (v.ok && v.command.type === 'putService') t.same(v.command.definition, sales);
  t.match(validateCommand({ type: 'putService', definition: { ...sales, strategy: 'random' }, ifAbsent: false }), { ok: false, code: 'SHARD_ERR_BAD_COMMAND', reason: /command\.definition\.strategy: expected one of/ });
  t.match(validateCommand({ type: 'putService', definition: { ...sales, overflow: { status: 404 } }, ifAbsent: false }), { ok: false, reason: /command\.definition\.overflow\.status/ });
  t.match(validateCommand({ type: 'putService', definition: sales }), { ok: false, reason: /command\.ifAbsent is missing/ });
  t.match(validateCommand({ type: 'deleteService', number: '' }), { ok: false, reason: /command\.number/ });
});

t.test('maxQueueLength is enforced at enqueue; the shard\'s limit still applies without one', async (t) => {
  const h = new ShardHarness();
  const a = h.openClient();
  const enqueue = (callId: string): Command => ({ type: 'enqueue', service: S, callId, owner: 'sipA', skill: 'sales', minLevel: 0 });
  a.send(enqueue('c0'));
  a.send(put({ maxQueueLength: 2 }));
  t.match(a.send(enqueue('c1')), { ok: true, type: 'queued', position: 2 });
  t.match(a.send(enqueue('c2')), { ok: false, code: 'SHARD_ERR_QUEUE_FULL', reason: /maxQueueLength of 2/ });
  t.match(a.send(enqueue('c1')), { ok: true, type: 'queued', position: 2 }, 'a repeated enqueue of a queued call keeps its place');
  a.send(put({ maxQueueLength: null }));
  t.match(a.send(enqueue('c2')), { ok: true, type: 'queued', position: 3 }, 'the limit follows the definition live');
});

t.test('owned by shardOf(number) under the replicated map', async (t) => {
  const ids = ['s1', 's2'];
  const mine = shardOf(S, ids);
  const other = ids.find((id) => id !== mine)!;
  const foreign = ['7002', '7003', '7004', '7005', '7006', '7007', '7008'].find((n) => shardOf(n, ids) === other)!;
  const h = new ShardHarness();
  h.propose({ type: 'setShardMap', shardId: mine, shardIds: ids, version: shardMapVersion(ids) });
  const c = h.openClient();
  t.match(c.send(put()), { ok: true, type: 'service' });
  t.match(c.send(put({ number: foreign })), { ok: false, code: 'SHARD_ERR_WRONG_SHARD', reason: new RegExp(`service ${foreign} belongs to shard ${other}`) });
  t.match(c.send({ type: 'deleteService', number: foreign }), { ok: false, code: 'SHARD_ERR_WRONG_SHARD' });
});

t.test('snapshot round trip; a version-4 snapshot (before services) restores with none', async (t) => {
  const h = new ShardHarness();
  const c = h.openClient();
  c.send(put({ priority: 7, announcements: { music: 'hold', everyMs: 30_000, position: true, estimatedWait: false } }));
  c.send(put({ number: '7002', overflow: { service: S } }));
  const copy = new ShardStateMachine();
  copy.restore(h.sm.snapshot());
  t.same(copy.services(), h.sm.services());
  t.same(copy.snapshot(), h.sm.snapshot(), 'same bytes');
  const v4 = JSON.parse(new TextDecoder().decode(h.sm.snapshot())) as Record<string, unknown>;
  t.equal(v4.v, 6);
  delete v4.services;
  delete v4.placements;
  v4.v = 4;
  const old = new ShardStateMachine();
  old.restore(new TextEncoder().encode(JSON.stringify(v4)));
  t.same(old.services(), []);
  const twice = JSON.parse(new TextDecoder().decode(h.sm.snapshot())) as { services: unknown[] };
  twice.services = [twice.services[0], twice.services[0]];
  t.throws(() => new ShardStateMachine().restore(new TextEncoder().encode(JSON.stringify(twice))), /distinct numbers/);
});

t.test('RPC policy: a SIP node may only seed (ifAbsent); admin may put and delete', async (t) => {
  const none = (): null => null;
  t.equal(commandRefusal({ kind: 'sip', id: 'sip1' }, put({}, true), none), null);
  t.match(commandRefusal({ kind: 'sip', id: 'sip1' }, put(), none), /administrative/);
  t.match(commandRefusal({ kind: 'sip', id: 'sip1' }, { type: 'deleteService', number: S }, none), /administrative/);
  t.equal(commandRefusal({ kind: 'admin' }, { type: 'deleteService', number: S }, none), null);
});

t.test('a grant carries its service\'s wrap-up, overriding the agent\'s after an answered call', async (t) => {
  const h = new ShardHarness();
  const c = h.openClient();
  c.send({ type: 'provision', dn: '1001', name: 'A', skills: { sales: 50 }, wrapUpMs: 10_000, maxNoAnswer: 0, credentials: null });
  c.send({ type: 'login', dn: '1001' });
  c.send({ type: 'ready', dn: '1001' });
  const reserve = (id: string, wrapUpMs: number | null): Command => ({ type: 'reserve', dn: '1001', reservationId: id, callId: `call-${id}`, owner: 'sip1', ttlMs: 5000, orphanHoldMs: 0, wrapUpMs });
  t.match(c.send(reserve('r1', 2000)), { ok: true, type: 'reserved', reservation: { wrapUpMs: 2000 } });
  c.send({ type: 'confirm', dn: '1001', reservationId: 'r1' });
  t.match(c.send({ type: 'release', dn: '1001', reservationId: 'r1', outcome: 'completed' }), { ok: true, agent: { status: { state: 'WRAP_UP', wrapUpEndsMs: h.nowMs + 2000 } } }, 'the service\'s 2 s, not the agent\'s 10 s');
  h.advance(2000);
  c.send({ type: 'tick' });
  const r2 = c.send(reserve('r2', null));
  t.notOk(r2.ok && r2.type === 'reserved' && 'wrapUpMs' in r2.reservation, 'no service wrap-up: the grant has its old shape');
  c.send({ type: 'confirm', dn: '1001', reservationId: 'r2' });
  t.match(c.send({ type: 'release', dn: '1001', reservationId: 'r2', outcome: 'completed' }), { ok: true, agent: { status: { state: 'WRAP_UP', wrapUpEndsMs: h.nowMs + 10_000 } } }, 'the agent\'s own');
});
