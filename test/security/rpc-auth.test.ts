// Proves the shard RPC lets nobody in without the cluster secret and lets each principal do
// only its own part (shards/rpc/auth.ts, shards/rpc/policy.ts), against a real
// single-replica shard (Raft over LevelDB, RPC over TCP) started in-process:
// - a stranger without credentials is closed before any request is answered, whether it
//   skips the handshake, forges the proof or pipelines requests behind a bad proof; it
//   gets no agent data and no HA1, and nothing changes;
// - the replica answers a stranger's HELLO with a nonce only (no MAC to test guesses on),
//   a wrong-secret client is told SHARD_ERR_UNAUTHENTICATED, and a client refuses a
//   replica that is not the one it dialled;
// - a SIP node may not provision, change agent state, reserve or releaseByOwner for
//   another owner, or confirm/release another node's grant (SHARD_ERR_FORBIDDEN, nothing
//   applied), and may do all of these for its own; a replica's own client may only read;
// - HA1s reach SIP nodes only: reads, feeds and command results to any other principal,
//   and the admin REST under either token, carry {user, realm} instead;
// - the handshake deadline is absolute (a trickle is closed at it), and unauthenticated
//   connections are bounded.
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeLocalClusterConfig } from '../../cluster/local-cluster.js';
import { encodeFrame } from '../../common/framing.js';
import { silentLogger } from '../../common/logger.js';
import { ShardClient, ShardClientError } from '../../shards/client/shard-client.js';
import { digestCredentials } from '../../shards/digest-credentials.js';
import { ShardRpcServer, type ShardService } from '../../shards/node/rpc-server.js';
import { startShardReplica } from '../../shards/node/replica.js';
import { computeRpcMac, encodeRpcHello, encodeRpcProof, newRpcNonce, principalKey } from '../../shards/rpc/auth.js';
import { RpcConnection } from '../../shards/rpc/connection.js';
import type { FeedPage } from '../../shards/rpc/protocol.js';
import type { Agent, ShardResult } from '../../shards/types.js';
import { handshake, rawRpc, responses } from './rpc-raw.js';

const dir = mkdtempSync(join(tmpdir(), 'ringfence-rpc-auth-'));
const { config } = await writeLocalClusterConfig({ dir, shards: 1, replicasPerShard: 1 });
const shard = config.shards[0]!;
const replicaConfig = shard.replicas[0]!;
const replica = await startShardReplica({ config, shard, replica: replicaConfig, log: silentLogger, listenAdmin: false });
const port = replica.rpc.port;
const clients: ShardClient[] = [];
const clientAs = (principal: string, secret = config.secret): ShardClient => {
  const c = new ShardClient({ shards: config.shards, auth: { secret, principal }, attemptTimeoutMs: 1000, deadlineMs: 3000 });
  clients.push(c);
  return c;
};
t.teardown(async () => {
  for (const c of clients) c.close();
  await replica.close();
  rmSync(dir, { recursive: true, force: true });
});

const launcher = clientAs('launcher');
const sipA = clientAs('sip:sip-a');
const sipB = clientAs('sip:sip-b');
const own = clientAs(`replica:${replicaConfig.id}`);

const credentials = digestCredentials('4001', config.realm, 'pw-4001');
const ok = (r: ShardResult): ShardResult => {
  if (!r.ok) throw new Error(`${r.code}: ${r.reason}`);
  return r;
};
for (const dn of ['4001', '4002', '4003']) {
  ok(await launcher.command(dn, { type: 'provision', dn, name: `Agent ${dn}`, skills: { support: 50 }, wrapUpMs: 0, maxNoAnswer: 0, credentials: dn === '4001' ? credentials : null }));
  ok(await launcher.command(dn, { type: 'login', dn }));
  ok(await launcher.command(dn, { type: 'ready', dn }));
}
const agentsNow = async (): Promise<Agent[]> => (await launcher.read(shard.id, { type: 'agents', filter: {} })) as Agent[];
const mentionsHa1 = (text: string): boolean => text.includes(credentials.ha1Md5) || text.includes(credentials.ha1Sha256) || /ha1(Md5|Sha256)/.test(text);

