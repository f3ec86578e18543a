// Agent acquisition for one call: pick → reserve → re-route, until the node holds a
// committed grant on an agent with a live phone, or knows the call must queue, or gives
// up. The routing webhook (when configured) is asked first for each pick, the built-in
// router otherwise or when the webhook cannot answer usefully. The reservation on the
// DN's shard, not the pick, makes the agent ours (DESIGN.md).
//
// A call waiting in the cluster queue is served differently (acquireClaimed): the queue's
// shard has claimed one agent for it, and that agent is reserved once — or, with a
// routing webhook, the webhook's choice, falling back to the claimed agent. A failure
// sends the call back to its place in the queue, never on to another agent directly,
// which could overtake an older caller.
//
// It touches only the routing part of a call (what was tried and offered, the attempt
// count and the CDR's attempt list), and never sends SIP: the B2BUA acts on the result.

import assert from 'node:assert';
import { randomUUID } from 'node:crypto';
import type { Logger } from '../../common/logger.js';
import { ShardClientError, type ShardClient } from '../../shards/client/shard-client.js';
import { getHeader } from '../syntax/index.js';
import type { SipTarget, TimerService } from '../transport/index.js';
import type { Call } from './call.js';
import type { WallClock } from './clock.js';
import { uriOf } from './dialog.js';
import { bindingTarget } from './nat-binding.js';
import { SipNodeErrorCode } from './errors.js';
import type { Grant, Grants } from './grants.js';
import * as limits from './limits.js';
import type { SetupPhase, SipNodeMetrics } from './metrics.js';
import type { AgentView, RouteRequest, Router } from './router.js';
import { vetWebhookDn, type RoutingWebhook, type WebhookResult } from './routing-webhook.js';
import type { ServiceDirectory } from './service-directory.js';

/** What acquisition needs of a call; it updates tried, offered, attemptCount, attempts. */
export type CallToRoute = Pick<Call, 'key' | 'callId' | 'from' | 'invite' | 'service' | 'phase' | 'tried' | 'offered' | 'attempts' | 'attemptCount'>;

/** grant: reserved, with the phone to ring; queue: no agent free now; give-up: too many
 * attempts (480); stopped: the call left routing meanwhile (hung up), nothing held. */
export type Acquisition =
  | Readonly<{ type: 'grant'; grant: Grant; contactUri: string; target: SipTarget; viaSource: boolean }>
  | Readonly<{ type: 'queue' }>
  | Readonly<{ type: 'give-up' }>
  | Readonly<{ type: 'stopped' }>;

export type AgentAcquisitionOptions = Readonly<{
  nodeId: string;
  shards: Pick<ShardClient, 'command'>;
  router: Pick<Router, 'pick'>;
  view: Pick<AgentView, 'get'>;
  webhook: RoutingWebhook | null;
  grants: Grants;
  metrics: SipNodeMetrics;
  log: Logger;
  timers: TimerService;
  now: WallClock;
  ringTimeoutMs: number;
  /** WRAP_UP hold on an agent whose grant ends because this node died. */
  orphanHoldMs: number;
  /** The services' definitions: strategy, ring timeout and wrap-up of each call's. */
  services?: ServiceDirectory;
}>;

export class AgentAcquisition {
  /** Calls the webhook queued (`{"dn":null}`), with when it said so: the sweep re-asks
   * them at most every routingWebhookQueueRetryMs. */
  private readonly webhookQueuedAtMs = new Map<string, number>();
  private readonly warnedAtMs = new Map<string, number>();

  constructor(private readonly o: AgentAcquisitionOptions) {}

  /** How long until the webhook, which queued this call, may be asked about it again
   * (0: now). */
  webhookRetryInMs(key: string): number {
    const askedAtMs = this.webhookQueuedAtMs.get(key);
    return askedAtMs === undefined ? 0 : Math.max(0, askedAtMs + limits.routingWebhookQueueRetryMs - this.o.timers.now());
  }

  /** The call is over: forget what was kept for it. */
  forget(key: string): void {
    this.webhookQueuedAtMs.delete(key);
  }

