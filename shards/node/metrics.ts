// Prometheus metrics of shard replicas. Raft figures are read at scrape time from each
// group's status, so they can never drift from the truth; event counts are counters.
//
// One registry serves every replica a process hosts (a store hosts one replica of many
// shards, DESIGN.md "Multi-raft stores"): each family is registered once with the labels
// `shard` and `replica`, and each hosted replica is a member whose series carry its own
// pair. A stand-alone replica is the one-member case, its registry's default labels the
// same pair, so its output is what it always was.
//
// Agents by state (`ringfence_agents{state}`) come from the shard's LEADER only: every
// replica holds the same agents, so a follower exporting them too would count each agent
// three times in a sum. A follower exports the family with no samples; after a failover
// the new leader's series take over. `sum by (state) (ringfence_agents)` is the cluster.
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { collectProcessMetrics } from '../../common/process-metrics.js';
import type { RaftStatus, Role } from '../../raft/types.js';
import { agentStateNames, type AgentStateName } from '../types.js';

/** Agents by state as the leader sees them, or null on a follower (see the header). */
export type AgentsByState = () => Readonly<Record<AgentStateName, number>> | null;

export type ReplicaLabels = Readonly<{ shard: string; replica: string }>;

type Member = Readonly<{
  labels: ReplicaLabels;
  status: () => RaftStatus | null;
  agentsByState: AgentsByState;
  shardMapSkew: () => boolean | null;
}>;

/** The metric families of every hosted replica, in one registry. */
export class ShardMetricsRegistry {
  readonly registry: Registry;
  readonly #members = new Map<string, Member>();
  readonly proposals: Counter<'shard' | 'replica'>;
  readonly expired: Counter<'shard' | 'replica'>;
  readonly handoffs: Counter<'shard' | 'replica' | 'outcome'>;
  readonly reservations: Counter<'shard' | 'replica' | 'outcome' | 'reason'>;
  readonly applyLatency: Histogram<'shard' | 'replica'>;
  readonly leaderChanges: Counter<'shard' | 'replica'>;

  /** `registry`: a process-wide one to add the families to (with its process metrics
   * already collected); absent, a new one with the process metrics. */
  constructor(opts: { registry?: Registry; defaultLabels?: Readonly<Record<string, string>> } = {}) {
    const r = opts.registry ?? new Registry();
    this.registry = r;
    if (opts.defaultLabels !== undefined) r.setDefaultLabels({ ...opts.defaultLabels });
    if (opts.registry === undefined) collectProcessMetrics(r);
    const labelNames = ['shard', 'replica'] as const;
    this.proposals = new Counter({ name: 'ringfence_raft_proposals_total', help: 'Commands proposed through this replica', labelNames, registers: [r] });
    this.expired = new Counter({ name: 'ringfence_reservations_expired_total', help: 'Reservations expired by this leader after their TTL', labelNames, registers: [r] });
    this.handoffs = new Counter({ name: 'ringfence_raft_preferred_handoffs_total', help: 'Leadership transfers this replica started to its shard\'s preferred leader, by outcome', labelNames: ['outcome', ...labelNames], registers: [r] });
    this.reservations = new Counter({ name: 'ringfence_reservations_total', help: 'Reserve commands applied, by outcome and denial reason', labelNames: ['outcome', 'reason', ...labelNames], registers: [r] });
    this.applyLatency = new Histogram({ name: 'ringfence_apply_seconds', help: 'Time to apply one committed entry', labelNames, buckets: [1e-6, 1e-5, 5e-5, 1e-4, 5e-4, 1e-3, 5e-3, 0.01], registers: [r] });
    this.leaderChanges = new Counter({ name: 'ringfence_raft_leader_changes_total', help: 'Leader changes seen by this replica', labelNames, registers: [r] });
    const members = this.#members;
    const gauge = (name: string, help: string, pick: (s: RaftStatus) => number): void => {
      new Gauge({
        name, help, labelNames, registers: [r],
        collect() {
          this.reset();
          for (const m of members.values()) {
            const s = m.status();
            if (s) this.set({ ...m.labels }, pick(s));
          }
        },
      });
    };
    gauge('ringfence_raft_term', 'Current Raft term', (s) => s.term);
    gauge('ringfence_raft_commit_index', 'Highest committed log index', (s) => s.commit);
    gauge('ringfence_raft_applied_index', 'Highest applied log index', (s) => s.applied);
    gauge('ringfence_raft_is_leader', '1 when this replica leads its shard', (s) => (s.role === 'leader' ? 1 : 0));
    // Replicas of one shard whose cluster files list different shards: the replicated map
    // follows whichever leads, and flips when leadership moves. Alert on any 1.
    new Gauge({
      name: 'ringfence_shard_map_file_skew',
      help: '1 when this replica\'s cluster file lists other shards than its shard\'s replicated map (fix the files), 0 when they agree',
      labelNames,
      registers: [r],
      collect() {
        this.reset();
        for (const m of members.values()) {
          const skew = m.shardMapSkew();
          if (skew !== null) this.set({ ...m.labels }, skew ? 1 : 0);
        }
      },
    });
    new Gauge({
      name: 'ringfence_agents',
      help: 'Agents of this shard by state, exported by the shard\'s leader only (sum by state for the cluster)',
      labelNames: ['state', ...labelNames],
      registers: [r],
      collect() {
        this.reset();
        for (const m of members.values()) {
          const counts = m.agentsByState();
          if (counts === null) continue;
          for (const state of agentStateNames) this.set({ state, ...m.labels }, counts[state]);
        }
      },
    });
  }

