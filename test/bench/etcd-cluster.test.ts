// Proves the etcd reference harness works end to end when etcd is installed: a 3-member
// cluster starts on loopback, agrees on one leader, serves the reservation transactions
// (grant once, deny the second, release only by the holder), survives the leader being
// SIGKILLed and restarted, and leaves no process or data dir behind when stopped.
import t from 'tap';
import { isAlive } from './bench-process.js';
import { existsSync } from 'node:fs';
import { EtcdCluster, etcdBinary } from '../../bench/etcd-cluster.js';
import { confirmAgent, createEtcdClient, releaseAgent, reserveAgent, seedAgents, settleReservation } from '../../bench/etcd-workloads.js';

t.test('etcd cluster lifecycle and reservation transactions', { skip: etcdBinary() ? false : 'etcd not installed' }, async (t) => {
  const cluster = await EtcdCluster.start({ timing: 'fast' });
  t.teardown(() => cluster.stop());
  const client = createEtcdClient(cluster.clientHosts, { deadlineMs: 2_000 });
  t.teardown(() => client.close());

  const statuses = await Promise.all(cluster.members.map((m) => cluster.memberStatus(m)));
  t.equal(statuses.filter((s) => s?.isLeader).length, 1, 'exactly one member says it leads');
  t.equal(new Set(statuses.map((s) => s?.leaderId)).size, 1, 'all members name the same leader');

  await seedAgents(client, 250);
  t.equal(await client.get('agent/249').string(), 'free', 'seeding reaches the last agent');
  t.equal(await reserveAgent(client, 7, 'a'), 'granted');
  t.equal(await reserveAgent(client, 7, 'b'), 'denied', 'a reserved agent is not granted twice');
  t.equal(await settleReservation(client, 7, 'a'), true);
  t.equal(await settleReservation(client, 7, 'b'), false);
  t.equal(await releaseAgent(client, 7, 'b'), true, 'a release by a non-holder answers…');
  t.equal(await client.get('agent/7').string(), 'reserved:a', '…but does not free the agent');
  t.equal(await releaseAgent(client, 7, 'a'), true);
  t.equal(await client.get('agent/7').string(), 'free');
  t.equal(await reserveAgent(client, 9, 'd'), 'granted');
  t.equal(await confirmAgent(client, 9, 'x'), 'lost', 'only the holder confirms');
  t.equal(await confirmAgent(client, 9, 'd'), 'confirmed');
  t.equal(await client.get('agent/9').string(), 'busy:d');
  t.equal(await releaseAgent(client, 9, 'd', 'reserved'), true);
  t.equal(await client.get('agent/9').string(), 'busy:d', 'a release of the unconfirmed form leaves a busy agent');
  t.equal(await releaseAgent(client, 9, 'd', 'busy'), true);
  t.equal(await client.get('agent/9').string(), 'free');

  const leader = await cluster.leader();
  t.ok(leader, 'a leader is found');
  const oldPid = leader!.proc!.pid;
  await cluster.killMember(leader!);
  t.notOk(isAlive(oldPid), 'the leader process is gone after SIGKILL');
  await cluster.startMember(leader!);
  await cluster.waitHealthy();
  t.not(leader!.proc!.pid, oldPid, 'the member was restarted as a new process');
  t.equal(await reserveAgent(client, 8, 'c'), 'granted', 'writes work after the restart');

  const pids = cluster.members.map((m) => m.proc!.pid);
  const dir = cluster.members[0]!.dataDir;
  await cluster.stop();
  t.notOk(pids.some(isAlive), 'no etcd process survives stop()');
  t.notOk(existsSync(dir), 'data dirs are removed');
});