  /** Picks and reserves agents until one is granted with a live phone, the call must
   * queue or give up, or it stops routing. Denials, reserve errors and granted agents
   * without a phone are recorded on the call and re-routed. */
  async acquire(call: CallToRoute): Promise<Acquisition> {
    for (;;) {
      const routeStartMs = this.o.timers.now();
      if (call.phase !== 'routing') return { type: 'stopped' };
      if (call.attemptCount >= limits.routeAttemptsMax || call.offered.size >= limits.routeAttemptsMax) return { type: 'give-up' };
      const req = { skill: call.service.skill, minLevel: call.service.minLevel, exclude: call.tried, nowMs: this.o.now(), strategy: this.o.services?.get(call.service.number)?.strategy ?? null };
      const dn = await this.pickDn(call, req);
      if (call.phase !== 'routing') return { type: 'stopped' };
      if (dn === null) return { type: 'queue' };
      const result = await this.tryDn(call, dn, routeStartMs);
      if (result !== null) return result;
    }
  }

  /** One reservation for a queued call the queue's shard claimed `claimedDn` for: the
   * webhook's pick when one is configured and answers, else the claimed agent. Anything
   * but a grant sends the call back to the queue. */
  async acquireClaimed(call: CallToRoute, claimedDn: string): Promise<Acquisition> {
    const routeStartMs = this.o.timers.now();
    if (call.phase !== 'routing') return { type: 'stopped' };
    if (call.attemptCount >= limits.routeAttemptsMax || call.offered.size >= limits.routeAttemptsMax) return { type: 'give-up' };
    const req = { skill: call.service.skill, minLevel: call.service.minLevel, exclude: call.tried, nowMs: this.o.now() };
    const dn = this.o.webhook === null ? claimedDn : await this.pickDn(call, req, claimedDn);
    if (call.phase !== 'routing') return { type: 'stopped' };
    if (dn === null || call.tried.has(dn)) return { type: 'queue' };
    return (await this.tryDn(call, dn, routeStartMs)) ?? { type: 'queue' };
  }

  /** Reserves `dn` for the call: the grant with a live phone, `stopped`, or null when the
   * attempt failed (recorded on the call) and routing should go on. */
  private async tryDn(call: CallToRoute, dn: string, routeStartMs: number): Promise<Acquisition | null> {
    call.tried.add(dn);
    call.attemptCount++;
    const reservationId = randomUUID();
    const definition = this.o.services?.get(call.service.number);
    const ringTimeoutMs = definition?.ringTimeoutMs ?? this.o.ringTimeoutMs;
    const ttlMs = Math.min(ringTimeoutMs + limits.reservationTtlMarginMs, limits.reservationTtlMsMax);
    let res;
    this.observePhase('route', routeStartMs);
    const reserveStartMs = this.o.timers.now();
    try {
      // If this node dies before the answer is confirmed, the grant expires; the agent then
      // waits out the orphan hold too, as its phone may hold the call (see node.ts).
      res = await this.o.shards.command(dn, { type: 'reserve', dn, reservationId, callId: call.callId, owner: this.o.nodeId, ttlMs, orphanHoldMs: this.o.orphanHoldMs, wrapUpMs: definition?.wrapUpMs ?? null }, { deadlineMs: limits.shardCommandDeadlineMs });
    } catch (err) {
      this.observePhase('reserve', reserveStartMs);
      this.o.metrics.reservations.inc({ result: 'error' });
      this.o.log.warn('reserve failed', { dn, callId: call.callId, error: (err as Error).message });
      // The grant may exist: release it by id (a no-op if it never happened).
      if (err instanceof ShardClientError && err.maybeApplied) void this.o.grants.release(dn, reservationId, 'failed');
      call.attempts.push({ dn, outcome: 'reserve-error' });
      this.o.metrics.reroutes.inc({ reason: 'reserve-error' });
      return null;
    }
    this.observePhase('reserve', reserveStartMs);
    if (!res.ok || res.type !== 'reserved') {
      this.o.metrics.reservations.inc({ result: 'denied' });
      call.attempts.push({ dn, outcome: `denied:${res.ok ? res.type : res.code}` });
      this.o.metrics.reroutes.inc({ reason: 'denied' });
      return null;
    }
    this.o.metrics.reservations.inc({ result: 'granted' });
    if (call.phase !== 'routing') {
      // The caller hung up while the grant was committing.
      void this.o.grants.release(dn, reservationId, 'abandoned');
      call.attempts.push({ dn, outcome: 'abandoned' });
      return { type: 'stopped' };
    }
    const now = this.o.now();
    const contact = res.agent.contacts.find((c) => c.expiresAtMs > now);
    // A binding from behind a NAT is reached where its REGISTER came from (nat-binding.ts).
    const target = contact === undefined ? null : bindingTarget(contact, this.o.nodeId);
    call.offered.add(dn);
    if (contact === undefined || target === null) {
      void this.o.grants.release(dn, reservationId, 'failed');
      call.attempts.push({ dn, outcome: 'no-contact' });
      this.o.metrics.reroutes.inc({ reason: 'no-contact' });
      return null;
    }
    // The grant's TTL ran from the shard's commit; counting it from before the reserve
    // was sent keeps this node's idea of it on the safe side.
    const grant: Grant = { dn, reservationId, expiresAtMs: reserveStartMs + ttlMs };
    assert(res.reservation.reservationId === reservationId && res.agent.dn === dn, `grant ${reservationId} on ${dn} came back as ${res.reservation.reservationId} on ${res.agent.dn}`);
    return { type: 'grant', grant, contactUri: contact.uri, target, viaSource: contact.received !== undefined };
  }

