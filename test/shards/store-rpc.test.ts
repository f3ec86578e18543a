// The shard RPC of a store (one listener serving one replica of many shards) and the shard
// client's one connection per store. Two real 3-replica shards (Raft over LevelDB and TCP,
// in this process) are served by three store-mode listeners, store `a` hosting the first
// replica of each shard, `b` the second, `c` the third, each looking the shard up per
// request (ShardRpcServer `services`). It proves:
// - commands, reads, status probes and feeds of both shards through a client that holds
//   exactly one connection per store (3, not 6), each listener seeing exactly one;
// - a store's listener refuses a request without `shard`, with a `shard` of the wrong
//   type, empty or overlong (SHARD_ERR_INVALID_COMMAND), or naming a shard it does not
//   host (SHARD_ERR_UNKNOWN_SHARD naming it, `__proto__` included), and keeps serving the
//   connection; a replica's own listener takes `shard` absent or its own, and refuses
//   another shard's;
// - a `store:<id>` principal reads but proposes nothing;
// - when store `c` dies (its listener and both its replicas), both shards keep committing
//   through the other two stores' links.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { writeLocalClusterConfig } from '../../cluster/local-cluster.js';
import { silentLogger } from '../../common/logger.js';
import { ShardClient, ShardClientError, type ShardTopology } from '../../shards/client/shard-client.js';
import { ShardRpcServer, type ShardService } from '../../shards/node/rpc-server.js';
import { startShardReplica, type ShardReplica } from '../../shards/node/replica.js';
import type { FeedPage } from '../../shards/rpc/protocol.js';
import { rpcShardIdCharsMax } from '../../shards/limits.js';
import type { ShardResult } from '../../shards/types.js';
import { handshake, rawRpc, responses, type RawRpc } from '../security/rpc-raw.js';

const dir = mkdtempSync(join(tmpdir(), 'ringfence-store-rpc-'));
const { config } = await writeLocalClusterConfig({ dir, shards: 2, replicasPerShard: 3 });
const storeIds = ['a', 'b', 'c'] as const;
/** Replica i of every shard lives on store storeIds[i] (s1-a and s2-a on store a, ...). */
const storeOf = (replicaId: string): string => replicaId.slice(replicaId.indexOf('-') + 1);

const replicas: ShardReplica[] = [];
const stores = new Map<string, ShardRpcServer>();
const clients: ShardClient[] = [];
t.teardown(async () => {
  for (const c of clients) c.close();
  await Promise.all([...stores.values()].map((s) => s.close()));
  await Promise.all(replicas.map((r) => r.close()));
  rmSync(dir, { recursive: true, force: true });
});
for (const shard of config.shards) {
  for (const replica of shard.replicas) replicas.push(await startShardReplica({ config, shard, replica, log: silentLogger, listenAdmin: false }));
}
for (const storeId of storeIds) {
  const hosted = new Map<string, ShardService>(replicas.filter((r) => storeOf(r.node.replicaId) === storeId).map((r) => [r.node.shardId, r.node]));
  stores.set(storeId, await ShardRpcServer.listen({ services: (shardId) => hosted.get(shardId), host: '127.0.0.1', port: 0, log: silentLogger, secret: config.secret, replicaId: storeId }));
}
const storePort = (storeId: string): number => stores.get(storeId)!.port;
const topology: ShardTopology = config.shards.map((s) => ({
  id: s.id,
  replicas: s.replicas.map((r) => ({ id: r.id, store: storeOf(r.id), client: { host: '127.0.0.1', port: storePort(storeOf(r.id)) } })),
}));
const clientAs = (principal: string, shards: ShardTopology = topology): ShardClient => {
  const c = new ShardClient({ shards, auth: { secret: config.secret, principal }, attemptTimeoutMs: 1000, deadlineMs: 15_000 });
  clients.push(c);
  return c;
};
const launcher = clientAs('launcher');
const ok = (r: ShardResult): ShardResult => {
  if (!r.ok) throw new Error(`${r.code}: ${r.reason}`);
  return r;
};
/** DNs of each shard: two owned by s1, two by s2. */
const dnsOf = new Map<string, string[]>(config.shards.map((s) => [s.id, []]));
for (let n = 6000; [...dnsOf.values()].some((l) => l.length < 2); n++) {
  const list = dnsOf.get(launcher.shardFor(String(n)))!;
  if (list.length < 2) list.push(String(n));
}
const allDns = [...dnsOf.values()].flat();

