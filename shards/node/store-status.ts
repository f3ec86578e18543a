// What a store says about itself: GET /v1/status (the store, with a link to each shard's
// own status) and its store-level Prometheus series (labelled `store` by the registry's
// default label). Read at request and scrape time from the groups' statuses and the
// host's and log's stats, so they never drift from the truth.
import { getHeapStatistics } from 'node:v8';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { RaftStatus } from '../../raft/types.js';
import type { HostedReplica } from './admin-routes.js';

export type StoreFigures = Readonly<{
  storeId: string;
  /** One per hosted replica, in the store's order of them (storeStatus pairs them up). */
  statuses: readonly RaftStatus[];
  /** RaftHost.stats(): groups quiesced, peer stores alive, … */
  host: Readonly<Record<string, unknown>>;
  /** SharedLogDb.stats: writes, syncs, saves, … */
  log: Readonly<Record<string, unknown>>;
  /** Change records held for feeds by every hosted replica together, and what each
   * replica's ring may hold (the store's budget shared among its shards). */
  changeFeed: Readonly<{ records: number; perShardMax: number }>;
  /** Raft log entries every hosted group holds in memory (those since its last snapshot),
   * what they may hold together (the store's log budget), and the least and the most
   * entries a group snapshots after now (its share of the budget, by how busy it is). */
  logInMemory: Readonly<{ entries: number; entriesMax: number; snapshotEveryEntries: Readonly<{ min: number; max: number }> }>;
}>;

/** The first finite number among `names` of `o` (the stats objects name them so). */
export function figure(o: Readonly<Record<string, unknown>>, ...names: string[]): number | null {
  for (const n of names) {
    const v = o[n];
    if (typeof v === 'number' && Number.isFinite(v)) return v;
  }
  return null;
}

/** Peer stores the host hears from now, by id (empty when it reports none). */
export function peersAlive(host: Readonly<Record<string, unknown>>): string[] {
  const v = host.peerStoresAlive ?? host.peersAlive;
  if (Array.isArray(v)) return v.filter((x): x is string => typeof x === 'string');
  if (v !== null && typeof v === 'object') return Object.entries(v).filter(([, alive]) => alive === true).map(([id]) => id);
  return [];
}

export function quiescedGroups(host: Readonly<Record<string, unknown>>): number | null {
  return figure(host, 'quiesced', 'groupsQuiesced', 'quiescedGroups');
}

export function storeStatus(f: StoreFigures, replicas: readonly HostedReplica[]): Record<string, unknown> {
  const leading = f.statuses.filter((s) => s.role === 'leader').length;
  return {
    store: f.storeId,
    pid: process.pid,
    // V8's heap limit, which sets how far the heap grows under load (cluster/limits.ts
    // storeOldSpaceMbMax): a store started without the limit shows it here.
    heapLimitMb: Math.round(getHeapStatistics().heap_size_limit / 2 ** 20),
    groups: f.statuses.length,
    leading,
    withLeader: f.statuses.filter((s) => s.leader !== null).length,
    quiesced: quiescedGroups(f.host),
    peersAlive: peersAlive(f.host),
    host: f.host,
    log: f.log,
    changeFeed: f.changeFeed,
    logInMemory: f.logInMemory,
    // `replicas` in the order figures() walked them: each status is built once.
    shards: replicas.map(({ node, shard }, i) => {
      const s = f.statuses[i]!;
      return { id: shard.id, replica: node.replicaId, role: s.role, leader: s.leader, term: s.term, commit: s.commit, applied: s.applied, lastIndex: s.lastIndex, failed: s.failed, status: `/v1/shards/${encodeURIComponent(shard.id)}/status` };
    }),
  };
}

/** Store-level series; a counter here mirrors a running total kept by the log. */
export function storeMetrics(r: Registry, walk: () => StoreFigures): void {
  // Every series below reads the same figures, and a scrape collects them all in one
  // event-loop turn: the hosted replicas are walked once per scrape, not once per series.
  let current: StoreFigures | null = null;
  const figures = (): StoreFigures => {
    if (current === null) {
      current = walk();
      setImmediate(() => (current = null));
    }
    return current;
  };
  new Gauge({ name: 'ringfence_store_groups', help: 'Raft groups (shard replicas) this store hosts', registers: [r], collect() { this.set(figures().statuses.length); } });
  new Gauge({ name: 'ringfence_store_groups_leading', help: 'Groups this store leads', registers: [r], collect() { this.set(figures().statuses.filter((s) => s.role === 'leader').length); } });
  new Gauge({
    name: 'ringfence_store_groups_quiesced', help: 'Groups of this store that stopped ticking (quiesced)', registers: [r],
    collect() {
      this.reset();
      const q = quiescedGroups(figures().host);
      if (q !== null) this.set(q);
    },
  });
  new Gauge({ name: 'ringfence_store_log_entries_in_memory', help: 'Raft log entries this store\'s groups hold in memory together (those since each group\'s last snapshot)', registers: [r], collect() { this.set(figures().logInMemory.entries); } });
  new Gauge({ name: 'ringfence_store_feed_records', help: 'Change records this store holds for feeds, all shards together (at most ringfence_store_groups × its per-shard share)', registers: [r], collect() { this.set(figures().changeFeed.records); } });
  new Gauge({ name: 'ringfence_store_peers_alive', help: 'Peer stores whose liveness pings this store hears', registers: [r], collect() { this.set(peersAlive(figures().host).length); } });
  const mirrored = (name: string, help: string, names: string[]): void => {
    new Counter({
      name, help, registers: [r],
      collect() {
        const v = figure(figures().log, ...names);
        this.reset();
        if (v !== null) this.inc(v);
      },
    });
  };
  mirrored('ringfence_store_log_writes_total', 'Batches this store wrote to its shared log (one per event-loop turn with anything to write)', ['writes', 'batches']);
  mirrored('ringfence_store_log_syncs_total', 'fsyncs of this store\'s shared log', ['syncs', 'fsyncs']);
  mirrored('ringfence_store_log_saves_total', 'Group saves (entries or hard states of one group) gathered into the shared log\'s batches', ['saves']);
  mirrored('ringfence_store_log_ops_total', 'Key puts and deletes in the shared log\'s batches (log compaction\'s range deletes not counted)', ['ops']);
}