  /** Adds a hosted replica; its counters start at 0 so every series exists from the start. */
  add(labels: ReplicaLabels, status: () => RaftStatus | null, agentsByState: AgentsByState = () => null, shardMapSkew: () => boolean | null = () => null): ShardMetrics {
    if (this.#members.has(labels.shard)) throw new Error(`shard ${labels.shard} already has a replica in this registry`);
    const l = { shard: labels.shard, replica: labels.replica };
    this.#members.set(labels.shard, { labels: l, status, agentsByState, shardMapSkew });
    this.proposals.inc(l, 0);
    this.expired.inc(l, 0);
    this.leaderChanges.inc(l, 0);
    return new ShardMetrics(this, l);
  }

  /** Drops a replica's scrape-time series (its counters stay until the process ends). */
  remove(shardId: string): void {
    this.#members.delete(shardId);
  }

  get size(): number {
    return this.#members.size;
  }
}

/** One replica's handle on its families (labels bound). Constructed stand-alone, it owns
 * a registry of its own with the process metrics, labelled `shard` and `replica`. */
export class ShardMetrics {
  readonly registry: Registry;
  readonly proposals: { inc(): void };
  readonly expired: { inc(): void };
  readonly handoffs: { inc(labels: { outcome: string }): void };
  readonly #families: ShardMetricsRegistry;
  readonly #labels: ReplicaLabels;
  #lastLeader: string | null = null;

  constructor(labels: ReplicaLabels, status: () => RaftStatus | null, agentsByState?: AgentsByState, shardMapSkew?: () => boolean | null);
  constructor(families: ShardMetricsRegistry, labels: ReplicaLabels);
  constructor(a: ShardMetricsRegistry | ReplicaLabels, b: ReplicaLabels | (() => RaftStatus | null), agentsByState?: AgentsByState, shardMapSkew?: () => boolean | null) {
    let families: ShardMetricsRegistry;
    let labels: ReplicaLabels;
    if (a instanceof ShardMetricsRegistry) {
      families = a;
      labels = b as ReplicaLabels;
    } else {
      families = new ShardMetricsRegistry({ defaultLabels: { shard: a.shard, replica: a.replica } });
      labels = a;
      families.add(a, b as () => RaftStatus | null, agentsByState, shardMapSkew);
    }
    this.#families = families;
    this.#labels = labels;
    this.registry = families.registry;
    const l = { shard: labels.shard, replica: labels.replica };
    this.proposals = { inc: () => families.proposals.inc(l) };
    this.expired = { inc: () => families.expired.inc(l) };
    this.handoffs = { inc: (o) => families.handoffs.inc({ outcome: o.outcome, ...l }) };
  }

  get labels(): ReplicaLabels {
    return this.#labels;
  }

  observeApply(ms: number): void {
    // The labels object itself, not a fresh spread per applied entry: prom-client only
    // reads it (validates, hashes), and it is this replica's, fixed.
    this.#families.applyLatency.observe(this.#labels, ms / 1000);
  }

  /** Counted where the reserve was proposed, from the result the proposer got back. */
  observeReserve(result: unknown): void {
    const r = result as { ok?: boolean; code?: string } | undefined;
    if (r?.ok === true) this.#families.reservations.inc({ outcome: 'granted', reason: '', ...this.#labels });
    else if (r?.ok === false) this.#families.reservations.inc({ outcome: 'denied', reason: (r.code ?? 'UNKNOWN').replace(/^SHARD_ERR_(AGENT_)?/, ''), ...this.#labels });
  }

  role(_role: Role, leader: string | null): void {
    if (leader !== this.#lastLeader && leader !== null) this.#families.leaderChanges.inc({ ...this.#labels });
    this.#lastLeader = leader;
  }
}
