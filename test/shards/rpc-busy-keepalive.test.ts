// While requests wait on a client's RPC link, the link's silence is judged on the busy
// scale (rpcBusyKeepaliveIdleMs / rpcBusyKeepaliveTimeoutMs): a link that answers nothing,
// not even a ping, is destroyed and its requests fail SHARD_ERR_UNAVAILABLE (retryable
// elsewhere) long before their own timeouts; a link whose replica answers pings but
// cannot commit (its quorum is gone) stays open, and its write ends by its own timeout.
// A real 3-replica shard, each replica its own OS process; the cut is a TCP proxy of this
// test that swallows bytes and closes nothing, as a partition does. Both connections set
// the idle-scale keepalive to a minute, so only the busy scale can act.
import t from 'tap';
import { encodeProposal } from '../../shards/commands.js';
import { RpcConnection, RpcError } from '../../shards/rpc/connection.js';
import { BlackholeProxy } from '../support/blackhole-proxy.js';
import { startShardCluster } from '../support/shard-cluster.js';

t.test('a waiting request on a silent link fails over; a slow commit on a live link does not', async (t) => {
  const cluster = await startShardCluster(t, { shards: 1, replicasPerShard: 3 });
  const shard = cluster.config.shards[0]!;
  const leaderId = await cluster.leaderOf(shard.id);
  const leader = shard.replicas.find((r) => r.id === leaderId)!;
  const proxy = await BlackholeProxy.start(leader.client.port);
  t.teardown(() => proxy.close());
  const dial = { secret: cluster.config.secret, principal: 'launcher', replicaId: leaderId, keepaliveIdleMs: 60_000, keepaliveTimeoutMs: 60_000 } as const;
  const status = { op: 'read', shard: shard.id, query: { type: 'status' }, consistency: 'stale' } as const;

  const cut = await RpcConnection.open('127.0.0.1', proxy.port, dial);
  t.teardown(() => cut.close());
  t.ok((await cut.request(status, 5000)).result, 'the link through the proxy answers');
  proxy.blackholed = true;
  const waitedFromMs = Date.now();
  const err = await cut.request(status, 30_000).then(() => null, (e: unknown) => e);
  const waitedMs = Date.now() - waitedFromMs;
  t.ok(err instanceof RpcError, 'the request sent into the cut fails');
  t.equal((err as RpcError).code, 'SHARD_ERR_UNAVAILABLE', 'as unavailable (the client retries it on another replica)');
  t.match((err as RpcError).message, /no answer within \d+ ms of a keepalive ping, 1 request\(s\) waiting/, 'naming the unanswered ping');
  t.ok(waitedMs < 30_000, `before its own 30 s timeout (${waitedMs} ms)`);
  t.ok(cut.closed, 'the silent link is closed');

  // The leader's quorum is gone: it answers pings, but a write can only wait.
  const live = await RpcConnection.open(leader.client.host, leader.client.port, dial);
  t.teardown(() => live.close());
  for (const r of shard.replicas) if (r.id !== leaderId) await cluster.procs.kill(cluster.hostOf(r.id));
  const proposal = Buffer.from(encodeProposal({ session: null, command: { type: 'openSession' } })).toString('utf8');
  const slow = await live.request({ op: 'propose', shard: shard.id, proposal, timeoutMs: 3000 }, 3000).then(() => null, (e: unknown) => e);
  t.ok(slow instanceof RpcError, 'the write without a quorum is not acknowledged');
  t.not((slow as RpcError).code, 'SHARD_ERR_UNAVAILABLE', `it ends by its timeout or the replica's refusal (${(slow as RpcError).code}: ${(slow as RpcError).message})`);
  t.notOk(live.closed, 'the link whose replica answers pings stayed open through the wait');
  t.ok((await live.request(status, 5000)).result, 'and still serves');
});
