// `ringfence shard --config cluster.yaml --id s1-a`: one replica of one DN shard as a
// process. `--id s1-a,s2-a` hosts one replica of each of several shards in one process,
// the layout of the README's 3-host example (each host runs a replica of every shard):
// the replicas share the process's event loop and heap, and cost less CPU (see
// bench/calls.ts) and memory than one process each. Each keeps its own ports, data directory and Raft
// group, and a kill takes out one replica of each shard it hosts, never a quorum.
// Prints one JSON line `{"event":"ready",...}` on stdout once every replica serves.
import { announce, onShutdown, parseFlags, requireFlag, UsageError } from '../../common/args.js';
import { clusterFileExposure, findReplica, loadClusterConfig, type ClusterConfig, type ReplicaConfig, type ShardConfig } from '../../common/config.js';
import { healthRoutes } from '../../common/admin.js';
import { createLogger } from '../../common/logger.js';
import { LeaderDutyTimer } from '../../shards/node/duty-timer.js';
import { startShardReplica, type ShardReplica } from '../../shards/node/replica.js';
import { clusterViewRoutes } from '../cluster-view.js';
import { coalesced, probeReplica } from '../readiness.js';

export const flags = {
  config: { type: 'string', help: 'cluster file (YAML)' },
  id: { type: 'string', help: 'the replica id, as named in the cluster file; several, comma-separated, host one replica of each of several shards' },
  data: { type: 'string', help: 'data directory (overrides the cluster file; one replica only)' },
} as const;

type Hosted = { shard: ShardConfig; replica: ReplicaConfig };

/** The replicas one process hosts: named in the cluster file, each once, and at most one
 * per shard — two replicas of a shard in one process would let one kill take a quorum. */
export function hostedReplicas(config: ClusterConfig, idFlag: string, dataFlag: string | undefined): Hosted[] {
  const ids = idFlag.split(',').map((s) => s.trim());
  if (ids.some((id) => id === '')) throw new UsageError(`--id has an empty replica id: ${JSON.stringify(idFlag)}`);
  const hosted: Hosted[] = [];
  for (const id of ids) {
    const found = findReplica(config, id);
    // Its data directory is the store's one LevelDB, shared by every group the store hosts.
    if (found.replica.store !== undefined) throw new UsageError(`--id: replica ${id} lives on store ${found.replica.store}; run \`ringfence store --id ${found.replica.store}\`, which hosts it with the store's other replicas`);
    const sameShard = hosted.find((h) => h.shard.id === found.shard.id);
    if (sameShard) {
      throw new UsageError(sameShard.replica.id === id
        ? `--id names replica ${id} twice`
        : `--id names two replicas of shard ${found.shard.id} (${sameShard.replica.id} and ${id}); a process hosts at most one replica of a shard, or one kill could take its quorum`);
    }
    hosted.push(found);
  }
  if (dataFlag !== undefined) {
    if (hosted.length > 1) throw new UsageError('--data names one data directory, but --id names several replicas; set each one\'s data in the cluster file');
    hosted[0] = { ...hosted[0]!, replica: { ...hosted[0]!.replica, data: dataFlag } };
  }
  return hosted;
}

export async function main(argv: string[]): Promise<void> {
  const f = parseFlags(argv, flags, 'usage: ringfence shard --config cluster.yaml --id <replica>[,<replica of another shard>...]');
  const configPath = requireFlag(f.config, 'config');
  const config = loadClusterConfig(configPath);
  const hosted = hostedReplicas(config, requireFlag(f.id, 'id'), f.data);
  const exposure = clusterFileExposure(configPath);
  if (exposure !== null) createLogger({ role: 'shard' }).warn(exposure);
  const started: ShardReplica[] = [];
  // One duty timer for the process, however many of its replicas lead (duty-timer.ts).
  const duties = new LeaderDutyTimer();
  const closeAll = async (): Promise<void> => {
    for (const r of started.splice(0).reverse()) await r.close();
  };
  try {
    // One at a time: each opens its LevelDB and binds its ports, and a failure part way
    // closes the ones already serving before the process exits.
    for (const h of hosted) {
      const log = createLogger({ role: 'shard', shard: h.shard.id, replica: h.replica.id });
      const self = { role: 'shard', id: h.replica.id } as const;
      // Set once the replica has started; its admin app (and /readyz) listens just before.
      let replica: ShardReplica | null = null;
      replica = await startShardReplica({
        config, shard: h.shard, replica: h.replica, log, listenAdmin: true, duties,
        adminRoutes: async (app, shardClient) => {
          await app.register(clusterViewRoutes, { config, self, shardClient });
          healthRoutes(app, coalesced(async () => (replica === null
            ? { started: { ok: false, detail: 'the replica is still starting' } }
            : probeReplica(() => replica!.node.status(), h.shard.id, shardClient))));
        },
      });
      started.push(replica);
      log.info('shard replica serving', { pid: process.pid });
    }
  } catch (err) {
    await closeAll();
    throw err;
  }
  onShutdown(closeAll);
  const replicas = started.map((r, i) => {
    const adminAddr = r.app.server.address();
    return { shard: hosted[i]!.shard.id, id: hosted[i]!.replica.id, raft: r.node.transport.port, client: r.rpc.port, admin: typeof adminAddr === 'object' && adminAddr ? adminAddr.port : 0 };
  });
  // The first replica's fields stay at the top level, as a one-replica process prints them.
  announce({ event: 'ready', role: 'shard', ...replicas[0]!, pid: process.pid, replicas });
}
