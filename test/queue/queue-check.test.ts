// A SIP node whose queue feed went stale asks the queue's shard before it routes a new
// call past the queue (sip/node/queue-check.ts). One real 3-replica shard (separate
// processes); the node's side is the real AgentFeed and QueueView on a ShardClient that
// reaches every replica through a TCP proxy of this test that can blackhole (swallow
// every byte both ways, close nothing: a cut, as after a partition, that no socket
// reports). It proves:
// - a live feed keeps liveAgoMs under the stale bar (heartbeat pages count), so no read
//   is made; cut off, liveAgoMs passes the bar while the feed has not moved on;
// - while the view is stale and misses a call queued by another node, the check finds it
//   on the shard (waiting for its service, not for another), and every caller arriving
//   during one read shares it;
// - a check whose shard cannot be reached in time answers false (the view decides) and
//   counts `failed`;
// - after the heal the feed brings the queued call and is live again;
// - a feed whose replica's link closes (its store killed: nothing answers any more) is
//   stale at once, not a stale bar later: a call queued meanwhile on the shard is found by
//   the check (chaos seed 1289004234 had a bypass 2.5 s after a store kill, the stale bar
//   after the link closed).
// No wall-clock asserts: every wait has a generous deadline.
import t from 'tap';
import { silentLogger } from '../../common/logger.js';
import { ShardClient, type ShardTopology } from '../../shards/client/shard-client.js';
import type { ShardResult } from '../../shards/types.js';
import { AgentFeed } from '../../sip/node/agent-feed.js';
import { queueViewStaleMs } from '../../sip/node/limits.js';
import { QueueCheck, type QueueCheckOutcome } from '../../sip/node/queue-check.js';
import { QueueView } from '../../sip/node/queue.js';
import { AgentView } from '../../sip/node/router.js';
import { BlackholeProxy } from '../support/blackhole-proxy.js';
import { startShardCluster } from '../support/shard-cluster.js';
import { until as untilAnswer } from '../support/until.js';

/** Waits (bounded) until `cond` holds. */
const until = (what: string, cond: () => boolean, timeoutMs: number): Promise<true> => untilAnswer(what, async () => (cond() ? true : null), timeoutMs, 50);

const cluster = await startShardCluster(t, { shards: 1, replicasPerShard: 3 });
const shard = cluster.config.shards[0]!;
const proxies = await Promise.all(shard.replicas.map((r) => BlackholeProxy.start(r.client.port)));
t.teardown(() => Promise.all(proxies.map((p) => p.close())));
const viaProxies: ShardTopology = [{ id: shard.id, replicas: shard.replicas.map((r, i) => ({ id: r.id, client: { host: '127.0.0.1', port: proxies[i]!.port } })) }];
const node = new ShardClient({ shards: viaProxies, auth: { secret: cluster.config.secret, principal: 'launcher' }, attemptTimeoutMs: 500, deadlineMs: 10_000 });
t.teardown(() => node.close());
const queues = new QueueView();
const feed = new AgentFeed(node, new AgentView(), silentLogger, queues);
t.teardown(() => feed.close());
const cut = (on: boolean): void => {
  for (const p of proxies) p.blackholed = on;
};
t.teardown(() => cut(false));

const ok = (r: ShardResult): ShardResult => {
  if (!r.ok) throw new Error(`${r.code}: ${r.reason}`);
  return r;
};
const enqueue = async (service: string, callId: string): Promise<void> => {
  ok(await cluster.client.commandOnShard(shard.id, { type: 'enqueue', service, callId, owner: 'sip-other', skill: 'support', minLevel: 0 }));
};

/** A QueueCheck on `client`, counting its reads and outcomes (the real client reads). */
function checkOn(client: ShardClient): { check: QueueCheck; reads: () => number; outcomes: QueueCheckOutcome[] } {
  let reads = 0;
  const outcomes: QueueCheckOutcome[] = [];
  const shards = {
    read: (...args: Parameters<ShardClient['read']>) => {
      reads += 1;
      return client.read(...args);
    },
    shardFor: (dn: string) => client.shardFor(dn),
  };
  const check = new QueueCheck({ shards, liveAgoMs: (id) => feed.liveAgoMs(id), log: silentLogger, onCheck: (o) => outcomes.push(o) });
  return { check, reads: () => reads, outcomes };
}

t.test('a live feed is trusted; a cut one goes stale and the shard is asked', async (t) => {
  await feed.start();
  await until('a page showing the replica current', () => feed.liveAgoMs(shard.id) < queueViewStaleMs, 20_000);
  const direct = checkOn(cluster.client);
  t.equal(direct.check.staleShard('7001'), null, 'a live feed: the view decides, nothing is read');
  t.equal(direct.reads(), 0, 'no read');

  cut(true);
  await enqueue('7001', 'sip-other/c1');
  await until('the cut feed to go stale', () => feed.liveAgoMs(shard.id) >= queueViewStaleMs, 30_000);
  t.same(queues.waiting('7001'), [], 'the stale view misses the call queued after the cut');
  t.equal(direct.check.staleShard('7001'), shard.id, 'stale: the queue shard is named');

  const answers = await Promise.all([1, 2, 3, 4].map(() => direct.check.waitingOnShard(shard.id, '7001')));
  t.same(answers, [true, true, true, true], 'the shard says a call of 7001 waits');
  t.equal(direct.reads(), 1, 'four callers arriving during one read shared it');
  t.equal(await direct.check.waitingOnShard(shard.id, '7002'), false, 'none waits for another service');
  t.same(direct.outcomes, ['waiting', 'waiting'], 'each read counted by what the shard held');

  // The node's own client is behind the cut too: its ask fails within the check's deadline.
  const cutOff = checkOn(node);
  t.equal(await cutOff.check.waitingOnShard(shard.id, '7001'), false, 'an unreachable shard leaves the decision to the view');
  t.same(cutOff.outcomes, ['failed'], 'counted failed');

  cut(false);
  await until('the feed to bring the queued call', () => queues.waiting('7001').length === 1, 30_000);
  await until('the feed to be live again', () => feed.liveAgoMs(shard.id) < queueViewStaleMs, 30_000);
  t.equal(direct.check.staleShard('7001'), null, 'live again: the view decides');
});

t.test('a feed that loses its replica is stale at once, and the shard is asked', async (t) => {
  await until('the feed live', () => feed.liveAgoMs(shard.id) < queueViewStaleMs, 30_000);
  const direct = checkOn(cluster.client);
  t.equal(direct.check.staleShard('7003'), null, 'live: the view decides');
  // Every replica's link closes and nothing answers a redial, as after kills: the feed
  // gives its replica up and cannot reach the next one.
  for (const p of proxies) {
    p.refusing = true;
    p.reset();
  }
  t.teardown(() => {
    for (const p of proxies) p.refusing = false;
  });
  await until('the feed to give its replica up', () => feed.liveAgoMs(shard.id) === Number.POSITIVE_INFINITY, 20_000);
  t.equal(direct.check.staleShard('7003'), shard.id, 'stale at once: the queue shard is named');
  await enqueue('7003', 'sip-other/c3');
  t.same(queues.waiting('7003'), [], 'the view misses the call queued meanwhile');
  t.equal(await direct.check.waitingOnShard(shard.id, '7003'), true, 'the shard says it waits');

  for (const p of proxies) p.refusing = false;
  await until('the feed to bring the queued call', () => queues.waiting('7003').length === 1, 30_000);
  await until('the feed to be live again', () => feed.liveAgoMs(shard.id) < queueViewStaleMs, 30_000);
  t.equal(direct.check.staleShard('7003'), null, 'live again: the view decides');
});
