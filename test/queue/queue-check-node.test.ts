// A SIP node whose queue view went stale asks the queue's shard before a new call takes an
// agent (sip/node/queue-check.ts, wired in B2bua.route), end to end: one real 3-replica
// shard (separate processes), a SIP node in this process, an agent phone and a caller as
// real SIP UAs on loopback.
//
// The node reaches two replicas through TCP proxies that can blackhole (swallow every byte,
// close nothing: a cut, as after a partition) and the third directly. Its change feed
// follows the replica that led when it started; leadership then moves to the direct
// replica, and both proxies are cut. Another node's caller is queued on the shard (a
// command straight to the leader): the node's view cannot see it, though the node still
// reaches the leader. A new call arrives while an agent is READY:
// - the node's feed-age gauge (ringfence_sip_shard_feed_age_seconds) shows the view going
//   stale;
// - the call is queued behind the other node's caller (182 Queued), the agent's phone is
//   never offered it, and ringfence_sip_queue_checks_total{outcome="waiting"} counts the
//   read that found the waiting call;
// - after the heal the view catches up (the feed's age falls again) and a CANCEL ends the
//   queued call with 487.
// Without the check the stale view says nobody waits and the agent's phone rings: the
// assertions on the phone and on the 182 fail.
// The node's stale bar is 300 ms here (default 2.5 s), so the window between "stale" and
// "the feed has moved to a current replica" (about 2.5 s after a cut: the link's keepalive)
// is wide enough for a loaded machine; no wall-clock asserts.
import t from 'tap';
import type { ClusterConfig } from '../../common/config.js';
import type { SipTarget } from '../../sip/transport/index.js';
import { BlackholeProxy } from '../support/blackhole-proxy.js';
import { metricSample } from '../support/metric-sample.js';
import { startShardCluster } from '../support/shard-cluster.js';
import { addAgent, password, sipTarget, startNode, waitFor } from '../sip/node/harness.js';
import { TestUa } from '../sip/node/test-ua.js';

t.setTimeout(240_000);
const SERVICE = '7001';
const DN = '9001';
const staleMs = 300;
// Elections after 1 s of silence (default 150 ms): a loaded machine's stall must not move
// leadership away from the replica the feed is meant to start on.
const cluster = await startShardCluster(t, { shards: 1, replicasPerShard: 3, raft: { tickMs: 10, electionTimeoutTicks: 100, heartbeatTicks: 3 } });
const shard = cluster.config.shards[0]!;
const feedReplica = await cluster.leaderOf(shard.id);
const others = shard.replicas.filter((r) => r.id !== feedReplica);
const [cutReplica, directReplica] = [others[0]!, others[1]!];
const byId = new Map(shard.replicas.map((r) => [r.id, r]));
// The feed starts on the first listed replica or the leader: both are feedReplica.
const proxies = new Map<string, BlackholeProxy>();
for (const id of [feedReplica, cutReplica.id]) proxies.set(id, await BlackholeProxy.start(byId.get(id)!.client.port));
const cut = (on: boolean): void => {
  for (const p of proxies.values()) p.blackholed = on;
};
t.teardown(async () => {
  cut(false);
  await Promise.all([...proxies.values()].map((p) => p.close()));
});
const replicas = [feedReplica, cutReplica.id, directReplica.id].map((id) => {
  const r = byId.get(id)!;
  const proxy = proxies.get(id);
  return proxy === undefined ? r : { ...r, client: { host: '127.0.0.1', port: proxy.port } };
});
const config: ClusterConfig = {
  ...cluster.config,
  shards: [{ ...shard, replicas }],
  services: [{ number: SERVICE, skill: 'sales', minLevel: 0 }],
  sip: [{ id: 'sip1', udp: { host: '127.0.0.1', port: 0 }, tcp: { host: '127.0.0.1', port: 0 }, admin: { host: '127.0.0.1', port: 0 } }],
};
const node = await startNode(t, config, { queueWaitMs: 120_000, queueViewStaleMs: staleMs });
const via: SipTarget = sipTarget(node);
const phone = await TestUa.start('answer');
const caller = await TestUa.start();
t.teardown(() => Promise.all([phone.close(), caller.close()]));

