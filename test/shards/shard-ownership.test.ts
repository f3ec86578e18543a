// Ownership at the shard (state machine): once setShardMap has applied, a DN command for a
// DN another shard owns is refused with SHARD_ERR_WRONG_SHARD, a command routed under
// another map version with SHARD_ERR_MAP_VERSION — each carrying the map, changing
// nothing. Before any map, every DN is accepted as before (old logs replay identically).
// The map survives a snapshot; version-1 and -2 snapshots restore with none.
import t from 'tap';
import { encodeProposal, decodeProposal } from '../../shards/commands.js';
import { shardMapVersion, shardOf } from '../../shards/shard-map.js';
import { ShardStateMachine } from '../../shards/state-machine.js';
import type { Command, ShardResult } from '../../shards/types.js';
import { ShardHarness, provisionCommand, readyAgent } from './shard-harness.js';

const ids = ['s1', 's2'];
const version = shardMapVersion(ids);
/** A DN of each shard under [s1, s2]. */
const dnOf = (shard: string): string => {
  for (let n = 1000; ; n++) if (shardOf(String(n), ids) === shard) return String(n);
};
const mine = dnOf('s1');
const theirs = dnOf('s2');
const setMap: Command = { type: 'setShardMap', shardId: 's1', shardIds: ids, version };

/** Applies one proposal carrying a client map version. */
function proposeWith(h: ShardHarness, command: Command, mapVersion: number | undefined, session: { clientId: string; requestSeq: number; ackedSeq: number }): ShardResult {
  const result = h.sm.apply(h.entry(encodeProposal(mapVersion === undefined ? { session, command } : { session, command, mapVersion })));
  return result as ShardResult;
}

t.test('the map version is a content hash of the sorted ids', async (t) => {
  t.equal(shardMapVersion(['s2', 's1']), version, 'order does not matter');
  t.not(shardMapVersion(['s1']), version);
  t.not(shardMapVersion(['s1', 's2', 's3']), version);
});

t.test('setShardMap is validated: sorted distinct ids, this shard among them, the matching version', async (t) => {
  const bad = (c: unknown): string => {
    const r = decodeProposal(new TextEncoder().encode(JSON.stringify({ v: 1, s: null, c })));
    return r.ok ? 'ok' : r.reason;
  };
  t.equal(bad(setMap), 'ok');
  t.match(bad({ ...setMap, shardIds: ['s2', 's1'] }), /sorted and distinct/);
  t.match(bad({ ...setMap, shardIds: ['s1', 's1'], version: shardMapVersion(['s1', 's1']) }), /sorted and distinct/);
  t.match(bad({ ...setMap, shardId: 's3' }), /not in command.shardIds/);
  t.match(bad({ ...setMap, version: version + 1 }), /version/);
  t.match(bad({ ...setMap, shardIds: [] }), /1\.\.256 shard ids/);
});

t.test('without a map every DN is accepted, as before', async (t) => {
  const h = new ShardHarness();
  const c = h.openClient();
  t.equal(readyAgent(c, theirs).status.state, 'READY');
  t.equal(h.sm.shardMap, null);
});

