// A ShardStore in the test's own process (real LevelDB, real sockets on loopback): one
// store hosting three one-replica shards. Proves:
// - a start that fails part way (its admin port is taken) closes what it had opened: the
//   next start on the same data directory and ports succeeds;
// - the store's one leader-duty timer serves every group it leads: a reservation left
//   unconfirmed expires after its TTL, on each of the three shards;
// - the store's admin app (inject): /v1/status counts groups and leaders and links each
//   shard; /v1/shards/:id/status; 404 for a shard it does not host; 400 for a member
//   added through the REST (placement is the cluster file's); the old per-replica routes
//   keep working: a Raft operation naming a member answers 307 to its shard's route, and
//   GET /v1/reservations lists every hosted shard's, each naming its shard;
// - close() disarms the duty timer and frees the ports.
import { createServer, type Server } from 'node:net';
import t from 'tap';
import { writeLocalClusterConfig } from '../../cluster/local-cluster.js';
import { silentLogger } from '../../common/logger.js';
import { changeFeedCapacityFor } from '../../shards/change-feed.js';
import { ShardClient } from '../../shards/client/shard-client.js';
import { ShardStore } from '../../shards/node/store.js';
import { storeParts } from '../../shards/node/store-parts.js';
import { shardOf } from '../../shards/shard-map.js';
import type { Agent, ShardResult } from '../../shards/types.js';
import { tempDir } from '../support/temp-dir.js';

const listen = (port: number): Promise<Server> => new Promise((resolve, reject) => {
  const s = createServer();
  s.once('error', reject);
  s.listen(port, '127.0.0.1', () => resolve(s));
});