t.test('both shards through one connection per store', async (t) => {
  const pages = new Map<string, FeedPage[]>(config.shards.map((s) => [s.id, []]));
  const stops = config.shards.map((s) => launcher.follow(s.id, 0, (p) => pages.get(s.id)!.push(p)));
  t.teardown(() => stops.forEach((stop) => stop()));
  for (const dn of allDns) {
    ok(await launcher.command(dn, { type: 'provision', dn, name: `Agent ${dn}`, skills: {}, wrapUpMs: 0, maxNoAnswer: 0, credentials: null }));
    ok(await launcher.command(dn, { type: 'login', dn }));
    ok(await launcher.command(dn, { type: 'ready', dn }));
    const reserved = await launcher.command(dn, { type: 'reserve', dn, reservationId: `r-${dn}`, callId: `c-${dn}`, owner: 'test', ttlMs: 60_000 });
    t.equal(reserved.ok && reserved.type, 'reserved', `${dn} reserved on ${launcher.shardFor(dn)}`);
  }
  for (const shard of config.shards) {
    const agents = (await launcher.read(shard.id, { type: 'agents', filter: {} })) as { dn: string }[];
    t.same(agents.map((a) => a.dn).sort(), [...dnsOf.get(shard.id)!].sort(), `${shard.id} holds its own DNs only: each request ran on the shard it named`);
    const statuses = await Promise.all(shard.replicas.map((r) => launcher.replicaStatus(shard.id, r.id) as Promise<{ id: string }>));
    t.same(statuses.map((s) => s.id), shard.replicas.map((r) => r.id), `${shard.id}: each store answers its own replica's status`);
  }
  const deadline = Date.now() + 10_000;
  const fed = (shardId: string): string[] => pages.get(shardId)!.flatMap((p) => p.changes.map((c) => (c as { dn?: string }).dn ?? '')).filter((dn) => dn !== '');
  while (config.shards.some((s) => !dnsOf.get(s.id)!.every((dn) => fed(s.id).includes(dn))) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  for (const shard of config.shards) {
    t.same([...new Set(fed(shard.id))].sort(), [...dnsOf.get(shard.id)!].sort(), `${shard.id}'s feed carries its own DNs, over the shared link`);
  }
  t.equal(launcher.connections, 3, 'the client holds 3 connections (one per store) for 2 shards × 3 replicas');
  for (const [id, store] of stores) t.equal(store.connections, 1, `store ${id} sees one connection`);
});

/** Sends `request` (with an id) on `raw` and returns its answer. */
async function ask(raw: RawRpc, request: Record<string, unknown>): Promise<Record<string, unknown>> {
  const id = Math.floor(Math.random() * 2 ** 40);
  raw.send({ ...request, id });
  for (let i = 0; i < 50; i++) {
    const answer = responses(raw.frames).find((r) => r.id === id);
    if (answer !== undefined) return answer;
    await raw.waitFrames(raw.frames.length + 1, 200);
  }
  throw new Error(`no answer to ${JSON.stringify(request).slice(0, 120)}`);
}

t.test('a store listener refuses a bad, absent, overlong or unknown shard and keeps serving', async (t) => {
  const raw = await rawRpc(storePort('a'));
  t.teardown(() => raw.socket.destroy());
  t.ok(await handshake(raw, { secret: config.secret, principal: 'launcher', replicaId: 'a' }), 'the handshake binds the store id');
  const status = { op: 'read', query: { type: 'status' }, consistency: 'stale' };
  const cases: [string, unknown, string, RegExp][] = [
    ['absent', undefined, 'SHARD_ERR_INVALID_COMMAND', /shard is required: a is a store/],
    ['null', null, 'SHARD_ERR_INVALID_COMMAND', /shard must be a shard id \(a string\), not null/],
    ['a number', 7, 'SHARD_ERR_INVALID_COMMAND', /not number/],
    ['an array', ['s1'], 'SHARD_ERR_INVALID_COMMAND', /not an array/],
    ['an object', { id: 's1' }, 'SHARD_ERR_INVALID_COMMAND', /not object/],
    ['empty', '', 'SHARD_ERR_INVALID_COMMAND', /must not be empty/],
    ['overlong', 's'.repeat(rpcShardIdCharsMax + 1), 'SHARD_ERR_INVALID_COMMAND', new RegExp(`at most ${rpcShardIdCharsMax} characters \\(got ${rpcShardIdCharsMax + 1}\\)`)],
    ['unknown', 's9', 'SHARD_ERR_UNKNOWN_SHARD', /store a hosts no replica of shard "s9"/],
    ['__proto__', '__proto__', 'SHARD_ERR_UNKNOWN_SHARD', /"__proto__"/],
    ['constructor', 'constructor', 'SHARD_ERR_UNKNOWN_SHARD', /"constructor"/],
  ];
  for (const [what, shard, code, message] of cases) {
    for (const request of [status, { op: 'propose', proposal: '{}' }, { op: 'feed', fromIndex: 0 }]) {
      const answer = await ask(raw, shard === undefined ? request : { ...request, shard });
      t.match(answer, { ok: false, error: { code, message } }, `${request.op} with shard ${what}: ${code}`);
    }
  }
  const maxLength = await ask(raw, { ...status, shard: 's'.repeat(rpcShardIdCharsMax) });
  t.match(maxLength, { ok: false, error: { code: 'SHARD_ERR_UNKNOWN_SHARD' } }, `a ${rpcShardIdCharsMax}-character shard id is looked up (and not found)`);
  t.match(await ask(raw, { ...status, shard: 's2' }), { ok: true, result: { id: 's2-a' } }, 'the connection still serves: s2 answers as replica s2-a');
});

t.test('a replica listener takes shard absent or its own, and refuses another', async (t) => {
  const replica = replicas.find((r) => r.node.replicaId === 's1-a')!;
  const raw = await rawRpc(replica.rpc.port);
  t.teardown(() => raw.socket.destroy());
  t.ok(await handshake(raw, { secret: config.secret, principal: 'launcher', replicaId: 's1-a' }));
  const status = { op: 'read', query: { type: 'status' }, consistency: 'stale' };
  t.match(await ask(raw, status), { ok: true, result: { id: 's1-a' } }, 'shard absent: its own');
  t.match(await ask(raw, { ...status, shard: 's1' }), { ok: true, result: { id: 's1-a' } }, 'shard s1: its own');
  t.match(await ask(raw, { ...status, shard: 's2' }), { ok: false, error: { code: 'SHARD_ERR_UNKNOWN_SHARD', message: /replica s1-a serves shard "s1", not "s2"/ } }, 'shard s2: refused, named');
  t.match(await ask(raw, { ...status, shard: 42 }), { ok: false, error: { code: 'SHARD_ERR_INVALID_COMMAND' } }, 'shard 42: refused');
});

t.test('a client whose topology puts a shard on a store that does not host it gets UNKNOWN_SHARD', async (t) => {
  const skewed = clientAs('launcher', [...topology, { id: 's3', replicas: [{ id: 's3-a', store: 'a', client: { host: '127.0.0.1', port: storePort('a') } }] }]);
  const err = await skewed.read('s3', { type: 'status' }).then(() => null, (e: unknown) => e);
  t.ok(err instanceof ShardClientError, 'a ShardClientError');
  t.match(err, { code: 'SHARD_ERR_UNKNOWN_SHARD', message: /store a hosts no replica of shard "s3"/, maybeApplied: false });
});

t.test('a store principal reads and proposes nothing', async (t) => {
  const own = clientAs('store:a');
  const agents = (await own.read('s1', { type: 'agents', filter: {} }, 'stale')) as unknown[];
  t.ok(Array.isArray(agents), 'store:a reads');
  const dn = dnsOf.get('s1')![0]!;
  const err = await own.command(dn, { type: 'logout', dn }).then(() => null, (e: unknown) => e);
  // Its first proposal, the session it would need, is already refused.
  t.match(err, { code: 'SHARD_ERR_FORBIDDEN', message: /store:a: openSession is not open to a store's own client/ });
});

t.test('store c dies: both shards keep committing through stores a and b', async (t) => {
  await stores.get('c')!.close();
  stores.delete('c');
  for (const r of replicas.filter((x) => storeOf(x.node.replicaId) === 'c')) {
    await r.close();
    replicas.splice(replicas.indexOf(r), 1);
  }
  for (const dn of allDns) {
    const released = await launcher.command(dn, { type: 'release', dn, reservationId: `r-${dn}`, outcome: 'completed' });
    t.equal(released.ok, true, `${dn}: release committed on ${launcher.shardFor(dn)} without store c`);
  }
  t.equal(launcher.connections, 2, 'the client holds the links to stores a and b, and forgot the dead one');
});
