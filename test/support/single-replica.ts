// A real one-replica shard in the test's own process (Raft over LevelDB in a temp dir, its
// RPC server on a loopback port, its admin app driven with inject()) and a shard client
// authenticated as the launcher; both closed and the directory removed in teardown.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Test } from 'tap';
import { writeLocalClusterConfig } from '../../cluster/local-cluster.js';
import type { ClusterConfig, ShardConfig } from '../../common/config.js';
import { silentLogger } from '../../common/logger.js';
import { ShardClient } from '../../shards/client/shard-client.js';
import { startShardReplica, type ShardReplica } from '../../shards/node/replica.js';

export type SingleReplica = Readonly<{ config: ClusterConfig; shard: ShardConfig; replica: ShardReplica; client: ShardClient }>;

export async function startSingleReplica(t: Pick<Test, 'teardown'>, name: string): Promise<SingleReplica> {
  const dir = mkdtempSync(join(tmpdir(), `ringfence-${name}-`));
  const { config } = await writeLocalClusterConfig({ dir, shards: 1, replicasPerShard: 1 });
  const shard = config.shards[0]!;
  const replica = await startShardReplica({ config, shard, replica: shard.replicas[0]!, log: silentLogger, listenAdmin: false });
  const client = new ShardClient({ shards: config.shards, auth: { secret: config.secret, principal: 'launcher' } });
  t.teardown(async () => {
    client.close();
    await replica.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return { config, shard, replica, client };
}
