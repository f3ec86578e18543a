// Composes one shard replica: the Raft-backed ShardNode, its client RPC server, the shard
// clients it talks to the shard's leader with, and the admin REST app. `main.ts` runs it
// as a process; tests run it in-process and drive the admin app with inject().
//
// Two shard clients, two principals (shards/rpc/policy.ts): the admin REST's writes, made
// once the admin bearer token has been checked, go to the leader as `admin`; the routes of
// the floor above (the cluster view's status probes) get a client that authenticates as
// `replica:<id>`, which may only read.
import type { FastifyInstance } from 'fastify';
import { createAdminApp } from '../../common/admin.js';
import type { ClusterConfig, ReplicaConfig, ShardConfig } from '../../common/config.js';
import type { Logger } from '../../common/logger.js';
import { ShardClient } from '../client/shard-client.js';
import { shardAdminRoutes } from './admin-routes.js';
import type { LeaderDutyTimer } from './duty-timer.js';
import { ShardMetrics } from './metrics.js';
import { ShardRpcServer } from './rpc-server.js';
import { ShardNode } from './shard-node.js';
import { agentStateNames, type AgentStateName } from '../types.js';

export type ShardReplica = Readonly<{
  node: ShardNode;
  rpc: ShardRpcServer;
  /** The admin REST's client (principal `admin`). */
  client: ShardClient;
  /** The replica's own read-only client (principal `replica:<id>`), given to `adminRoutes`. */
  viewClient: ShardClient;
  app: FastifyInstance;
  metrics: ShardMetrics;
  close(): Promise<void>;
}>;

export type ShardReplicaOptions = Readonly<{
  config: ClusterConfig;
  shard: ShardConfig;
  replica: ReplicaConfig;
  log: Logger;
  listenAdmin: boolean;
  /** Routes of the floor above (the cluster view), added to the admin app before it
   * listens: the replica knows nothing of what watches the whole cluster. */
  adminRoutes?: (app: FastifyInstance, client: ShardClient) => Promise<void>;
  /** The process's one leader-duty timer when it hosts several replicas. */
  duties?: LeaderDutyTimer;
}>;

/** Every state with its count of this replica's agents (timers settled at the last entry). */
export function agentsByState(node: ShardNode): Record<AgentStateName, number> {
  const counts = Object.fromEntries(agentStateNames.map((s) => [s, 0])) as Record<AgentStateName, number>;
  for (const a of node.stateMachine.listAgents()) counts[a.status.state]++;
  return counts;
}

export async function startShardReplica(opts: ShardReplicaOptions): Promise<ShardReplica> {
  const { config, shard, replica, log } = opts;
  let node: ShardNode | null = null;
  const metrics = new ShardMetrics({ shard: shard.id, replica: replica.id }, () => node?.status() ?? null, () => (node !== null && node.group.isLeader() ? agentsByState(node) : null), () => node?.shardMapSkew() ?? null);
  node = await ShardNode.start({ config, shard, replica, log, metrics, ...(opts.duties ? { duties: opts.duties } : {}) });
  const started = node;
  const rpc = await ShardRpcServer.listen({ service: started, host: replica.client.host, port: replica.client.port, log, secret: config.secret, replicaId: replica.id });
  const client = new ShardClient({ shards: config.shards, auth: { secret: config.secret, principal: 'admin' } });
  const viewClient = new ShardClient({ shards: config.shards, auth: { secret: config.secret, principal: `replica:${replica.id}` } });
  const app = await createAdminApp({ title: `Ringfence shard ${shard.id} replica ${replica.id}`, tokens: config.tokens, registry: metrics.registry });
  await app.register(shardAdminRoutes, { node: started, client, config, shard, log });
  if (opts.adminRoutes !== undefined) await opts.adminRoutes(app, viewClient);
  if (opts.listenAdmin) await app.listen({ host: replica.admin.host, port: replica.admin.port });
  else await app.ready();
  return {
    node: started,
    rpc,
    client,
    viewClient,
    app,
    metrics,
    async close() {
      client.close();
      viewClient.close();
      await app.close();
      await rpc.close();
      await started.close();
    },
  };
}
