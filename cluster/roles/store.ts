// `ringfence store --config cluster.yaml --id a`: a store, one process hosting one
// replica of every shard the cluster file places on it (DESIGN.md "Multi-raft stores"):
// one shared log, one Raft transport, one client RPC listener and one admin REST, however
// many shards. Prints one JSON line `{"event":"ready","role":"store",...}` on stdout once
// every group is open and every listener serves. SIGTERM closes cleanly; a storage
// failure exits 74, as a replica's does.
import { announce, onShutdown, parseFlags, requireFlag, UsageError } from '../../common/args.js';
import { healthRoutes } from '../../common/admin.js';
import { clusterFileExposure, ConfigError, findStore, loadClusterConfig } from '../../common/config.js';
import { createLogger } from '../../common/logger.js';
import { ShardStore } from '../../shards/node/store.js';
import { storeParts } from '../../shards/node/store-parts.js';
import { clusterViewRoutes } from '../cluster-view.js';
import { coalesced, storeReadiness } from '../readiness.js';

export const flags = {
  config: { type: 'string', help: 'cluster file (YAML)' },
  id: { type: 'string', help: 'the store id, as named in the cluster file\'s stores section' },
} as const;

export async function main(argv: string[]): Promise<void> {
  const f = parseFlags(argv, flags, 'usage: ringfence store --config cluster.yaml --id <store>');
  const configPath = requireFlag(f.config, 'config');
  const config = loadClusterConfig(configPath);
  const id = requireFlag(f.id, 'id');
  // Before anything opens: an unknown store id is a usage error (exit 2), not a start-up
  // failure, and a store the file places no replica on is a cluster-file error (78).
  const known = (config.stores ?? []).map((st) => st.id);
  if (!known.includes(id)) throw new UsageError(`--id: no store ${JSON.stringify(id)} in the cluster file (${known.length === 0 ? 'it has no stores section' : `it has ${known.join(', ')}`})`);
  if (findStore(config, id).hosted.length === 0) throw new ConfigError(`stores[${known.indexOf(id)}]`, `store ${id} hosts no replica of any shard`);
  const log = createLogger({ role: 'store', store: id });
  const exposure = clusterFileExposure(configPath);
  if (exposure !== null) log.warn(exposure);
  const store = await ShardStore.start({
    config,
    storeId: id,
    parts: storeParts,
    log,
    listenAdmin: true,
    adminRoutes: async (app, s, viewClient) => {
      await app.register(clusterViewRoutes, { config, self: { role: 'store', id }, shardClient: viewClient });
      healthRoutes(app, coalesced(async () => storeReadiness(id, [...s.replicas.values()].map((r) => r.node.status()))));
    },
  });
  onShutdown(() => store.close());
  log.info('store serving', { pid: process.pid, shards: store.replicas.size });
  announce({ event: 'ready', role: 'store', id, raft: store.transport.port, client: store.rpcPort, admin: store.adminPort, pid: process.pid, shards: store.replicas.size });
}
