// Prometheus metrics of a shard replica. Raft figures are read at scrape time from the
// group's status, so they can never drift from the truth; event counts are counters.
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

export class ShardMetrics {
  readonly registry = new Registry();
  readonly proposals: Counter;
  readonly expired: Counter;
  readonly handoffs: Counter<'outcome'>;
  readonly #reservations: Counter<'outcome' | 'reason'>;
  readonly #applyLatency: Histogram;
  readonly #leaderChanges: Counter;
  #lastLeader: string | null = null;

  constructor(labels: { shard: string; replica: string }, status: () => RaftStatus | null, agentsByState: AgentsByState = () => null, shardMapSkew: () => boolean | null = () => null) {
    this.registry.setDefaultLabels(labels);
    collectProcessMetrics(this.registry);
    const r = this.registry;
    this.proposals = new Counter({ name: 'ringfence_raft_proposals_total', help: 'Commands proposed through this replica', registers: [r] });
    this.expired = new Counter({ name: 'ringfence_reservations_expired_total', help: 'Reservations expired by this leader after their TTL', registers: [r] });
    this.handoffs = new Counter({ name: 'ringfence_raft_preferred_handoffs_total', help: 'Leadership transfers this replica started to its shard\'s preferred leader, by outcome', labelNames: ['outcome'], registers: [r] });
    this.#reservations = new Counter({ name: 'ringfence_reservations_total', help: 'Reserve commands applied, by outcome and denial reason', labelNames: ['outcome', 'reason'], registers: [r] });
    this.#applyLatency = new Histogram({ name: 'ringfence_apply_seconds', help: 'Time to apply one committed entry', buckets: [1e-6, 1e-5, 5e-5, 1e-4, 5e-4, 1e-3, 5e-3, 0.01], registers: [r] });
    this.#leaderChanges = new Counter({ name: 'ringfence_raft_leader_changes_total', help: 'Leader changes seen by this replica', registers: [r] });
    const gauge = (name: string, help: string, pick: (s: RaftStatus) => number): void => {
      new Gauge({ name, help, registers: [r], collect() { const s = status(); if (s) this.set(pick(s)); } });
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
      registers: [r],
      collect() {
        this.reset();
        const skew = shardMapSkew();
        if (skew !== null) this.set(skew ? 1 : 0);
      },
    });
    new Gauge({
      name: 'ringfence_agents',
      help: 'Agents of this shard by state, exported by the shard\'s leader only (sum by state for the cluster)',
      labelNames: ['state'],
      registers: [r],
      collect() {
        this.reset();
        const counts = agentsByState();
        if (counts === null) return;
        for (const state of agentStateNames) this.set({ state }, counts[state]);
      },
    });
  }

  observeApply(ms: number): void {
    this.#applyLatency.observe(ms / 1000);
  }

  /** Counted where the reserve was proposed, from the result the proposer got back. */
  observeReserve(result: unknown): void {
    const r = result as { ok?: boolean; code?: string } | undefined;
    if (r?.ok === true) this.#reservations.inc({ outcome: 'granted', reason: '' });
    else if (r?.ok === false) this.#reservations.inc({ outcome: 'denied', reason: (r.code ?? 'UNKNOWN').replace(/^SHARD_ERR_(AGENT_)?/, '') });
  }

  role(_role: Role, leader: string | null): void {
    if (leader !== this.#lastLeader && leader !== null) this.#leaderChanges.inc();
    this.#lastLeader = leader;
  }
}
