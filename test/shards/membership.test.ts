// Operating a shard over its admin REST with real processes: a fourth replica started
// with an empty disk joins through POST /v1/members (learner, caught up, promoted), the
// old leader is removed with DELETE /v1/members/:id after a leader transfer, and the
// shard keeps every acknowledged agent and keeps serving throughout. Once the joined
// replica leads, a client whose topology predates it follows the leader hint to it.
import t from 'tap';
import { ShardClient } from '../../shards/client/shard-client.js';
import type { Agent } from '../../shards/types.js';
import { startShardCluster } from '../support/shard-cluster.js';

t.test('add a replica, transfer leadership, remove the old leader', { timeout: 300_000 }, async (t) => {
  const cluster = await startShardCluster(t, { shards: 1, replicasPerShard: 4, joinReplicas: 1 });
  const { client, config } = cluster;
  const shard = config.shards[0]!;
  const [a, b, c, d] = shard.replicas;
  const admin = { authorization: `Bearer ${config.tokens.admin}`, 'content-type': 'application/json' };
  const url = (r: typeof a, path: string): string => `http://${r!.admin.host}:${r!.admin.port}${path}`;
  // 503 is the API's "leadership is moving, retry" (a new leader may still be committing
  // its first entry, or a replica's view of the leader may be a moment old): an operator
  // retries it, and so does this test, for a bounded time.
  const retrying503 = async (call: () => Promise<Response>): Promise<Response> => {
    for (let attempt = 0; ; attempt++) {
      const res = await call();
      if (res.status !== 503 || attempt >= 30) return res;
      await new Promise((r) => setTimeout(r, 500));
    }
  };

  const dns = ['4001', '4002', '4003'];
  for (const dn of dns) {
    const r = await client.command(dn, { type: 'provision', dn, name: dn, skills: {}, wrapUpMs: 0, maxNoAnswer: 0, credentials: null });
    t.ok(r.ok);
  }
  await cluster.procs.start('shard', d!.id, [], 120_000);
  const leader = await cluster.leaderOf(shard.id);
  const follower = [a, b, c].find((r) => r!.id !== leader)!;
  // Sent to a follower on purpose: the write must be forwarded to the leader.
  const add = await retrying503(() => fetch(url(follower, '/v1/members'), { method: 'POST', headers: admin, body: JSON.stringify({ id: d!.id, raft: `${d!.raft.host}:${d!.raft.port}`, client: `${d!.client.host}:${d!.client.port}` }) }));
  t.equal(add.status, 200, await add.clone().text());
  t.ok(((await add.json()) as { conf: { voters: string[] } }).conf.voters.includes(d!.id), 'the new replica is a voter');

  const newLeader = [a, b, c].find((r) => r!.id !== leader)!;
  const transfer = await retrying503(() => fetch(url(newLeader, '/v1/leader/transfer'), { method: 'POST', headers: admin, body: JSON.stringify({ to: newLeader!.id }) }));
  t.equal(transfer.status, 200, 'leadership transferred');
  t.equal(await cluster.leaderOf(shard.id), newLeader!.id);

  // Sent to a replica that is not the leader after the transfer: forwarded, with no body.
  const other = [a, b, c].find((r) => r!.id !== newLeader!.id && r!.id !== leader)!;
  const remove = await retrying503(() => fetch(url(other, `/v1/members/${leader}`), { method: 'DELETE', headers: { authorization: admin.authorization } }));
  t.equal(remove.status, 200, await remove.clone().text());
  t.notOk(((await remove.json()) as { conf: { voters: string[] } }).conf.voters.includes(leader), 'the old leader is no longer a member');
  await cluster.procs.kill(leader, 'SIGKILL');

  const again = await client.command('4004', { type: 'provision', dn: '4004', name: '4004', skills: {}, wrapUpMs: 0, maxNoAnswer: 0, credentials: null });
  t.ok(again.ok, 'the shard still commits with the new membership');
  // A follower applies what the leader committed one round later (it learns the commit
  // index from the next append or heartbeat), so the joined replica is asked until it has.
  type ReplicaView = { applied: number; conf: { voters: string[] } };
  const seesNewMembership = (v: ReplicaView): boolean => v.conf.voters.includes(d!.id) && !v.conf.voters.includes(leader);
  let fromNew = (await client.replicaStatus(shard.id, d!.id)) as ReplicaView;
  for (const deadline = Date.now() + 30_000; !seesNewMembership(fromNew) && Date.now() < deadline;) {
    await new Promise((r) => setTimeout(r, 100));
    fromNew = (await client.replicaStatus(shard.id, d!.id)) as ReplicaView;
  }
  t.ok(seesNewMembership(fromNew), `the joined replica sees the new membership (voters ${fromNew.conf.voters.join(', ')})`);
  const agents = (await client.read(shard.id, { type: 'agents', filter: {} })) as Agent[];
  t.same(agents.map((x) => x.dn).sort(), [...dns, '4004'], 'no acknowledged agent was lost');

  // Leadership on the joined replica: a client whose topology predates it (the cluster
  // file before the join) follows the hint, which carries the address POST /v1/members
  // replicated.
  const toNew = await retrying503(() => fetch(url(d, '/v1/leader/transfer'), { method: 'POST', headers: admin, body: JSON.stringify({ to: d!.id }) }));
  t.equal(toNew.status, 200, `leadership handed to ${d!.id}`);
  const before = new ShardClient({ shards: [{ id: shard.id, replicas: [a!, b!, c!] }], auth: { secret: config.secret, principal: 'launcher' }, attemptTimeoutMs: 1000, deadlineMs: 20_000 });
  t.teardown(() => before.close());
  const viaHint = await before.command('4005', { type: 'provision', dn: '4005', name: '4005', skills: {}, wrapUpMs: 0, maxNoAnswer: 0, credentials: null });
  t.ok(viaHint.ok, `a client whose topology does not list ${d!.id} commits through it`);
});
