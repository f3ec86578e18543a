// What the dashboard shows, gathered once per poll: the cluster view (ClusterProbe), the
// agents of every shard (stale reads: any replica answers, so the table keeps updating
// while a shard elects a leader), the SIP nodes' calls and queues, reservations/s from
// the change feeds, and failovers from leader changes between polls.
//
// Agent credentials (digest HA1 hashes) and contacts never leave this file: a snapshot
// carries only what an operator's screen needs.
import { ClusterProbe, getJson, type ClusterView, type ClusterViewOptions, type SipCall } from '../cluster-view.js';
import { serviceDefinition } from '../../common/config.js';
import { addFigures, emptyFigures, type ServiceFigures } from '../../sip/node/service-stats.js';
import type { Agent, AgentStateName } from '../../shards/types.js';
import { agentStateNames } from '../../shards/types.js';
import { FailoverTracker, type Failover } from './failover-tracker.js';
import { agentReadDeadlineMs, agentsListedMax, servicesListedMax } from './limits.js';
import { ReservationMeter } from './reservation-meter.js';

export type AgentRow = Readonly<{
  dn: string;
  name: string;
  shard: string;
  state: AgentStateName;
  /** NOT_READY reason, or the call id of a RESERVED/BUSY agent. */
  detail: string | null;
  /** Since when the agent has been READY (ms since the epoch), for the longest-idle order. */
  readySinceMs: number | null;
  callsAnswered: number;
}>;

export type Snapshot = Readonly<{
  seq: number;
  generatedAt: string;
  cluster: ClusterView;
  agents: Readonly<{
    counts: Readonly<Record<AgentStateName, number>>;
    total: number;
    list: readonly AgentRow[];
    truncated: boolean;
    /** Shards whose read failed this poll: their agents are from an earlier poll. */
    staleShards: readonly string[];
  }>;
  calls: readonly SipCall[];
  queue: readonly SipCall[];
  reservations: Readonly<{ perSecond: number; total: number; history: readonly number[] }>;
  failovers: Readonly<{ count: number; recent: readonly (Failover & { at: string })[] }>;
  /** Per service, the service-level figures since each SIP node started, summed over the
   * SIP nodes that answered (sip/node/service-stats.ts); `partial`: those that did not. */
  services: readonly ServiceRow[];
}>;

export type ServiceRow = Readonly<ServiceFigures & { service: string; serviceLevelMs: number; partial: readonly string[] }>;

function rowOf(a: Agent, shard: string): AgentRow {
  const s = a.status;
  const detail = s.state === 'NOT_READY' ? s.reason : s.state === 'RESERVED' || s.state === 'BUSY' ? s.reservation.callId : null;
  return {
    dn: a.dn,
    name: a.name,
    shard,
    state: s.state,
    detail,
    // Floored: entries written before the replica clock gave whole milliseconds carry fractions.
    readySinceMs: s.state === 'READY' || s.state === 'RESERVED' ? Math.floor(s.readySinceMs) : null,
    callsAnswered: a.counters.callsAnswered,
  };
}

export class SnapshotSource {
  readonly #opts: ClusterViewOptions;
  readonly #probe: ClusterProbe;
  readonly #failovers = new FailoverTracker();
  readonly #meter = new ReservationMeter();
  readonly #agentsByShard = new Map<string, AgentRow[]>();
  readonly #feeds = new Map<string, () => void>();
  #seq = 0;

  constructor(opts: ClusterViewOptions) {
    this.#opts = opts;
    this.#probe = new ClusterProbe(opts);
  }

  async collect(): Promise<Snapshot> {
    const [{ view, sipDetails }, staleShards, services] = await Promise.all([this.#probe.collect(), this.#readAgents(), this.#readServices()]);
    const now = Date.now();
    this.#failovers.observe(view.shards.map((s) => ({ id: s.id, leader: s.leader, term: s.term })), now);
    this.#followFeeds(view);
    const rate = this.#meter.sample(now);
    const all = [...this.#agentsByShard.values()].flat().sort((a, b) => (a.dn.length - b.dn.length) || (a.dn < b.dn ? -1 : a.dn > b.dn ? 1 : 0));
    const counts = Object.fromEntries(agentStateNames.map((n) => [n, 0])) as Record<AgentStateName, number>;
    for (const a of all) counts[a.state]++;
    return {
      seq: ++this.#seq,
      generatedAt: new Date(now).toISOString(),
      cluster: view,
      agents: { counts, total: all.length, list: all.slice(0, agentsListedMax), truncated: all.length > agentsListedMax, staleShards },
      calls: sipDetails.flatMap((d) => d.calls.map((c) => ({ node: d.view.id, ...c }))),
      queue: sipDetails.flatMap((d) => d.queue.map((q) => ({ node: d.view.id, ...q }))),
      reservations: { perSecond: Math.round(rate.perSecond * 10) / 10, total: rate.total, history: this.#meter.history },
      failovers: { count: this.#failovers.count, recent: this.#failovers.recent.map((f) => ({ ...f, at: new Date(f.atMs).toISOString() })) },
      services,
    };
  }

  /** Each service's figures from every SIP node (`scope=node`), summed here. */
  async #readServices(): Promise<ServiceRow[]> {
    const { config } = this.#opts;
    return Promise.all(config.services.slice(0, servicesListedMax).map(async (s) => {
      let sum = emptyFigures();
      const partial: string[] = [];
      await Promise.all(config.sip.map(async (n) => {
        try {
          const r = await getJson(n.admin, `/v1/services/${encodeURIComponent(s.number)}/stats?scope=node`, config.tokens.read, agentReadDeadlineMs);
          const figures = (r.body as { figures?: ServiceFigures } | null)?.figures;
          if (r.status !== 200 || figures === undefined) throw new Error(`HTTP ${r.status}`);
          sum = addFigures(sum, figures);
        } catch {
          partial.push(n.id);
        }
      }));
      return { ...sum, service: s.number, serviceLevelMs: serviceDefinition(s).serviceLevelMs, partial: partial.sort() };
    }));
  }

  /** Stops the change-feed followers (started lazily by collect) and the gateway clients. */
  close(): void {
    for (const stop of this.#feeds.values()) stop();
    this.#feeds.clear();
    this.#probe.close();
  }

  async #readAgents(): Promise<string[]> {
    const client = this.#opts.shardClient;
    const stale: string[] = [];
    await Promise.all(this.#opts.config.shards.map(async (s) => {
      try {
        const agents = (await client.read(s.id, { type: 'agents', filter: {} }, 'stale', { deadlineMs: agentReadDeadlineMs })) as Agent[];
        this.#agentsByShard.set(s.id, agents.map((a) => rowOf(a, s.id)));
      } catch {
        stale.push(s.id);
      }
    }));
    return stale;
  }

  /** Follows each shard's feed from the applied index of the poll that first saw it, so
   * history from before the dashboard looked is not counted as a burst. */
  #followFeeds(view: ClusterView): void {
    for (const s of view.shards) {
      if (this.#feeds.has(s.id)) continue;
      const applied = s.replicas.map((r) => r.applied).filter((x): x is number => x !== null);
      if (applied.length === 0) continue;
      const from = Math.max(...applied);
      this.#meter.baseline(s.id, from);
      this.#feeds.set(s.id, this.#opts.shardClient.follow(s.id, from, (page) => this.#meter.onPage(s.id, page)));
    }
  }
}
