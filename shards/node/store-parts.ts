// The real parts of a store (node/store.ts StoreParts): the shared log (one LevelDB), the
// Raft transport routing every replica id to its store (one connection per peer store,
// liveness pings), the Raft host driving every group on one ticker with quiescence, and
// the shard RPC server serving every hosted shard on one listener.
import { RaftHost } from '../../raft/group/host.js';
import { SharedLogDb } from '../../raft/storage/shared-log.js';
import { TcpRaftTransport } from '../../raft/transport/tcp-transport.js';
import { ShardRpcServer } from './rpc-server.js';
import type { StoreParts } from './store.js';

export const storeParts: StoreParts = {
  openLog: (dir) => SharedLogDb.open(dir),
  // A replica id the cluster file places on no store is routed to itself: the transport
  // then knows no such peer and drops the message, as it does any unroutable one.
  listenTransport: (o) => TcpRaftTransport.listen({ id: o.id, host: o.host, port: o.port, secret: o.secret, peers: o.peers, route: (replicaId) => o.route(replicaId) ?? replicaId, logger: o.log }),
  createHost: (o) => new RaftHost({
    id: o.id,
    transport: o.transport,
    storage: o.storage,
    tickMs: o.config.raft.tickMs,
    logBudget: o.logBudget,
    raft: { electionTimeoutTicks: o.config.raft.electionTimeoutTicks, heartbeatTicks: o.config.raft.heartbeatTicks },
    logger: o.log,
  }),
  listenRpc: (o) => ShardRpcServer.listen({ services: o.services, replicaId: o.storeId, host: o.host, port: o.port, secret: o.secret, log: o.log }),
};
