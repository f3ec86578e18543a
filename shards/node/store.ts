// ShardStore: one process hosting one replica of many shards (DESIGN.md "Multi-raft
// stores"). Per store, whatever the shard count: one LevelDB for every group's log (keys
// prefixed by group), one Raft transport with one connection per peer store, one host
// driving every group (one ticker, quiescence, store liveness), one client RPC listener,
// one admin REST, one metrics registry, one leader-duty timer. So three listeners: Raft,
// client and admin.
//
// The parts come in through `StoreParts` (store-parts.ts wires the real ones: the shared
// log, the TCP transport routing by store, the Raft host, the shard RPC server), so this
// file holds the composition and its order, and a test can see each part alone.
import assert from 'node:assert';
import { mkdirSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';
import { createAdminApp } from '../../common/admin.js';
import { findStore, hostPortOf, replicaStores, type ClusterConfig, type ReplicaConfig, type ShardConfig, type StoreConfig } from '../../common/config.js';
import type { Logger } from '../../common/logger.js';
import type { RaftGroup, StateMachine } from '../../raft/group/group.js';
import { logShares, type LogBudget } from '../../raft/group/log-budget.js';
import type { RaftStorage } from '../../raft/storage/storage.js';
import type { RaftTransport } from '../../raft/transport/transport.js';
import type { ConfState, RaftConfig, RaftStatus } from '../../raft/types.js';
import { ShardClient } from '../client/shard-client.js';
import { changeFeedCapacityFor } from '../change-feed.js';
import { storeLogEntriesInMemoryMax, storeOpenConcurrencyMax, storeSnapshotEveryEntriesMin } from '../limits.js';
import type { MemberPlacement } from '../types.js';
import { storeShardRoutes, type HostedReplica } from './admin-routes.js';
import { LeaderDutyTimer } from './duty-timer.js';
import { agentsByState } from './replica.js';
import { ShardMetricsRegistry } from './metrics.js';
import type { ShardService } from './rpc-server.js';
import { ShardNode } from './shard-node.js';
import { storeMetrics, storeStatus, type StoreFigures } from './store-status.js';

/** The store's shared log (raft/storage/shared-log.ts SharedLogDb). */
export interface StoreLog {
  group(groupId: string): RaftStorage;
  /** Writes, syncs and saves since start, for /v1/status and /metrics. */
  readonly stats: Readonly<Record<string, unknown>>;
  close(): Promise<void>;
}

/** The store's Raft host (raft/group/host.ts RaftHost): every group on one ticker. */
export interface StoreHost {
  openGroup(opts: Readonly<{ groupId: string; id: string; initialConf: ConfState; stateMachine: StateMachine; snapshotEveryEntries: number; logger: Logger; raft?: Partial<RaftConfig> }>): Promise<RaftGroup>;
  /** Groups quiesced, peer stores alive and the like, for /v1/status and /metrics. */
  stats(): Readonly<Record<string, unknown>>;
  /** The least and the most log entries a group may hold now (RaftHost.logShareRange). */
  logShareRange(): Readonly<{ min: number; max: number }> | null;
  close(): Promise<void>;
}

export type StoreTransport = RaftTransport & Readonly<{ port: number }>;

/** A listener of the store's client RPC (shards/node/rpc-server.ts). */
export type StoreRpc = Readonly<{ port: number; close(): Promise<void> }>;

export type StoreParts = Readonly<{
  openLog(dir: string): Promise<StoreLog>;
  /** The transport listening on the store's Raft address, `id` the store's, its peers the
   * other stores, `route` naming the store of any replica id. */
  listenTransport(o: Readonly<{ id: string; host: string; port: number; secret: string; peers: Record<string, { host: string; port: number }>; route: (replicaId: string) => string | undefined; log: Logger }>): Promise<StoreTransport>;
  createHost(o: Readonly<{ id: string; transport: StoreTransport; storage: (groupId: string) => RaftStorage; config: ClusterConfig; logBudget: LogBudget; log: Logger }>): StoreHost;
  listenRpc(o: Readonly<{ services: (shardId: string) => ShardService | undefined; storeId: string; host: string; port: number; secret: string; log: Logger }>): Promise<StoreRpc>;
}>;

export type ShardStoreOptions = Readonly<{
  config: ClusterConfig;
  storeId: string;
  parts: StoreParts;
  /** Per-replica loggers are children of it ({shard, replica}). */
  log: Logger;
  /** Listen on these instead of the store's addresses (port 0 in in-process tests). */
  listen?: Readonly<{ raft?: { host: string; port: number }; client?: { host: string; port: number }; admin?: { host: string; port: number } }>;
  listenAdmin: boolean;
  /** Routes of the floor above (the cluster view, /readyz), added before the app listens. */
  adminRoutes?: (app: FastifyInstance, store: ShardStore, viewClient: ShardClient) => Promise<void>;
  /** See ShardNodeOptions.onStorageFailure (default: exit 74). */
  onStorageFailure?: (err: Error) => void;
}>;

/** Runs `work` over `items` with at most `width` in flight: opening a group is a few
 * LevelDB reads, and a hundred of them one after the other is a hundred round trips
 * end to end, while all at once would queue every load behind every other. After a
 * failure no new item starts; it rejects with the first error once those in flight
 * settled, so the caller's clean-up sees everything that opened. */
async function inPool<T>(items: readonly T[], width: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failure: { err: unknown } | null = null;
  const lanes = Array.from({ length: Math.min(width, items.length) }, async () => {
    while (next < items.length && failure === null) {
      const item = items[next++]!;
      try {
        await work(item);
      } catch (err) {
        failure ??= { err };
      }
    }
  });
  await Promise.all(lanes);
  if (failure !== null) throw (failure as { err: unknown }).err;
}

/** The store's log budget (limits.ts says why): its groups share it by how busy each is
 * (raft/group/log-budget.ts). */
export const storeLogBudget: LogBudget = { entriesMax: storeLogEntriesInMemoryMax, groupEntriesMin: storeSnapshotEveryEntriesMin };

/** The snapshot interval of each group on a store hosting `groups` when none is busier
 * than another: the file's `configured` interval, or the share the host's log budget
 * gives each (logShares with equal rates) when that is less. */
export function snapshotEveryEntriesFor(groups: number, configured: number): number {
  assert(Number.isSafeInteger(groups) && groups >= 1, `a store hosts at least one group, got ${groups}`);
  return Math.min(configured, logShares(storeLogBudget, new Array<number>(groups).fill(0))[0]!);
}

export class ShardStore {
  readonly #replicas = new Map<string, HostedReplica>();
  #closing: Promise<void> | null = null;
  /** The store of every replica id: the cluster file's placement, then what the shards
   * placed over the REST (placeMember), which the file this store started with may not
   * name. Replica ids are unique in the cluster, so one table serves every group; the
   * transport reads it for every message. */
  readonly #routes = new Map<string, string>();
  /** The Raft address each placed store was last routed to. */
  readonly #placedStoreAddrs = new Map<string, string>();
  #rpc: StoreRpc | null = null;
  #app: FastifyInstance | null = null;
  #client: ShardClient | null = null;
  #viewClient: ShardClient | null = null;
  /** Each hosted replica's change-feed ring: the store's budget shared among its shards. */
  readonly #feedCapacity: number;

  private constructor(
    readonly config: ClusterConfig,
    readonly store: StoreConfig,
    readonly hosted: readonly { shard: ShardConfig; replica: ReplicaConfig }[],
    readonly log: StoreLog,
    readonly transport: StoreTransport,
    readonly host: StoreHost,
    readonly duties: LeaderDutyTimer,
    readonly metrics: ShardMetricsRegistry,
  ) {
    // start() refuses a store that hosts nothing, so each share divides by at least one.
    this.#feedCapacity = changeFeedCapacityFor(hosted.length);
  }

  get id(): string {
    return this.store.id;
  }

  /** The replica of `shardId` this store hosts, if any. */
  replica(shardId: string): HostedReplica | undefined {
    return this.#replicas.get(shardId);
  }

  /** Every hosted replica, by shard id. */
  get replicas(): ReadonlyMap<string, HostedReplica> {
    return this.#replicas;
  }

  /** What the client RPC serves for `shardId` (undefined: not hosted here). */
  serviceFor(shardId: string): ShardService | undefined {
    const r = this.#replicas.get(shardId);
    return r === undefined || r.node.failed ? undefined : r.node;
  }

  get rpcPort(): number {
    return this.#rpc?.port ?? 0;
  }

  get app(): FastifyInstance {
    if (this.#app === null) throw new Error(`store ${this.id} has no admin app yet`);
    return this.#app;
  }

  get adminPort(): number {
    const a = this.#app?.server.address();
    return typeof a === 'object' && a !== null ? a.port : 0;
  }

  get registry(): Registry {
    return this.metrics.registry;
  }

  /** Counts and stats for /v1/status, /metrics and /readyz. */
  figures(): StoreFigures {
    const statuses: RaftStatus[] = [];
    let records = 0;
    let entries = 0;
    for (const r of this.#replicas.values()) {
      const st = r.node.status();
      statuses.push(st);
      records += r.node.stateMachine.feedRecords;
      entries += st.lastIndex - st.snapshotIndex;
    }
    return {
      storeId: this.id, statuses, host: this.host.stats(), log: this.log.stats,
      changeFeed: { records, perShardMax: this.#feedCapacity },
      logInMemory: { entries, entriesMax: storeLogBudget.entriesMax, snapshotEveryEntries: this.#snapshotEveryRange() },
    };
  }

  /** The least and the most entries a group snapshots after now: its share of the log
   * budget, or the file's interval when that is less. */
  #snapshotEveryRange(): { min: number; max: number } {
    const file = this.config.raft.snapshotEveryEntries;
    const range = this.host.logShareRange();
    return range === null ? { min: file, max: file } : { min: Math.min(file, range.min), max: Math.min(file, range.max) };
  }

  static async start(opts: ShardStoreOptions): Promise<ShardStore> {
    const { config, parts } = opts;
    const { store, hosted } = findStore(config, opts.storeId);
    if (hosted.length === 0) throw new Error(`store ${store.id} hosts no replica in the cluster file`);
    // Filled from the file once the ShardStore exists; placements apply as groups open.
    let routes: ReadonlyMap<string, string> = new Map();
    const peers: Record<string, { host: string; port: number }> = {};
    for (const st of config.stores ?? []) if (st.id !== store.id) peers[st.id] = st.raft;
    mkdirSync(store.data, { recursive: true });
    const log = await parts.openLog(store.data);
    let transport: StoreTransport;
    try {
      const raftAddr = opts.listen?.raft ?? store.raft;
      transport = await parts.listenTransport({ id: store.id, host: raftAddr.host, port: raftAddr.port, secret: config.secret, peers, route: (replicaId) => routes.get(replicaId), log: opts.log });
    } catch (err) {
      await log.close().catch(() => {});
      throw err;
    }
    const host = parts.createHost({ id: store.id, transport, storage: (g) => log.group(g), config, logBudget: storeLogBudget, log: opts.log });
    const metrics = new ShardMetricsRegistry({ defaultLabels: { store: store.id } });
    const self = new ShardStore(config, store, hosted, log, transport, host, new LeaderDutyTimer(), metrics);
    for (const [replicaId, st] of replicaStores(config)) self.#routes.set(replicaId, st.id);
    routes = self.#routes;
    storeMetrics(metrics.registry, () => self.figures());
    try {
      await self.#openReplicas(opts);
      await self.#serve(opts);
      return self;
    } catch (err) {
      // Whatever opened or listens so far (groups, RPC, admin) closes with the rest.
      await self.close().catch(() => {});
      throw err;
    }
  }

  async #openReplicas(opts: ShardStoreOptions): Promise<void> {
    await inPool(this.hosted, storeOpenConcurrencyMax, async ({ shard, replica }) => {
      const log = opts.log.child({ shard: shard.id, replica: replica.id });
      let node: ShardNode | null = null;
      const metrics = this.metrics.add({ shard: shard.id, replica: replica.id }, () => node?.status() ?? null, () => (node !== null && node.group.isLeader() ? agentsByState(node) : null), () => node?.shardMapSkew() ?? null);
      node = await ShardNode.open({
        config: this.config,
        shard,
        replica,
        log,
        metrics,
        changeFeedMax: this.#feedCapacity,
        transport: this.transport,
        duties: this.duties,
        openGroup: (p) => this.host.openGroup({
          groupId: shard.id,
          id: replica.id,
          initialConf: p.initialConf,
          stateMachine: p.stateMachine,
          // The file's interval: the host's log budget may make it shorter (store.ts top).
          snapshotEveryEntries: this.config.raft.snapshotEveryEntries,
          logger: log,
          raft: { nowMs: p.nowMs },
        }),
        onPlacements: (placements) => this.#routePlaced(placements, log),
        ...(opts.onStorageFailure ? { onStorageFailure: opts.onStorageFailure } : {}),
      });
      this.#replicas.set(shard.id, { node, shard });
    });
    // Groups open several at a time and finish in any order; listings (/v1/status) follow
    // the cluster file's order, the same on every start.
    const opened = new Map(this.#replicas);
    this.#replicas.clear();
    for (const { shard } of this.hosted) {
      const r = opened.get(shard.id);
      if (r !== undefined) this.#replicas.set(shard.id, r);
    }
  }

  /** Routes the members a shard placed (placeMember) to their stores: a placement is the
   * shard's committed word, made by the operator who added the member, so it wins over
   * this store's cluster file, which may predate it. Replica ids are unique in the
   * cluster, so one table serves every group. */
  #routePlaced(placements: ReadonlyMap<string, MemberPlacement>, log: Logger): void {
    for (const p of placements.values()) {
      if (p.store === null) {
        log.warn('member placed as a stand-alone replica on a store-hosted shard: not routed', { member: p.replica });
        continue;
      }
      const was = this.#routes.get(p.replica);
      if (was !== p.store) {
        if (was !== undefined) log.warn('the shard placed a member on another store than this store routed it to; routing by the shard', { member: p.replica, store: p.store, was });
        this.#routes.set(p.replica, p.store);
      }
      if (p.store === this.id || this.#placedStoreAddrs.get(p.store) === p.raft) continue;
      // Checked when the placement was decoded (or restored from a snapshot).
      const addr = hostPortOf(p.raft);
      if (addr === null) continue;
      const before = this.#placedStoreAddrs.get(p.store);
      if (before !== undefined) log.warn('a store placed at another Raft address than before; routing to the latest', { store: p.store, raft: p.raft, was: before });
      this.#placedStoreAddrs.set(p.store, p.raft);
      this.transport.setPeer(p.store, addr);
    }
  }

  async #serve(opts: ShardStoreOptions): Promise<void> {
    const { config } = this;
    const clientAddr = opts.listen?.client ?? this.store.client;
    this.#rpc = await opts.parts.listenRpc({ services: (id) => this.serviceFor(id), storeId: this.id, host: clientAddr.host, port: clientAddr.port, secret: config.secret, log: opts.log });
    // Two principals, as on a stand-alone replica (replica.ts): the admin REST's writes go
    // as `admin` once its token was checked; the floor above's probes read as this store.
    this.#client = new ShardClient({ shards: config.shards, auth: { secret: config.secret, principal: 'admin' } });
    this.#viewClient = new ShardClient({ shards: config.shards, auth: { secret: config.secret, principal: `store:${this.id}` } });
    const app = await createAdminApp({ title: `Ringfence store ${this.id}`, tokens: config.tokens, registry: this.metrics.registry });
    this.#app = app;
    app.get('/v1/status', { schema: { summary: 'This store: its groups, those it leads, quiesced, peer stores alive, log stats, and a link to each shard', response: { 200: { type: 'object', additionalProperties: true } } } }, async () => storeStatus(this.figures(), [...this.#replicas.values()]));
    await app.register(storeShardRoutes, { storeId: this.id, hosted: this.#replicas, client: this.#client, config, log: opts.log });
    if (opts.adminRoutes !== undefined) await opts.adminRoutes(app, this, this.#viewClient);
    const adminAddr = opts.listen?.admin ?? this.store.admin;
    if (opts.listenAdmin) await app.listen({ host: adminAddr.host, port: adminAddr.port });
    else await app.ready();
  }

  /** Closes every hosted replica (and, through the host, its group and log view). A
   * group still opening when a sibling failed is closed by the host. */
  async #closeReplicas(): Promise<void> {
    const nodes = [...this.#replicas.values()].map((r) => r.node);
    for (const r of this.#replicas.values()) this.metrics.remove(r.shard.id);
    this.#replicas.clear();
    await Promise.all(nodes.map((n) => n.close()));
  }

  /** Stops serving (RPC and admin first, so nothing new arrives), closes every group,
   * then the host, the transport and the log. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#client?.close();
      this.#viewClient?.close();
      await this.#app?.close();
      await this.#rpc?.close();
      await this.#closeReplicas();
      await this.host.close();
      await this.transport.close();
      await this.log.close();
    })();
    return this.#closing;
  }
}