t.test('with the map, a DN of another shard is refused and nothing changes', async (t) => {
  const h = new ShardHarness();
  const c = h.openClient();
  readyAgent(c, theirs); // provisioned before the map: the shard must stop granting it
  readyAgent(c, mine);
  const set = h.propose(setMap);
  t.same(set, { ok: true, type: 'shardMap', shardMap: { shardId: 's1', shardIds: ids, version } });
  const before = new TextDecoder().decode(h.sm.snapshot());

  const reserve = (dn: string): Command => ({ type: 'reserve', dn, reservationId: `r-${dn}`, callId: `call-${dn}`, owner: 'n1', ttlMs: 5000 });
  for (const command of [provisionCommand(theirs), { type: 'login', dn: theirs }, reserve(theirs), { type: 'register', dn: theirs, uri: 'sip:a@127.0.0.1', expiresMs: 1000, q: 1, callId: 'x', cseq: 1 }] as Command[]) {
    const r = c.send(command);
    t.equal(r.ok ? 'ok' : r.code, 'SHARD_ERR_WRONG_SHARD', `${command.type} of a DN of s2`);
    t.same(!r.ok && r.shardMap, { shardId: 's1', shardIds: ids, version }, 'the refusal carries the map');
  }
  const after = JSON.parse(new TextDecoder().decode(h.sm.snapshot())) as { agents: unknown };
  t.same(after.agents, (JSON.parse(before) as { agents: unknown }).agents, 'no agent changed');

  const granted = c.send(reserve(mine));
  t.equal(granted.ok && granted.type, 'reserved', 'its own DN is granted');
  t.equal(h.sm.reservations().length, 1, 'exactly one grant');
  // Commands that only end a grant or remove an agent still run, so the shard can be emptied.
  const gone = c.send({ type: 'deprovision', dn: theirs });
  t.equal(gone.ok && gone.type, 'deprovisioned');

  // The shard remembers who owns a DN; a new map must not be judged by the old answers.
  const alone = ['s1'];
  t.match(h.propose({ type: 'setShardMap', shardId: 's1', shardIds: alone, version: shardMapVersion(alone) }), { ok: true, type: 'shardMap' });
  const back = c.send(provisionCommand(theirs));
  t.equal(back.ok ? 'ok' : back.code, 'ok', 'under a map of s1 alone, the DN that was s2\'s is s1\'s');
});

t.test('a command routed under another map version is refused with the current map', async (t) => {
  const h = new ShardHarness();
  const c = h.openClient();
  readyAgent(c, mine);
  h.propose(setMap);
  const stale = shardMapVersion(['s1']);
  const r = proposeWith(h, { type: 'notReady', dn: mine, reason: 'x' }, stale, { clientId: c.clientId, requestSeq: ++c.seq, ackedSeq: c.acked });
  t.equal(r.ok ? 'ok' : r.code, 'SHARD_ERR_MAP_VERSION');
  t.same(!r.ok && r.shardMap, { shardId: 's1', shardIds: ids, version });
  t.equal(h.sm.getAgent(mine)!.status.state, 'READY', 'nothing changed');
  const ok = proposeWith(h, { type: 'notReady', dn: mine, reason: 'x' }, version, { clientId: c.clientId, requestSeq: ++c.seq, ackedSeq: c.acked });
  t.equal(ok.ok && ok.type, 'agent', 'the current version is accepted');
  // A command without a dn ignores the version (a lease renewal must not lapse over it).
  const lease = proposeWith(h, { type: 'renewLease', owner: 'n1', ttlMs: 5000 }, stale, { clientId: c.clientId, requestSeq: ++c.seq, ackedSeq: c.acked });
  t.equal(lease.ok && lease.type, 'leaseRenewed');
});

t.test('the map survives a snapshot; older snapshots restore without one', async (t) => {
  const h = new ShardHarness();
  const c = h.openClient();
  readyAgent(c, mine);
  h.propose(setMap);
  const copy = new ShardStateMachine();
  copy.restore(h.sm.snapshot());
  t.same(copy.shardMap, { shardId: 's1', shardIds: ids, version });
  t.same(copy.snapshot(), h.sm.snapshot(), 'same bytes');
  const doc = JSON.parse(new TextDecoder().decode(h.sm.snapshot())) as Record<string, unknown>;
  t.equal(doc['v'], 6, 'version 4 added queues (test/shards/queue.test.ts), 5 services (test/shards/services.test.ts), 6 placements (test/shards/member-placement.test.ts)');
  for (const v of [1, 2]) {
    const old: Record<string, unknown> = { ...doc, v };
    delete old['shardMap'];
    delete old['queues'];
    delete old['placements'];
    if (v === 1) delete old['leases'];
    const restored = new ShardStateMachine();
    restored.restore(new TextEncoder().encode(JSON.stringify(old)));
    t.equal(restored.shardMap, null, `a version-${v} snapshot restores with no map`);
    t.equal(restored.getAgent(mine)!.status.state, 'READY');
  }
  t.throws(() => new ShardStateMachine().restore(new TextEncoder().encode(JSON.stringify({ ...doc, v: 7 }))), /unsupported shard snapshot version/);
});
