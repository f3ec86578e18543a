// One `ringfence shard` process may host one replica of each of several shards
// (`--id s1-a,s2-a`), the README's layout of a replica of every shard per host. These
// tests run 2 shards in 3 such processes, SIGKILL the process hosting a leader (one
// replica of each shard dies with it), and check that both shards keep committing and
// that the restarted process catches both of its replicas up.
import t from 'tap';
import { UsageError } from '../../common/args.js';
import { ProcessSet, shardProcessIds, shardProcessOf, writeLocalClusterConfig } from '../../cluster/local-cluster.js';
import { startShardCluster } from '../support/shard-cluster.js';
import type { RaftStatus } from '../../raft/types.js';
import { hostedReplicas } from '../../cluster/roles/shard.js';
import { tempDir } from '../support/temp-dir.js';

t.test('which replicas a process hosts, and the --id lists refused', async (t) => {
  const dir = tempDir(t, 'cohost');
  const { config } = await writeLocalClusterConfig({ dir, shards: 3 });
  t.same(shardProcessIds(config, false), ['s1-a', 's1-b', 's1-c', 's2-a', 's2-b', 's2-c', 's3-a', 's3-b', 's3-c']);
  t.same(shardProcessIds(config, true), ['s1-a,s2-a,s3-a', 's1-b,s2-b,s3-b', 's1-c,s2-c,s3-c'], 'the i-th process hosts the i-th replica of every shard');
  t.equal(shardProcessOf(shardProcessIds(config, true), 's2-b'), 's1-b,s2-b,s3-b');
  t.equal(shardProcessOf(shardProcessIds(config, false), 's2-b'), 's2-b');

  t.same(hostedReplicas(config, 's1-a, s3-b', undefined).map((h) => [h.shard.id, h.replica.id]), [['s1', 's1-a'], ['s3', 's3-b']]);
  t.equal(hostedReplicas(config, 's2-c', '/elsewhere')[0]!.replica.data, '/elsewhere', '--data still overrides for one replica');
  t.throws(() => hostedReplicas(config, 's1-a,s1-b', undefined), new UsageError('--id names two replicas of shard s1 (s1-a and s1-b); a process hosts at most one replica of a shard, or one kill could take its quorum'));
  t.throws(() => hostedReplicas(config, 's1-a,s1-a', undefined), new UsageError('--id names replica s1-a twice'));
  t.throws(() => hostedReplicas(config, 's1-a,,s2-a', undefined), new UsageError('--id has an empty replica id: "s1-a,,s2-a"'));
  t.throws(() => hostedReplicas(config, 's1-a,s2-a', '/elsewhere'), /--data names one data directory, but --id names several replicas/);
  t.throws(() => hostedReplicas(config, 's1-a,s9-a', undefined), /--id: no replica "s9-a" in the cluster file/);
});

t.test('a process refuses to host two replicas of one shard, naming them', async (t) => {
  const dir = tempDir(t, 'cohost');
  const { path } = await writeLocalClusterConfig({ dir, shards: 2 });
  const procs = new ProcessSet(path);
  t.teardown(() => procs.stopAll(1000));
  await t.rejects(procs.start('shard', 's2-a,s2-c', [], 60_000), /exited \(2\) before it was ready; its stderr ended:\n.*--id names two replicas of shard s2 \(s2-a and s2-c\)/);
});

t.test('2 shards in 3 co-hosted processes survive a SIGKILL of a leader\'s process', { timeout: 300_000 }, async (t) => {
  const { config, procs, hosts, hostOf, client, leaderOf } = await startShardCluster(t, { shards: 2, coHosted: true });
  t.same(hosts, ['s1-a,s2-a', 's1-b,s2-b', 's1-c,s2-c']);
  for (const host of hosts) {
    const replicas = procs.procs.get(host)!.ready!.replicas as { shard: string; id: string; raft: number; client: number; admin: number }[];
    t.same(replicas.map((x) => x.id), host.split(','), `${host} announces both of its replicas`);
    t.equal(new Set(replicas.flatMap((x) => [x.raft, x.client, x.admin])).size, 6, 'each replica has its own ports');
  }
  t.equal(new Set(hosts.map((id) => procs.pid(id))).size, 3, '6 replicas run in 3 processes');

  // One agent on each shard, so every step below touches both Raft groups.
  const dnOf = (shard: string): string => {
    for (let n = 3001; ; n++) if (client.shardFor(String(n)) === shard) return String(n);
  };
  const dns = config.shards.map((s) => dnOf(s.id));
  for (const dn of dns) {
    t.ok((await client.command(dn, { type: 'provision', dn, name: `Agent ${dn}`, skills: { support: 50 }, wrapUpMs: 0, maxNoAnswer: 0, credentials: null })).ok, `provision ${dn}`);
    await client.command(dn, { type: 'login', dn });
    t.ok((await client.command(dn, { type: 'ready', dn })).ok, `${dn} READY`);
  }

  const status = (shard: string, replica: string): Promise<RaftStatus | null> => client.replicaStatus(shard, replica, 1000).then((s) => s as RaftStatus, () => null);
  const leader = await leaderOf('s1');
  const victim = hostOf(leader);
  const victimPid = procs.pid(victim);
  await procs.kill(victim);
  t.notOk(procs.isRunning(victim), `SIGKILLed ${victim} (pid ${victimPid}), which hosted s1's leader ${leader}`);

  // Each shard lost one replica of three: both still have a quorum and commit.
  for (const dn of dns) {
    const r = await client.command(dn, { type: 'reserve', dn, reservationId: `r-${dn}`, callId: `c-${dn}`, owner: 'cohost-test', ttlMs: 60_000 });
    t.ok(r.ok, `shard ${client.shardFor(dn)} grants a reservation of ${dn} with ${victim} dead`);
  }
  const newLeader = await leaderOf('s1');
  t.not(newLeader, leader, `s1 elected ${newLeader} in place of ${leader}`);

  await procs.restart(victim);
  for (const id of victim.split(',')) {
    const shard = config.shards.find((s) => s.replicas.some((r) => r.id === id))!.id;
    const target = (await status(shard, await leaderOf(shard)))!.commit;
    let caughtUp: RaftStatus | null = null;
    for (const deadline = Date.now() + 60_000; Date.now() < deadline && caughtUp === null; await new Promise((r) => setTimeout(r, 100))) {
      const s = await status(shard, id);
      if (s !== null && s.applied >= target) caughtUp = s;
    }
    t.ok(caughtUp, `restarted ${id} applied up to index ${target}, which its shard committed while it was dead`);
  }
  for (const dn of dns) {
    const r = await client.command(dn, { type: 'release', dn, reservationId: `r-${dn}`, outcome: 'completed' });
    t.ok(r.ok, `release ${dn} with every replica back`);
  }
});
