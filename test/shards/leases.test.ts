// Proves the replicated half of SIP node leases (DESIGN.md, leases): a renewal records the
// entry that renewed; `expireLease` naming that renewal frees every grant the owner holds
// (RESERVED and BUSY) through the grant's orphan hold, then READY, and leaves other
// owners' grants alone; `expireLease` naming an older renewal (the node renewed after the
// leader decided) or no lease changes nothing; leases are bounded and survive snapshots,
// and a version-1 snapshot (before leases) still restores.
import t from 'tap';
import { ShardStateMachine } from '../../shards/state-machine.js';
import type { Agent, ShardResult } from '../../shards/types.js';
import { ShardHarness } from './shard-harness.js';

function readyAgent(h: ShardHarness, dn: string): void {
  const c = h.openClient();
  for (const command of [
    { type: 'provision' as const, dn, name: `Agent ${dn}`, skills: { s: 50 }, wrapUpMs: 0, maxNoAnswer: 0, credentials: null },
    { type: 'login' as const, dn },
    { type: 'ready' as const, dn },
  ]) {
    const r = c.send(command);
    if (!r.ok) throw new Error(JSON.stringify(r));
  }
}

function state(h: ShardHarness, dn: string): Agent['status']['state'] {
  return h.sm.getAgent(dn)!.status.state;
}

t.test('an expired lease frees the owner\'s grants through their orphan hold, and only them', async (t) => {
  const h = new ShardHarness();
  for (const dn of ['1001', '1002', '1003']) readyAgent(h, dn);
  const c = h.openClient();
  const renewed = c.send({ type: 'renewLease', owner: 'sip1', ttlMs: 5000 });
  t.match(renewed, { ok: true, type: 'leaseRenewed', lease: { owner: 'sip1', ttlMs: 5000 } });
  const renewedIndex = (renewed as Extract<ShardResult, { type: 'leaseRenewed' }>).lease.renewedIndex;
  t.equal(renewedIndex, h.index, 'the lease remembers the entry that renewed it');
  c.send({ type: 'reserve', dn: '1001', reservationId: 'r1', callId: 'c1', owner: 'sip1', ttlMs: 30_000, orphanHoldMs: 2000 });
  c.send({ type: 'confirm', dn: '1001', reservationId: 'r1' });
  c.send({ type: 'reserve', dn: '1002', reservationId: 'r2', callId: 'c2', owner: 'sip1', ttlMs: 30_000, orphanHoldMs: 2000 });
  c.send({ type: 'reserve', dn: '1003', reservationId: 'r3', callId: 'c3', owner: 'sip2', ttlMs: 30_000 });
  t.same([state(h, '1001'), state(h, '1002'), state(h, '1003')], ['BUSY', 'RESERVED', 'RESERVED']);

  const expired = h.propose({ type: 'expireLease', owner: 'sip1', renewedIndex });
  t.same(expired, { ok: true, type: 'leaseExpired', owner: 'sip1', released: [{ dn: '1001', reservationId: 'r1' }, { dn: '1002', reservationId: 'r2' }] });
  t.same([state(h, '1001'), state(h, '1002'), state(h, '1003')], ['WRAP_UP', 'WRAP_UP', 'RESERVED'], 'sip1\'s agents wait out the orphan hold; sip2\'s grant stands');
  t.same(h.sm.leases(), [], 'the lease is gone');
  h.advance(2000);
  t.equal(h.sm.getAgent('1001', h.nowMs)!.status.state, 'READY', 'READY once the orphan hold ran out');
  const kinds = h.sm.changesSince(0).changes.filter((ch) => ch.kind === 'expireLease').map((ch) => ch.dn);
  t.same(kinds, ['1001', '1002'], 'the change feed says why each agent was freed');
});

t.test('a renewal after the leader decided wins', async (t) => {
  const h = new ShardHarness();
  readyAgent(h, '1001');
  const c = h.openClient();
  const first = c.send({ type: 'renewLease', owner: 'sip1', ttlMs: 5000 }) as Extract<ShardResult, { type: 'leaseRenewed' }>;
  c.send({ type: 'reserve', dn: '1001', reservationId: 'r1', callId: 'c1', owner: 'sip1', ttlMs: 30_000 });
  c.send({ type: 'renewLease', owner: 'sip1', ttlMs: 5000 });
  const stale = h.propose({ type: 'expireLease', owner: 'sip1', renewedIndex: first.lease.renewedIndex });
  t.match(stale, { ok: false, code: 'SHARD_ERR_LEASE_RENEWED' });
  t.equal(state(h, '1001'), 'RESERVED', 'nothing freed');
  t.match(h.propose({ type: 'expireLease', owner: 'nobody', renewedIndex: 1 }), { ok: false, code: 'SHARD_ERR_LEASE_RENEWED' }, 'no lease, nothing to expire');
  t.throws(() => h.propose({ type: 'renewLease', owner: 'sip1', ttlMs: 10 }), /SHARD_ERR_BAD_COMMAND: command.ttlMs must be an integer in 1000\.\.600000/, 'a lease shorter than the minimum is refused');
});

t.test('leases are bounded and survive a snapshot; a version-1 snapshot restores', async (t) => {
  const h = new ShardHarness({ leasesMax: 2 });
  const c = h.openClient();
  t.match(c.send({ type: 'renewLease', owner: 'a', ttlMs: 5000 }), { ok: true });
  t.match(c.send({ type: 'renewLease', owner: 'b', ttlMs: 5000 }), { ok: true });
  t.match(c.send({ type: 'renewLease', owner: 'c', ttlMs: 5000 }), { ok: false, code: 'SHARD_ERR_LIMIT' }, 'a third owner does not fit');
  t.match(c.send({ type: 'renewLease', owner: 'a', ttlMs: 6000 }), { ok: true }, 'an existing owner still renews');
  const copy = new ShardStateMachine({ leasesMax: 2 });
  copy.restore(h.sm.snapshot());
  t.same(copy.leases(), h.sm.leases(), 'leases restored');
  t.same(copy.snapshot(), h.sm.snapshot(), 'same bytes');

  const v1 = JSON.parse(new TextDecoder().decode(h.sm.snapshot())) as Record<string, unknown>;
  v1.v = 1;
  delete v1.leases;
  const old = new ShardStateMachine();
  old.restore(new TextEncoder().encode(JSON.stringify(v1)));
  t.same(old.leases(), [], 'a snapshot from before leases restores with none');
});
