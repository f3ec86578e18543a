// The real parts of a store (node/store.ts StoreParts): the shard RPC server serving
// every hosted shard on one listener, the Raft transport routing replica ids to stores,
// the shared log and the Raft host.
import { SharedLogDb } from '../../raft/storage/shared-log.js';
import { ShardRpcServer } from './rpc-server.js';
import type { StoreParts } from './store.js';

export const storeParts: StoreParts = {
  openLog: (dir) => SharedLogDb.open(dir),
  listenTransport: async () => {
    throw new Error('the store transport (route by store) is not merged yet');
  },
  createHost: () => {
    throw new Error('the Raft host (raft/group/host.ts) is not merged yet');
  },
  listenRpc: (o) => ShardRpcServer.listen({ services: o.services, replicaId: o.storeId, host: o.host, port: o.port, secret: o.secret, log: o.log }),
};
