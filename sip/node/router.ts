// The router: which READY agent should take a call needing `skill` at `minLevel`. It
// reads a local view of the agents that may be slightly stale (kept from the shards'
// change feeds by agent-feed.ts): the shard's reservation, not the router, guarantees
// that an agent gets one call at a time, so a stale pick only costs a denied reserve
// and a re-route. Pure: no sockets, no timers.
//
// The strategy is the call's service's (its replicated definition, service-directory.ts)
// when it names one, else the node's: longest-idle, fewest-calls, round-robin, or
// skill-ranked (highest level in the service's skill first, ties by longest idle).

import type { Agent } from '../../shards/types.js';
import { routerClaimTtlMsDefault } from './limits.js';

export type RoutingStrategy = 'longest-idle' | 'fewest-calls' | 'round-robin' | 'skill-ranked';
export const routingStrategies: readonly RoutingStrategy[] = ['longest-idle', 'fewest-calls', 'round-robin', 'skill-ranked'];

/** `strategy`: the call's service's; absent or null: the router's own. */
export type RouteRequest = Readonly<{ skill: string; minLevel: number; exclude: ReadonlySet<string>; nowMs: number; strategy?: RoutingStrategy | null }>;

/** The agents as last seen. `version` (the log index of the agent's last change) orders
 * updates, so a re-read and feed pages may arrive in any order. */
export class AgentView {
  private readonly agents = new Map<string, Agent>();

  /** Applies an agent as read or as carried by a change record; returns true when it
   * replaced an older version. `null` with a DN: the agent was deprovisioned. */
  update(dn: string, agent: Agent | null, index: number): boolean {
    const old = this.agents.get(dn);
    if (old !== undefined && old.version > index) return false;
    if (agent === null) return this.agents.delete(dn);
    if (old !== undefined && old.version >= agent.version) return false;
    this.agents.set(dn, agent);
    return true;
  }

  get(dn: string): Agent | undefined {
    return this.agents.get(dn);
  }

  /** Every agent, without copying the view (routing walks it once per call). */
  values(): IterableIterator<Agent> {
    return this.agents.values();
  }

  get size(): number {
    return this.agents.size;
  }
}

/** True when the agent may be offered the call: READY, skilled enough, a phone
 * registered and not expired, and not already tried for this call. */
export function eligible(agent: Agent, req: RouteRequest): boolean {
  if (agent.status.state !== 'READY' || req.exclude.has(agent.dn)) return false;
  const level = Object.hasOwn(agent.skills, req.skill) ? agent.skills[req.skill]! : -1;
  if (level < 0 || level < req.minLevel) return false;
  return agent.contacts.some((c) => c.expiresAtMs > req.nowMs);
}

function readySince(a: Agent): number {
  return a.status.state === 'READY' ? a.status.readySinceMs : Number.POSITIVE_INFINITY;
}

function byDn(a: Agent, b: Agent): number {
  return a.dn < b.dn ? -1 : a.dn > b.dn ? 1 : 0;
}

/** Orders the candidates of a strategy; the first is picked. Total (DNs are unique). */
export function longestIdleOrder(a: Agent, b: Agent): number {
  return readySince(a) - readySince(b) || byDn(a, b);
}

export function fewestCallsOrder(a: Agent, b: Agent): number {
  return a.counters.callsAnswered - b.counters.callsAnswered || longestIdleOrder(a, b);
}

function levelIn(a: Agent, skill: string): number {
  return Object.hasOwn(a.skills, skill) ? a.skills[skill]! : -1;
}

/** Highest level in `skill` first, then longest idle. */
export function skillRankedOrder(skill: string): (a: Agent, b: Agent) => number {
  return (a, b) => levelIn(b, skill) - levelIn(a, skill) || longestIdleOrder(a, b);
}

/** The order a strategy ranks READY agents in for a call needing `skill` (round-robin,
 * which has no order of its own, by DN). */
export function strategyOrder(strategy: RoutingStrategy, skill: string): (a: Agent, b: Agent) => number {
  return strategy === 'fewest-calls' ? fewestCallsOrder : strategy === 'longest-idle' ? longestIdleOrder : strategy === 'skill-ranked' ? skillRankedOrder(skill) : byDn;
}

export class Router {
  private cursor = '';
  /** DN → the agent version seen when it was picked, and until when the claim holds. */
  private readonly claims = new Map<string, { version: number; untilMs: number }>();

  constructor(
    private readonly view: AgentView,
    readonly strategy: RoutingStrategy = 'longest-idle',
    private readonly claimTtlMs = routerClaimTtlMsDefault,
  ) {}

  /** Whether some agent is eligible, without moving the round-robin cursor. */
  peek(req: RouteRequest): string | null {
    for (const a of this.view.values()) if (eligible(a, req) && !this.claimed(a, req.nowMs)) return a.dn;
    return null;
  }

  /**
   * The DN to reserve next, or null when no agent is eligible. The agent picked is claimed
   * until the view shows a newer version of it (the grant or denial reached the change
   * feed) or the claim times out: without that, every call routed before the feed catches
   * up picks the same longest-idle agent, and all but one are denied and re-routed. The
   * claim only spreads load; exclusivity stays the shard's.
   */
  pick(req: RouteRequest): string | null {
    const dn = this.choose(req);
    if (dn !== null) this.claims.set(dn, { version: this.view.get(dn)!.version, untilMs: req.nowMs + this.claimTtlMs });
    return dn;
  }

  private claimed(agent: Agent, nowMs: number): boolean {
    const claim = this.claims.get(agent.dn);
    if (claim === undefined) return false;
    if (agent.version > claim.version || nowMs >= claim.untilMs) {
      this.claims.delete(agent.dn);
      return false;
    }
    return true;
  }

  /** One pass over the view, no copy and no sort: a pick is made for every call and
   * every re-route, and a contact center may have thousands of agents. */
  private choose(req: RouteRequest): string | null {
    const strategy = req.strategy ?? this.strategy;
    const order = strategyOrder(strategy, req.skill);
    let best: Agent | null = null;
    // Round-robin: the first DN after the last one handed out, else wrap to the first.
    let nextAfterCursor: Agent | null = null;
    for (const a of this.view.values()) {
      if (!eligible(a, req) || this.claimed(a, req.nowMs)) continue;
      if (best === null || order(a, best) < 0) best = a;
      if (a.dn > this.cursor && (nextAfterCursor === null || a.dn < nextAfterCursor.dn)) nextAfterCursor = a;
    }
    if (best === null) return null;
    if (strategy !== 'round-robin') return best.dn;
    const next = nextAfterCursor ?? best;
    this.cursor = next.dn;
    return next.dn;
  }
}