const codeOf = async (p: Promise<unknown>): Promise<string> => {
  try {
    await p;
    return 'resolved';
  } catch (err) {
    return String((err as { code?: unknown }).code);
  }
};

t.test('a stranger without credentials is closed before any request is answered', async (t) => {
  const before = JSON.stringify(await agentsNow());
  const provision = (id: number): object => ({ id, op: 'propose', proposal: JSON.stringify({ v: 1, s: null, c: { type: 'provision', dn: '4999', name: 'x', skills: {}, wrapUpMs: 0, maxNoAnswer: 0, credentials: null } }) });
  const readAll = (id: number): object => ({ id, op: 'read', query: { type: 'agents', filter: {} }, consistency: 'stale' });

  // 1. Requests straight away, no handshake.
  const direct = await rawRpc(port);
  direct.send(readAll(1));
  direct.send(provision(2));
  direct.send({ id: 3, op: 'feed', fromIndex: 0 });
  await direct.closed;

  // 2. A hello, then a forged proof with requests pipelined behind it, in one write.
  const forger = await rawRpc(port);
  forger.send(encodeRpcHello('admin', newRpcNonce()));
  await forger.waitFrames(1);
  const stranger = principalKey('not-the-cluster-secret-but-32-bytes-long!!', 'admin');
  forger.sendRaw(Buffer.concat([
    encodeFrame(encodeRpcProof(computeRpcMac(stranger, { role: 'dialer', principal: 'admin', listenerId: replicaConfig.id, dialerNonce: newRpcNonce(), listenerNonce: newRpcNonce() }))),
    encodeFrame(Buffer.from(JSON.stringify(readAll(4)))),
    encodeFrame(Buffer.from(JSON.stringify(provision(5)))),
  ]));
  await forger.closed;

  // 3. A replayed-looking proof of all zeros, then a request.
  const zeros = await rawRpc(port);
  zeros.send(encodeRpcHello('sip:sip-a', newRpcNonce()));
  await zeros.waitFrames(1);
  zeros.send(encodeRpcProof(new Uint8Array(32)));
  zeros.send(readAll(6));
  await zeros.closed;

  for (const [name, raw] of [['direct', direct], ['forger', forger], ['zeros', zeros]] as const) {
    const text = raw.frames.map((f) => f.toString('utf8')).join('\n');
    t.same(responses(raw.frames), [], `${name}: no request was answered`);
    t.notOk(mentionsHa1(text), `${name}: no HA1`);
    t.notOk(text.includes('4001'), `${name}: no agent data`);
  }
  t.equal(direct.frames.length, 0, 'a request instead of a hello gets nothing at all');
  t.same(JSON.parse(forger.frames[0]!.toString('utf8')).refused, undefined, 'the first answer is the challenge');
  t.same(JSON.parse(forger.frames[1]!.toString('utf8')), { refused: 'SHARD_ERR_UNAUTHENTICATED', message: 'admin failed authentication' }, 'a bad proof is refused by code');
  t.equal(JSON.stringify(await agentsNow()), before, 'no state changed');
});