async function metrics(): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${node.adminPort}/metrics`, { headers: { authorization: `Bearer ${config.tokens.read}` } });
  return res.text();
}
const feedAgeS = async (): Promise<number | null> => metricSample(await metrics(), 'ringfence_sip_shard_feed_age_seconds', { shard: shard.id });
const checks = async (outcome: string): Promise<number> => metricSample(await metrics(), 'ringfence_sip_queue_checks_total', { outcome }) ?? 0;

t.test('a stale view: the shard is asked, and the new call queues behind the one it missed', async (t) => {
  await addAgent(cluster, config, DN, { sales: 50 });
  t.equal((await phone.register(via, DN, password(DN), { expires: 600 })).response.status, 200, 'the agent registered through the node');
  await waitFor('the node to see the agent READY', () => node.view.get(DN)?.status.state, (s) => s === 'READY', 20_000);
  const liveAge = await waitFor('the feed to be live', feedAgeS, (s) => s !== null && s < 2, 20_000);
  t.ok(liveAge !== null && liveAge < 2, `the feed-age gauge shows a live feed (${liveAge} s)`);
  t.equal(await cluster.leaderOf(shard.id), feedReplica, 'the replica the feed started on still leads');

  // Leadership to the replica the node reaches directly; the feed stays where it was.
  const res = await fetch(`http://${byId.get(feedReplica)!.admin.host}:${byId.get(feedReplica)!.admin.port}/v1/leader/transfer`, {
    method: 'POST', headers: { authorization: `Bearer ${config.tokens.admin}`, 'content-type': 'application/json' }, body: JSON.stringify({ to: directReplica.id }),
  });
  t.equal(res.status, 200, `leadership handed from ${feedReplica} to ${directReplica.id}`);
  await waitFor(`${directReplica.id} to lead`, () => cluster.leaderOf(shard.id), (id) => id === directReplica.id, 20_000);
  // A REGISTER is a shard command: the node learns the new leader before the cut.
  t.equal((await phone.register(via, DN, password(DN), { expires: 600 })).response.status, 200, 'a REGISTER through the node after the transfer');

  cut(true);
  const queuedElsewhere = await cluster.client.commandOnShard(shard.id, { type: 'enqueue', service: SERVICE, callId: 'sip-other/c1', owner: 'sip-other', skill: 'sales', minLevel: 0 });
  t.equal(queuedElsewhere.ok, true, 'another node\'s caller queued on the shard after the cut');
  const staleAge = await waitFor('the view to go stale', feedAgeS, (s) => s !== null && s >= staleMs / 1000, 20_000);
  t.ok(staleAge !== null && staleAge * 1000 >= staleMs, `the feed-age gauge shows the stale view (${staleAge} s)`);
  t.equal(await checks('waiting'), 0, 'no check has found a waiting call yet');

  const call = caller.call(via, SERVICE);
  await waitFor('182 Queued', () => call.provisionals.some((p) => p.status === 182), (x) => x, 30_000);
  t.pass('the new call is queued (182 Queued)');
  t.equal(await checks('waiting'), 1, 'one read of the queue shard found a call waiting');
  t.equal(phone.invites.length, 0, 'the READY agent\'s phone was not offered the call');

  cut(false);
  await waitFor('the feed to be live again', feedAgeS, (s) => s !== null && s < staleMs / 1000, 30_000);
  t.pass('after the heal the feed is live again');
  caller.cancel(call, via);
  t.equal((await call.final).status, 487, 'CANCEL while queued → 487');
  t.equal(phone.invites.length, 0, 'the agent was never offered it');
});
