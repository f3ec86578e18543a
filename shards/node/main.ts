// `ringfence shard --config cluster.yaml --id s1-a`: one replica of one DN shard as a
// process. Prints one JSON line `{"event":"ready",...}` on stdout once it serves.
import { announce, onShutdown, parseFlags, requireFlag } from '../../common/args.js';
import { findReplica, loadClusterConfig } from '../../common/config.js';
import { createLogger } from '../../common/logger.js';
import { startShardReplica } from './replica.js';

const flags = {
  config: { type: 'string', help: 'cluster file (YAML)' },
  id: { type: 'string', help: 'this replica id, as named in the cluster file' },
  data: { type: 'string', help: 'data directory (overrides the cluster file)' },
} as const;

export async function main(argv: string[]): Promise<void> {
  const f = parseFlags(argv, flags, 'usage: ringfence shard --config cluster.yaml --id <replica>');
  const config = loadClusterConfig(requireFlag(f.config, 'config'));
  const found = findReplica(config, requireFlag(f.id, 'id'));
  const replica = f.data ? { ...found.replica, data: f.data } : found.replica;
  const log = createLogger({ role: 'shard', shard: found.shard.id, replica: replica.id });
  const r = await startShardReplica({ config, shard: found.shard, replica, log, listenAdmin: true });
  onShutdown(() => r.close());
  const adminAddr = r.app.server.address();
  log.info('shard replica serving', { pid: process.pid });
  announce({ event: 'ready', role: 'shard', shard: found.shard.id, id: replica.id, pid: process.pid, raft: r.node.transport.port, client: r.rpc.port, admin: typeof adminAddr === 'object' && adminAddr ? adminAddr.port : 0 });
}