t.test('the replica answers a hello with a nonce only, and refuses a wrong secret by code', async (t) => {
  const raw = await rawRpc(port);
  raw.send(encodeRpcHello('sip:sip-a', newRpcNonce()));
  await raw.waitFrames(1);
  await new Promise((r) => setTimeout(r, 100));
  t.equal(raw.frames.length, 1, 'one frame before any proof');
  const challenge = JSON.parse(raw.frames[0]!.toString('utf8')) as Record<string, unknown>;
  t.same(Object.keys(challenge).sort(), ['challenge', 'nonce', 'replica'], 'a challenge carries no MAC');
  raw.socket.destroy();

  t.equal(await codeOf(RpcConnection.open('127.0.0.1', port, { secret: 'another-cluster-secret-of-32-bytes-or-more', principal: 'admin', replicaId: replicaConfig.id })), 'SHARD_ERR_UNAUTHENTICATED', 'wrong secret');
  const wrong = clientAs('launcher', 'another-cluster-secret-of-32-bytes-or-more');
  const err = await wrong.command('4002', { type: 'logout', dn: '4002' }).catch((e: unknown) => e);
  t.ok(err instanceof ShardClientError, 'the shard client fails the command');
  t.equal((err as ShardClientError).code, 'SHARD_ERR_UNAUTHENTICATED');
  t.equal((err as ShardClientError).maybeApplied, false, 'and knows it did not run');
  t.equal(await codeOf(RpcConnection.open('127.0.0.1', port, { secret: config.secret, principal: 'admin', replicaId: 'someone-else' })), 'SHARD_ERR_UNAUTHENTICATED', 'the client checks it reached the replica it dialled');
  t.equal(await codeOf(RpcConnection.open('127.0.0.1', port, { secret: config.secret, principal: 'root', replicaId: replicaConfig.id })), 'SHARD_ERR_UNAVAILABLE', 'an unknown principal kind is closed at the hello');
  t.equal(((await agentsNow()).find((a) => a.dn === '4002')!.status.state), 'READY', 'the wrong-secret logout did not happen');
});