async function until(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

t.test('one store, three one-replica shards, in process', async (t) => {
  const dir = tempDir(t, 'store-in-process');
  const { config } = await writeLocalClusterConfig({ dir, shards: 3, stores: 1, replicasPerShard: 1 });
  const st = config.stores![0]!;
  const storageFailures: Error[] = [];
  const start = (): Promise<ShardStore> => ShardStore.start({ config, storeId: 'a', parts: storeParts, log: silentLogger, listenAdmin: true, onStorageFailure: (e) => storageFailures.push(e) });

  const blocker = await listen(st.admin.port);
  await t.rejects(start(), /EADDRINUSE/, 'the start fails: its admin port is taken');
  await new Promise((r) => blocker.close(r));

  const store = await start();
  let closed = false;
  const client = new ShardClient({ shards: config.shards, auth: { secret: config.secret, principal: 'launcher' }, attemptTimeoutMs: 1000, deadlineMs: 15_000 });
  t.teardown(async () => {
    client.close();
    if (!closed) await store.close();
  });
  t.pass('the next start on the same data directory and ports succeeds');
  // isLeader() is the core's word at once; the duty timer hears of it with the role change
  // the group reports after its Ready, a moment later.
  await until('every group to lead, as its role listeners heard', () => [...store.replicas.values()].every((r) => r.node.group.isLeader()) && store.duties.leading === 3);
  t.equal(store.duties.leading, 3, 'the one duty timer runs the duties of the 3 groups it leads');
  t.ok(store.duties.armed);

  const status = await store.app.inject({ method: 'GET', url: '/v1/status', headers: { authorization: `Bearer ${config.tokens.read}` } });
  t.equal(status.statusCode, 200);
  t.match(status.json(), { store: 'a', groups: 3, leading: 3, withLeader: 3, peersAlive: [], shards: [{ id: 's1', replica: 's1-a', role: 'leader', status: '/v1/shards/s1/status' }, { id: 's2' }, { id: 's3' }] });
  const feedCounts = (status.json() as { changeFeed: { records: number; perShardMax: number } }).changeFeed;
  t.equal(feedCounts.perShardMax, changeFeedCapacityFor(3), 'each shard\'s change-feed ring: its share of the store\'s budget');
  t.equal(feedCounts.records, [...store.replicas.values()].reduce((n, r) => n + r.node.stateMachine.changesSince(0).changes.length, 0), 'the records the store holds, all shards together');
  const s2 = await store.app.inject({ method: 'GET', url: '/v1/shards/s2/status', headers: { authorization: `Bearer ${config.tokens.read}` } });
  t.match(s2.json(), { shard: 's2', replica: 's2-a', role: 'leader', leader: 's2-a' });
  const none = await store.app.inject({ method: 'GET', url: '/v1/shards/s4/reservations', headers: { authorization: `Bearer ${config.tokens.read}` } });
  t.equal(none.statusCode, 404);
  t.match(none.json(), { code: 'ADMIN_ERR_NOT_FOUND', detail: /hosts no replica of shard "s4"/, field: 'params.id' });

  const join = await store.app.inject({ method: 'POST', url: '/v1/shards/s1/members', headers: { authorization: `Bearer ${config.tokens.admin}` }, payload: { id: 's1-z', raft: '127.0.0.1:7999' } });
  t.equal(join.statusCode, 400, 'a replica joining a store-hosted shard names its store');
  t.match(join.json(), { code: 'ADMIN_ERR_BAD_REQUEST', field: 'body.store', detail: /shard s1 lives on stores: name the store that hosts s1-z/ });
  const admin = { authorization: `Bearer ${config.tokens.admin}` };
  const old = await store.app.inject({ method: 'POST', url: '/v1/leader/transfer', headers: admin, payload: { to: 's2-a' } });
  t.match({ status: old.statusCode, location: old.headers.location }, { status: 307, location: '/v1/shards/s2/leader/transfer' }, 'a stand-alone replica\'s transfer: 307 to the shard of the replica it names');
  const oldUnknown = await store.app.inject({ method: 'POST', url: '/v1/leader/transfer', headers: admin, payload: { to: 's9-a' } });
  t.match({ status: oldUnknown.statusCode, body: oldUnknown.json() }, { status: 400, body: { code: 'ADMIN_ERR_BAD_REQUEST', field: 'body.to', detail: /no shard store a hosts has a replica "s9-a"/ } });
  const oldRemove = await store.app.inject({ method: 'DELETE', url: '/v1/members/s3-a', headers: admin });
  t.match({ status: oldRemove.statusCode, location: oldRemove.headers.location }, { status: 307, location: '/v1/shards/s3/members/s3-a' }, 'a member removal: 307 to its shard\'s route');
  const oldRemoveUnknown = await store.app.inject({ method: 'DELETE', url: '/v1/members/nobody', headers: admin });
  t.match({ status: oldRemoveUnknown.statusCode, body: oldRemoveUnknown.json() }, { status: 404, body: { field: 'params.id' } });
  const oldJoin = await store.app.inject({ method: 'POST', url: '/v1/members', headers: admin, payload: { id: 's1-z', store: 'z', raft: '127.0.0.1:7999' } });
  t.match({ status: oldJoin.statusCode, location: oldJoin.headers.location }, { status: 307, location: '/v1/shards/s1/members' }, 'a member added: 307 to the route of the shard its id names');
  const oldJoinUnknown = await store.app.inject({ method: 'POST', url: '/v1/members', headers: admin, payload: { id: 'nobody', store: 'z' } });
  t.match({ status: oldJoinUnknown.statusCode, body: oldJoinUnknown.json() }, { status: 400, body: { field: 'body.id', detail: /names no shard store a hosts/ } });

  // One DN per shard, each reserved with a short TTL and never confirmed.
  const shardIds = config.shards.map((s) => s.id);
  const dns = new Map<string, string>();
  for (let n = 2000; dns.size < shardIds.length; n++) if (!dns.has(shardOf(String(n), shardIds))) dns.set(shardOf(String(n), shardIds), String(n));
  const ok = (r: ShardResult, what: string): void => {
    if (!r.ok) throw new Error(`${what}: ${JSON.stringify(r)}`);
  };
  for (const dn of dns.values()) {
    ok(await client.command(dn, { type: 'provision', dn, name: `Agent ${dn}`, skills: { s: 1 }, wrapUpMs: 0, maxNoAnswer: 0, credentials: null }), 'provision');
    ok(await client.command(dn, { type: 'login', dn }), 'login');
    ok(await client.command(dn, { type: 'ready', dn }), 'ready');
    ok(await client.command(dn, { type: 'reserve', dn, reservationId: `r-${dn}`, callId: `c-${dn}`, owner: 'gone', ttlMs: 300 }), 'reserve');
  }
  for (const [shard, dn] of dns) {
    await until(`${dn}'s reservation to expire`, async () => ((await client.read(shard, { type: 'agent', dn })) as Agent).status.state === 'READY');
  }
  t.pass('each shard\'s unconfirmed reservation expired after its TTL');
  const [heldShard, heldDn] = [...dns][1]!;
  ok(await client.command(heldDn, { type: 'reserve', dn: heldDn, reservationId: `held-${heldDn}`, callId: `held-${heldDn}`, owner: 'test', ttlMs: 60_000 }), 'reserve');
  const held = await store.app.inject({ method: 'GET', url: '/v1/reservations', headers: { authorization: `Bearer ${config.tokens.read}` } });
  t.equal(held.statusCode, 200);
  t.match(held.json(), [{ shard: heldShard, dn: heldDn, state: 'RESERVED', reservation: { reservationId: `held-${heldDn}` } }], 'GET /v1/reservations: every hosted shard\'s, naming its shard');
  t.equal((held.json() as unknown[]).length, 1);
  const metrics = await store.registry.metrics();
  for (const s of shardIds) t.match(metrics, new RegExp(`^ringfence_reservations_expired_total\\{shard="${s}",replica="${s}-a",store="a"\\} 1$`, 'm'), `${s}: the expiry is counted under its shard`);

  await store.close();
  closed = true;
  t.notOk(store.duties.armed, 'closed: the duty timer is disarmed');
  for (const port of [st.raft.port, st.client.port, st.admin.port]) {
    const s = await listen(port);
    await new Promise((r) => s.close(r));
  }
  t.pass('closed: its three ports are free');
  t.same(storageFailures, []);
});