  /** The DN to reserve next (null: queue the call). The webhook, when configured, is
   * asked first; whatever it cannot answer usefully the built-in router decides. */
  private async pickDn(call: CallToRoute, req: RouteRequest, claimedDn?: string): Promise<string | null> {
    const hook = this.o.webhook;
    const fallback = (): string | null => (claimedDn !== undefined ? claimedDn : this.o.router.pick({ ...req, nowMs: this.o.now() }));
    if (hook === null) return fallback();
    const answer = await hook.ask({
      callId: call.callId,
      from: call.from,
      to: uriOf(getHeader(call.invite, 'To') ?? '') ?? '',
      service: call.service.number,
      skill: req.skill,
      minLevel: req.minLevel,
      exclude: [...req.exclude],
      attempt: call.attempts.length + 1,
      node: this.o.nodeId,
    });
    let result: WebhookResult;
    if (answer.result === 'queue') {
      this.o.metrics.routingWebhook.inc({ result: 'queue' });
      this.webhookQueuedAtMs.set(call.key, this.o.timers.now());
      return null;
    }
    if (answer.result === 'dn') {
      const verdict = vetWebhookDn(answer.dn, req, this.o.view.get(answer.dn));
      if (verdict === 'ok') {
        this.o.metrics.routingWebhook.inc({ result: 'accepted' });
        this.webhookQueuedAtMs.delete(call.key);
        return answer.dn;
      }
      result = verdict;
      this.warnOnce(result, 'routing webhook chose an unusable DN; built-in router decides', { dn: answer.dn, callId: call.callId });
    } else {
      result = answer.result;
      this.warnOnce(result, 'routing webhook gave no usable answer; built-in router decides', { detail: answer.detail, callId: call.callId });
    }
    this.o.metrics.routingWebhook.inc({ result });
    this.webhookQueuedAtMs.delete(call.key);
    return fallback();
  }

  /** A warning at most once a second per kind: a dead webhook must not flood the log
   * (the metric counts every case). */
  private warnOnce(kind: string, msg: string, fields: Record<string, unknown>): void {
    const now = this.o.timers.now();
    if (now - (this.warnedAtMs.get(kind) ?? -Infinity) < limits.routingWebhookWarnIntervalMs) return;
    this.warnedAtMs.set(kind, now);
    this.o.log.warn(msg, { code: SipNodeErrorCode.ROUTING_WEBHOOK, result: kind, ...fields });
  }

  private observePhase(phase: SetupPhase, sinceMs: number): void {
    this.o.metrics.setupPhaseSeconds[phase].observe((this.o.timers.now() - sinceMs) / 1000);
  }
}