t.test('a SIP node cannot administer agents or touch another node\'s grants', async (t) => {
  const forbidden = async (c: ShardClient, dn: string, cmd: Parameters<ShardClient['command']>[1], what: string): Promise<void> => {
    t.equal(await codeOf(c.command(dn, cmd)), 'SHARD_ERR_FORBIDDEN', what);
  };
  const before = JSON.stringify(await agentsNow());
  await forbidden(sipA, '4998', { type: 'provision', dn: '4998', name: 'x', skills: {}, wrapUpMs: 0, maxNoAnswer: 0, credentials: null }, 'provision');
  await forbidden(sipA, '4002', { type: 'deprovision', dn: '4002' }, 'deprovision');
  await forbidden(sipA, '4002', { type: 'logout', dn: '4002' }, 'logout');
  await forbidden(sipA, '4002', { type: 'notReady', dn: '4002', reason: 'x' }, 'notReady');
  await forbidden(sipA, '4002', { type: 'login', dn: '4002' }, 'login');
  await forbidden(sipA, '4002', { type: 'ready', dn: '4002' }, 'ready');
  await forbidden(sipA, '4002', { type: 'reserve', dn: '4002', reservationId: 'r-x', callId: 'c-x', owner: 'sip-b', ttlMs: 30_000 }, 'reserve as another owner');
  t.equal(await codeOf(sipA.commandOnShard(shard.id, { type: 'releaseByOwner', owner: 'sip-b' })), 'SHARD_ERR_FORBIDDEN', 'releaseByOwner of another owner');
  // Leases: renewing another node's lease would keep a dead node's agents held; expiring
  // one would free a live node's agents. Only the leader proposes expireLease.
  t.equal(await codeOf(sipA.commandOnShard(shard.id, { type: 'renewLease', owner: 'sip-b', ttlMs: 5000 })), 'SHARD_ERR_FORBIDDEN', 'renewLease of another node\'s lease');
  t.equal(await codeOf(sipA.commandOnShard(shard.id, { type: 'expireLease', owner: 'sip-b', renewedIndex: 1 })), 'SHARD_ERR_FORBIDDEN', 'expireLease');
  t.match(await sipA.commandOnShard(shard.id, { type: 'renewLease', owner: 'sip-a', ttlMs: 5000 }), { ok: true, type: 'leaseRenewed' }, 'its own lease it renews');
  // Queues: a node queues, removes and gives back claims only as itself, and claims only as
  // itself (the shard picks the entry; the reservation still decides).
  const q = { service: '7001', callId: 'q-x' };
  t.equal(await codeOf(sipA.commandOnShard(shard.id, { type: 'enqueue', ...q, owner: 'sip-b', skill: 's', minLevel: 0 })), 'SHARD_ERR_FORBIDDEN', 'enqueue as another owner');
  t.equal(await codeOf(sipA.commandOnShard(shard.id, { type: 'dequeue', ...q, owner: 'sip-b', reason: 'abandoned' })), 'SHARD_ERR_FORBIDDEN', 'dequeue as another owner');
  t.equal(await codeOf(sipA.commandOnShard(shard.id, { type: 'unclaim', ...q, owner: 'sip-b', dn: '4002', pass: false })), 'SHARD_ERR_FORBIDDEN', 'unclaim as another owner');
  t.equal(await codeOf(sipA.commandOnShard(shard.id, { type: 'claim', service: '7001', dn: '4002', skills: { s: 1 }, claimer: 'sip-b', ttlMs: 5000 })), 'SHARD_ERR_FORBIDDEN', 'claim as another claimer');
  await forbidden(own, '4002', { type: 'logout', dn: '4002' }, 'a replica\'s own client does not write');
  t.equal(JSON.stringify(await agentsNow()), before, 'nothing was applied');

  // sip-b holds a grant on 4002; sip-a can neither confirm nor release it.
  const reserved = await sipB.command('4002', { type: 'reserve', dn: '4002', reservationId: 'r-b', callId: 'c-b', owner: 'sip-b', ttlMs: 30_000 });
  t.ok(reserved.ok, 'sip-b reserves as itself');
  await forbidden(sipA, '4002', { type: 'confirm', dn: '4002', reservationId: 'r-b' }, 'confirm of another node\'s grant');
  await forbidden(sipA, '4002', { type: 'release', dn: '4002', reservationId: 'r-b', outcome: 'failed' }, 'release of another node\'s grant');
  t.equal(await codeOf(sipA.commandOnShard(shard.id, { type: 'releaseByOwner', owner: 'sip-a' }).then((r) => (r.ok ? r.type : r.code))), 'resolved', 'its own releaseByOwner is fine');
  const still = (await agentsNow()).find((a) => a.dn === '4002')!;
  t.equal(still.status.state, 'RESERVED', 'the grant is untouched');
  t.equal(still.status.state === 'RESERVED' ? still.status.reservation.owner : null, 'sip-b');
  t.ok((await sipB.command('4002', { type: 'confirm', dn: '4002', reservationId: 'r-b' })).ok, 'its owner confirms it');
  t.ok((await sipB.command('4002', { type: 'release', dn: '4002', reservationId: 'r-b', outcome: 'completed' })).ok, 'and releases it');
  t.ok((await sipA.command('4003', { type: 'register', dn: '4003', uri: 'sip:4003@127.0.0.1:5099', expiresMs: 60_000, q: 1, callId: 'reg-1', cseq: 1 })).ok, 'a SIP node registers phones');
});

