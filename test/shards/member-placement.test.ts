// placeMember at the shard (state machine and policy): the admin REST replicates where a
// new replica receives its Raft messages before it joins, so every replica routes to it
// and a replica restarted with an older cluster file still does. Checked here: the
// command's validation, the placement replacing an earlier one of the same id, the bound
// on placements, the snapshot round trip (and older snapshots restoring with none), and
// that only an operator may propose it.
import t from 'tap';
import { decodeProposal } from '../../shards/commands.js';
import { memberPlacementsMax } from '../../shards/limits.js';
import type { Principal } from '../../shards/rpc/auth.js';
import { commandRefusal } from '../../shards/rpc/policy.js';
import { ShardStateMachine } from '../../shards/state-machine.js';
import type { Command } from '../../shards/types.js';
import { ShardHarness } from './shard-harness.js';

const place = (replica: string, store: string | null = 'd', raft = '10.0.0.4:7100', client: string | null = null, admin: string | null = null): Command => ({ type: 'placeMember', replica, store, raft, client, admin });

t.test('placeMember is validated: a member id, a store id or null, host:port with a port of 1..65535', async (t) => {
  const reason = (c: unknown): string => {
    const r = decodeProposal(new TextEncoder().encode(JSON.stringify({ v: 1, s: null, c })));
    return r.ok ? 'ok' : r.reason;
  };
  t.equal(reason(place('s1-d')), 'ok');
  t.equal(reason(place('s1-d', null)), 'ok', 'a stand-alone replica has no store');
  t.equal(reason(place('s1-d', 'd', '[fd00::4]:7100')), 'ok', 'an IPv6 host in brackets');
  t.match(reason(place('s1 d')), /command.replica must be 1..64 letters/);
  t.match(reason(place('s1-d', '')), /command.store must be 1..64 letters/);
  t.match(reason(place('s1-d', 'd', '10.0.0.4')), /command.raft must be host:port/);
  t.match(reason(place('s1-d', 'd', '10.0.0.4:70000')), /port from 1 to 65535/);
  t.match(reason(place('s1-d', 'd', '10.0.0.4:0')), /port from 1 to 65535/);
  t.match(reason(place('s1-d', 'd', `${'h'.repeat(300)}:1`)), /command.raft must be host:port/);
  t.match(reason({ type: 'placeMember', replica: 's1-d', raft: '10.0.0.4:7100', client: null, admin: null }), /store/, 'store must be given, null for none');
  t.equal(reason(place('s1-d', 'd', '10.0.0.4:7100', '10.0.0.4:7200')), 'ok', 'a client address');
  t.match(reason(place('s1-d', 'd', '10.0.0.4:7100', '10.0.0.4')), /command.client must be host:port/);
  t.match(reason({ type: 'placeMember', replica: 's1-d', store: 'd', raft: '10.0.0.4:7100', admin: null }), /client/, 'client must be given, null for none');
  t.match(reason(place('s1-d', 'd', '10.0.0.4:7100', null, '10.0.0.4:8100:1')), /command.admin must be host:port/);
  t.match(reason({ type: 'placeMember', replica: 's1-d', store: 'd', raft: '10.0.0.4:7100', client: null }), /admin/, 'admin must be given, null for none');
});

t.test('a placement applies on every replica, replaces an earlier one of the same id, and survives a snapshot', async (t) => {
  const h = new ShardHarness();
  t.equal(h.sm.placements.size, 0);
  t.match(h.propose(place('s1-d')), { ok: true, type: 'memberPlaced', placement: { replica: 's1-d', store: 'd', raft: '10.0.0.4:7100', client: null, admin: null } });
  const first = h.sm.placements;
  t.match(h.propose(place('s1-d', 'e', '10.0.0.5:7100')), { ok: true, placement: { store: 'e' } });
  t.not(h.sm.placements, first, 'a change gives a new map, so a reader holding the old one sees it changed');
  t.same([...h.sm.placements.values()], [{ replica: 's1-d', store: 'e', raft: '10.0.0.5:7100', client: null, admin: null }]);
  h.propose(place('s1-a', 'a', '10.0.0.1:7100', '10.0.0.1:7200'));
  const restored = new ShardStateMachine();
  restored.restore(h.sm.snapshot());
  t.same([...restored.placements.values()].sort((x, y) => x.replica.localeCompare(y.replica)), [
    { replica: 's1-a', store: 'a', raft: '10.0.0.1:7100', client: '10.0.0.1:7200', admin: null },
    { replica: 's1-d', store: 'e', raft: '10.0.0.5:7100', client: null, admin: null },
  ]);
  t.same(restored.snapshot(), h.sm.snapshot(), 'the same state gives the same bytes');
  // A snapshot from before placements (version 5) restores with none.
  const old = JSON.parse(new TextDecoder().decode(h.sm.snapshot())) as Record<string, unknown>;
  delete old.placements;
  old.v = 5;
  const fromOld = new ShardStateMachine();
  fromOld.restore(new TextEncoder().encode(JSON.stringify(old)));
  t.equal(fromOld.placements.size, 0);
  const bad = JSON.parse(new TextDecoder().decode(h.sm.snapshot())) as { placements: { raft: string }[] };
  bad.placements[0]!.raft = '10.0.0.1:99999';
  t.throws(() => new ShardStateMachine().restore(new TextEncoder().encode(JSON.stringify(bad))), /snapshot placements must name distinct replicas/, 'a snapshot with an address no placeMember would take is refused');
});

t.test('placements are bounded: past the bound a new id is refused, a placed one may move', async (t) => {
  const h = new ShardHarness();
  for (let i = 0; i < memberPlacementsMax; i++) t.equal(h.propose(place(`s1-r${i}`)).ok, true);
  t.match(h.propose(place('s1-one-more')), { ok: false, code: 'SHARD_ERR_LIMIT' });
  t.equal(h.sm.placements.has('s1-one-more'), false, 'nothing changed');
  t.equal(h.propose(place('s1-r0', 'z', '10.0.0.9:7100')).ok, true);
});

t.test('only an operator places a member', async (t) => {
  const none = (): null => null;
  const sip: Principal = { kind: 'sip', id: 'sip1' };
  const admin: Principal = { kind: 'admin' };
  t.match(commandRefusal(sip, place('s1-d'), none), /placeMember is an administrative command/);
  t.equal(commandRefusal(admin, place('s1-d'), none), null);
});
