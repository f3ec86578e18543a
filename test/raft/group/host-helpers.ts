// Shared pieces of the RaftHost tests: stores named s1..sN, each hosting one replica
// (member id `<group>-<store>`) of every group, over real TcpRaftTransports on 127.0.0.1
// (port 0) or one LoopRaftHub, with MemoryRaftStorage per group or, given `logDir`, one
// SharedLogDb (LevelDB) per store as in production.

import { join } from 'node:path';
import { RaftHost } from '../../../raft/group/host.js';
import type { RaftGroup } from '../../../raft/group/group.js';
import type { LogBudget } from '../../../raft/group/log-budget.js';
import { MemoryRaftStorage } from '../../../raft/storage/memory-storage.js';
import { SharedLogDb } from '../../../raft/storage/shared-log.js';
import { LoopRaftHub, type LoopRaftTransport } from '../../../raft/transport/loop-transport.js';
import { TcpRaftTransport } from '../../../raft/transport/tcp-transport.js';
import type { RaftTransport } from '../../../raft/transport/transport.js';
import type { NodeId, RaftConfig } from '../../../raft/types.js';
import { KvStateMachine } from './helpers.js';

/** Member `g7-s2` lives on store `s2`. */
export const storeOf = (member: NodeId): NodeId => member.slice(member.lastIndexOf('-') + 1);
export const memberOf = (groupId: string, store: string): NodeId => `${groupId}-${store}`;

export type Store<T extends RaftTransport = RaftTransport> = {
  id: string;
  transport: T;
  host: RaftHost;
  sms: Map<string, KvStateMachine>;
};

export type StoreCluster<T extends RaftTransport> = {
  stores: Store<T>[];
  groupIds: string[];
  /** The group's replica on `store`. */
  replica(groupId: string, store: string): RaftGroup | undefined;
  /** The store whose replica leads `groupId`, when every open replica agrees on one. */
  leaderStore(groupId: string): string | null;
  close(): Promise<void>;
};

type Options = {
  stores: number;
  groups: number;
  tickMs?: number;
  quiesce?: boolean;
  quiesceOn?: (store: string) => boolean;
  raftOn?: (store: string) => Partial<RaftConfig>;
  snapshotEveryEntries?: number;
  /** Store liveness timeout (default: the transports' default). */
  livenessTimeoutMs?: number;
  /** One SharedLogDb per store under this directory instead of memory storage. */
  logDir?: string;
  logBudget?: LogBudget;
  logBudgetSweepMs?: number;
};

export async function tcpStoreCluster(o: Options): Promise<StoreCluster<TcpRaftTransport>> {
  const secret = 'raft-host-test-secret';
  const ids = Array.from({ length: o.stores }, (_, i) => `s${i + 1}`);
  const transports: TcpRaftTransport[] = [];
  const liveness = o.livenessTimeoutMs !== undefined ? { livenessTimeoutMs: o.livenessTimeoutMs } : {};
  for (const id of ids) transports.push(await TcpRaftTransport.listen({ id, host: '127.0.0.1', port: 0, secret, peers: {}, route: storeOf, ...liveness }));
  for (const a of transports) for (const b of transports) if (a !== b) a.setPeer(b.id, { host: '127.0.0.1', port: b.port });
  return openStores(o, ids, transports);
}

export async function loopStoreCluster(o: Options): Promise<StoreCluster<LoopRaftTransport> & { hub: LoopRaftHub }> {
  const hub = new LoopRaftHub();
  const ids = Array.from({ length: o.stores }, (_, i) => `s${i + 1}`);
  const liveness = o.livenessTimeoutMs !== undefined ? { livenessTimeoutMs: o.livenessTimeoutMs } : {};
  const transports = ids.map((id) => hub.transport(id, { route: storeOf, ...liveness }));
  for (const a of transports) for (const b of transports) if (a !== b) a.setPeer(b.id);
  return { ...(await openStores(o, ids, transports)), hub };
}

async function openStores<T extends RaftTransport>(o: Options, ids: string[], transports: T[]): Promise<StoreCluster<T>> {
  const groupIds = Array.from({ length: o.groups }, (_, i) => `g${i}`);
  const stores: Store<T>[] = [];
  const closed = new Set<Store<T>>();
  const logs = new Map<string, SharedLogDb>();
  for (const [i, id] of ids.entries()) {
    const transport = transports[i]!;
    const storages = new Map<string, MemoryRaftStorage>();
    const log = o.logDir !== undefined ? await SharedLogDb.open(join(o.logDir, id)) : null;
    if (log !== null) logs.set(id, log);
    const host = new RaftHost({
      id,
      transport,
      storage: (g) => (log !== null ? log.group(g) : (storages.get(g) ?? storages.set(g, new MemoryRaftStorage()).get(g)!)),
      tickMs: o.tickMs ?? 10,
      quiesce: o.quiesceOn ? o.quiesceOn(id) : (o.quiesce ?? true),
      ...(o.raftOn ? { raft: o.raftOn(id) } : {}),
      ...(o.logBudget ? { logBudget: o.logBudget } : {}),
      ...(o.logBudgetSweepMs ? { logBudgetSweepMs: o.logBudgetSweepMs } : {}),
    });
    stores.push({ id, transport, host, sms: new Map() });
  }
  for (const s of stores) {
    for (const g of groupIds) {
      const sm = new KvStateMachine();
      s.sms.set(g, sm);
      await s.host.openGroup({ groupId: g, id: memberOf(g, s.id), initialConf: { voters: ids.map((x) => memberOf(g, x)), learners: [] }, stateMachine: sm, ...(o.snapshotEveryEntries ? { snapshotEveryEntries: o.snapshotEveryEntries } : {}) });
    }
  }
  const replica = (g: string, s: string) => stores.find((x) => x.id === s)?.host.groups.get(g);
  return {
    stores,
    groupIds,
    replica,
    leaderStore(g) {
      const open = stores.map((s) => s.host.groups.get(g)).filter((x): x is RaftGroup => x !== undefined);
      const leaders = open.filter((r) => r.isLeader());
      if (leaders.length !== 1) return null;
      const id = leaders[0]!.status().id;
      return open.every((r) => r.leader() === id) ? storeOf(id) : null;
    },
    async close() {
      for (const s of stores) {
        if (closed.has(s)) continue;
        closed.add(s);
        await s.host.close();
        await s.transport.close();
        await logs.get(s.id)?.close();
      }
    },
  };
}
