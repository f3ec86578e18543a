// Real-process shard clusters for integration tests: writes a cluster file with free
// loopback ports, starts every replica as its own OS process (or, co-hosted, the i-th
// replica of every shard in one process), and registers a teardown that kills them all
// even when the test fails.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Test } from 'tap';
import type { ClusterConfig } from '../../common/config.js';
import { ProcessSet, shardProcessIds, shardProcessOf, writeLocalClusterConfig } from '../../cluster/local-cluster.js';
import { ShardClient } from '../../shards/client/shard-client.js';

export type ShardCluster = Readonly<{
  dir: string;
  config: ClusterConfig;
  configPath: string;
  procs: ProcessSet;
  /** The ProcessSet ids of the shard processes (replica ids, joined by commas when co-hosted). */
  hosts: readonly string[];
  /** The ProcessSet id of the process hosting a replica. */
  hostOf(replicaId: string): string;
  client: ShardClient;
  /** The replica that leads `shardId` now, asking every live replica (highest term wins). */
  leaderOf(shardId: string, timeoutMs?: number): Promise<string>;
}>;

export async function startShardCluster(t: Test, opts: { shards: number; replicasPerShard?: number; joinReplicas?: number; raft?: Partial<ClusterConfig['raft']>; coHosted?: boolean; preferredLeaders?: boolean }): Promise<ShardCluster> {
  if (opts.coHosted && opts.joinReplicas) throw new Error('a co-hosted cluster starts every replica; joinReplicas needs separate processes');
  const dir = mkdtempSync(join(tmpdir(), 'ringfence-test-'));
  const { path, config } = await writeLocalClusterConfig({ dir, shards: opts.shards, replicasPerShard: opts.replicasPerShard, joinReplicas: opts.joinReplicas, raft: opts.raft, preferredLeaders: opts.preferredLeaders });
  const procs = new ProcessSet(path, { logFile: join(dir, 'processes.log') });
  const client = new ShardClient({ shards: config.shards, auth: { secret: config.secret, principal: 'launcher' }, attemptTimeoutMs: 1000, deadlineMs: 10_000 });
  const killAll = (): void => procs.killAllNow();
  process.once('exit', killAll);
  t.teardown(async () => {
    client.close();
    await procs.stopAll(2000);
    process.removeListener('exit', killAll);
    if (!process.env.RINGFENCE_KEEP_TEST_DATA) rmSync(dir, { recursive: true, force: true });
  });
  const hosts = opts.coHosted ? shardProcessIds(config, true) : config.shards.flatMap((s) => s.replicas.filter((r) => !r.join).map((r) => r.id));
  const hostOf = (replicaId: string): string => shardProcessOf(hosts, replicaId);
  await Promise.all(hosts.map((id) => procs.start('shard', id, [], 120_000)));
  const leaderOf = async (shardId: string, timeoutMs = 30_000): Promise<string> => {
    const shard = config.shards.find((s) => s.id === shardId)!;
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const leader = await client.leaderStatus(shardId, shard.replicas.map((r) => r.id).filter((id) => procs.isRunning(hostOf(id))));
      if (leader) return leader.id;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`shard ${shardId} has no leader after ${timeoutMs} ms`);
  };
  return { dir, config, configPath: path, procs, hosts, hostOf, client, leaderOf };
}