t.test('HA1s go to SIP nodes only', async (t) => {
  const asSip = (await sipA.read(shard.id, { type: 'agent', dn: '4001' })) as Agent;
  t.same(asSip.credentials, credentials, 'a SIP node reads the HA1s it checks REGISTERs with');
  for (const [name, c] of [['launcher', launcher], ['replica', own]] as const) {
    const one = (await c.read(shard.id, { type: 'agent', dn: '4001' })) as Agent;
    t.same(one.credentials, { user: '4001', realm: config.realm }, `${name}: agent read shows that credentials are set, not the HA1s`);
    const all = JSON.stringify(await c.read(shard.id, { type: 'agents', filter: {} }, 'stale'));
    t.notOk(mentionsHa1(all), `${name}: no HA1 in a listing`);
  }
  const result = await launcher.command('4001', { type: 'provision', dn: '4001', name: 'Agent 4001', skills: { support: 60 }, wrapUpMs: 0, maxNoAnswer: 0, credentials });
  t.ok(result.ok);
  t.notOk(mentionsHa1(JSON.stringify(result)), 'no HA1 in a command result to the launcher');

  const follow = async (c: ShardClient): Promise<string> => {
    const pages: FeedPage[] = [];
    const stop = c.follow(shard.id, 0, (p) => pages.push(p));
    const deadline = Date.now() + 5000;
    while (!pages.some((p) => p.changes.some((ch) => ch.dn === '4001')) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    stop();
    return JSON.stringify(pages);
  };
  const launcherFeed = await follow(launcher);
  t.ok(launcherFeed.includes('"4001"'), 'the launcher follows the feed');
  t.notOk(mentionsHa1(launcherFeed), 'without HA1s');
  t.ok(mentionsHa1(await follow(sipA)), 'a SIP node\'s feed carries them');

  for (const [scope, token] of [['read', config.tokens.read], ['admin', config.tokens.admin]] as const) {
    const headers = { authorization: `Bearer ${token}` };
    const one = await replica.app.inject({ method: 'GET', url: '/v1/agents/4001', headers });
    t.equal(one.statusCode, 200);
    t.same(one.json().credentials, { user: '4001', realm: config.realm }, `${scope} token: credentials set, no hashes`);
    const list = await replica.app.inject({ method: 'GET', url: '/v1/agents', headers });
    t.notOk(mentionsHa1(one.body + list.body), `${scope} token: no HA1 anywhere`);
  }
  const put = await replica.app.inject({ method: 'PUT', url: '/v1/agents/4001', headers: { authorization: `Bearer ${config.tokens.admin}` }, payload: { name: 'Agent 4001', password: 'pw-4001' } });
  t.equal(put.statusCode, 200, put.body);
  t.notOk(mentionsHa1(put.body), 'provisioning through the admin REST answers without HA1s');
});

t.test('the handshake deadline is absolute and unauthenticated connections are bounded', async (t) => {
  const service: ShardService = {
    shardId: 's1',
    propose: async () => ({ result: { ok: true }, index: 1 }),
    read: async () => [],
    feed: () => () => {},
    reservationOwner: () => null,
  };
  const server = await ShardRpcServer.listen({ service, host: '127.0.0.1', port: 0, log: silentLogger, secret: config.secret, replicaId: 'r1', handshakeTimeoutMs: 400, unauthenticatedMax: 2 });
  t.teardown(() => server.close());

  // One byte every 40 ms of a hello that never completes: an idle timer would never fire.
  const slow = await rawRpc(server.port);
  const started = Date.now();
  const hello = encodeFrame(encodeRpcHello('sip:x', newRpcNonce()));
  let at = 0;
  const trickle = setInterval(() => {
    if (at < hello.length - 1) slow.sendRaw(hello.subarray(at, ++at));
  }, 40);
  await slow.closed;
  clearInterval(trickle);
  const took = Date.now() - started;
  t.ok(took >= 350 && took < 2000, `closed at the deadline (${took} ms)`);

  const a = await rawRpc(server.port);
  const b = await rawRpc(server.port);
  await new Promise((r) => setTimeout(r, 50));
  const c = await rawRpc(server.port);
  await c.closed;
  t.ok(c.isClosed() && !a.isClosed() && !b.isClosed(), 'a third unauthenticated connection is closed at once');
  t.ok(server.stats.dropped >= 1);
  t.ok(await handshake(a, { secret: config.secret, principal: 'sip:x', replicaId: 'r1' }), 'a pending one can still authenticate');
  const d = await rawRpc(server.port);
  t.ok(await handshake(d, { secret: config.secret, principal: 'admin', replicaId: 'r1' }), 'which frees its slot');
  a.socket.destroy();
  b.socket.destroy();
  d.socket.destroy();
});
