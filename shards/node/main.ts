// `ringfence shard --config cluster.yaml --id s1-a`: one replica of one DN shard as a
// process. Prints one JSON line `{"event":"ready",...}` on stdout once it serves.
import { createAdminApp } from '../../common/admin.js';
import { announce, onShutdown, parseFlags, requireFlag } from '../../common/args.js';
import { findReplica, loadClusterConfig } from '../../common/config.js';
import { createLogger } from '../../common/logger.js';
import { ShardClient } from '../client/shard-client.js';
import { shardAdminRoutes } from './admin-routes.js';
import { ShardMetrics } from './metrics.js';
import { ShardRpcServer } from './rpc-server.js';
import { ShardNode } from './shard-node.js';

const flags = {
  config: { type: 'string', help: 'cluster file (YAML)' },
  id: { type: 'string', help: 'this replica id, as named in the cluster file' },
  data: { type: 'string', help: 'data directory (overrides the cluster file)' },
} as const;

export async function main(argv: string[]): Promise<void> {
  const f = parseFlags(argv, flags, 'usage: ringfence shard --config cluster.yaml --id <replica>');
  const config = loadClusterConfig(requireFlag(f.config, 'config'));
  const found = findReplica(config, requireFlag(f.id, 'id'));
  const shard = found.shard;
  const replica = f.data ? { ...found.replica, data: f.data } : found.replica;
  const log = createLogger({ role: 'shard', shard: shard.id, replica: replica.id });
  let node: ShardNode | null = null;
  const metrics = new ShardMetrics({ shard: shard.id, replica: replica.id }, () => node?.status() ?? null);
  node = await ShardNode.start({ config, shard, replica, log, metrics });
  const rpc = await ShardRpcServer.listen(node, replica.client.host, replica.client.port, log);
  const client = new ShardClient({ shards: config.shards });
  const app = await createAdminApp({ title: `Ringfence shard ${shard.id} replica ${replica.id}`, tokens: config.tokens, registry: metrics.registry });
  await app.register(shardAdminRoutes, { node, client, config, shard });
  await app.listen({ host: replica.admin.host, port: replica.admin.port });
  const adminAddr = app.server.address();
  const started = node;
  onShutdown(async () => {
    client.close();
    await app.close();
    await rpc.close();
    await started.close();
  });
  log.info('shard replica serving', { pid: process.pid });
  announce({ event: 'ready', role: 'shard', shard: shard.id, id: replica.id, pid: process.pid, raft: started.transport.port, client: rpc.port, admin: typeof adminAddr === 'object' && adminAddr ? adminAddr.port : 0 });
}
