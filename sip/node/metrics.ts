// The SIP node's Prometheus metrics (one registry per node, so several nodes can live in
// one test process). Transport figures (parse errors, per-source drops and refusals) are
// read from the transports' own counters at scrape time rather than counted twice; they
// are exported as counters because those counters only grow.

import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { collectProcessMetrics } from '../../common/process-metrics.js';
import type { SipTransport, TransportCounters } from '../transport/index.js';
import type { ServiceFigures, ServiceStats } from './service-stats.js';
import type { WebhookStats } from './webhooks.js';

export type SipNodeMetrics = ReturnType<typeof createSipNodeMetrics>;

/** What the node holds right now, read at scrape time. */
export type SipNodeLive = () => Readonly<{ calls: number; queued: number; callsByService: Readonly<Record<string, number>> }>;

/** A counter mirrored from every transport's counters at scrape time: `pick` gives one
 * transport's totals by error code (already monotonic), labelled with the transport. */
function transportCounter(registry: Registry, name: string, help: string, reasonLabel: string, transports: () => readonly SipTransport[], pick: (c: TransportCounters) => Readonly<Record<string, number>>): Counter {
  return new Counter({
    name,
    help,
    labelNames: ['transport', reasonLabel],
    registers: [registry],
    collect() {
      this.reset();
      for (const t of transports()) {
        for (const [code, n] of Object.entries(pick(t.counters()))) this.inc({ [reasonLabel]: code, transport: t.protocol.toLowerCase() }, n);
      }
    },
  });
}

export const setupPhases = ['route', 'reserve', 'agent', 'answer', 'confirm'] as const;
export type SetupPhase = (typeof setupPhases)[number];

/** A counter mirrored from one number of every transport's counters, by transport. */
function transportTotal(registry: Registry, name: string, help: string, transports: () => readonly SipTransport[], pick: (c: TransportCounters) => number): Counter {
  return new Counter({
    name,
    help,
    labelNames: ['transport'],
    registers: [registry],
    collect() {
      this.reset();
      for (const t of transports()) this.inc({ transport: t.protocol.toLowerCase() }, pick(t.counters()));
    },
  });
}

export function createSipNodeMetrics(nodeId: string, transports: () => readonly SipTransport[], live: SipNodeLive, services: readonly string[] = []) {
  const registry = new Registry();
  registry.setDefaultLabels({ node: nodeId });
  collectProcessMetrics(registry);
  const m = {
    registry,
    callsOffered: new Counter({ name: 'ringfence_sip_calls_offered_total', help: 'INVITEs to a service number accepted for routing', registers: [registry] }),
    callsAnswered: new Counter({ name: 'ringfence_sip_calls_answered_total', help: 'calls answered by an agent', registers: [registry] }),
    callsAbandoned: new Counter({ name: 'ringfence_sip_calls_abandoned_total', help: 'calls the caller gave up on before an answer', registers: [registry] }),
    queueAbandoned: new Counter({ name: 'ringfence_sip_queue_abandoned_total', help: 'queued calls the caller hung up on (CANCEL or BYE), their queue entry removed at once', registers: [registry] }),
    queueMediaRequeued: new Counter({ name: 'ringfence_sip_queue_media_requeued_total', help: 'calls put back at their queue place because the media offer or answer failed (gateway down), instead of ending them 503', registers: [registry] }),
    callsFailed: new Counter({ name: 'ringfence_sip_calls_failed_total', help: 'calls ended without an answer by the node', labelNames: ['reason'], registers: [registry] }),
    queueChecks: new Counter({
      name: 'ringfence_sip_queue_checks_total',
      help: 'reads of a queue shard made because its change feed had shown nothing current for a while (queue-check.ts), by what they found: waiting (the shard holds queued calls), empty, failed (unreachable in time: the call was routed on the view)',
      labelNames: ['outcome'],
      registers: [registry],
    }),
    reroutes: new Counter({ name: 'ringfence_sip_reroutes_total', help: 'times a call moved on to another agent', labelNames: ['reason'], registers: [registry] }),
    reservations: new Counter({ name: 'ringfence_sip_reservations_total', help: 'reserve commands by result', labelNames: ['result'], registers: [registry] }),
    routingWebhook: new Counter({
      name: 'ringfence_sip_routing_webhook_total',
      help: 'routing webhook consultations by result: accepted, queue, or why the built-in router decided (timeout, error, http-status, malformed, overload, tried, not-eligible)',
      labelNames: ['result'],
      registers: [registry],
    }),
    reanchors: new Counter({ name: 'ringfence_sip_reanchors_total', help: 'in-dialog SDP offers (re-INVITE/UPDATE) re-anchored on the media gateway, by result', labelNames: ['result'], registers: [registry] }),
    registrations: new Counter({ name: 'ringfence_sip_registers_total', help: 'REGISTER requests by final status', labelNames: ['status'], registers: [registry] }),
    setupSeconds: new Histogram({
      name: 'ringfence_sip_setup_latency_seconds',
      help: 'caller INVITE to 200 OK sent to the caller',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    }),
    // Where setup time goes, for an SRE asking why ringfence_sip_setup_latency_seconds
    // grew: route (INVITE or re-route to the reserve being sent: the router, the webhook),
    // reserve (the grant's Raft commit), agent (INVITE to the phone until its 200), answer
    // (anchoring its SDP until our 200 to the caller), and confirm (RESERVED → BUSY, after
    // the caller's 200, so not part of setup).
    setupPhaseSeconds: phaseChildren(new Histogram({
      name: 'ringfence_sip_setup_phase_seconds',
      help: 'time spent in each phase of call setup: route, reserve, agent, answer; and confirm, after the caller is answered',
      labelNames: ['phase'],
      buckets: [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 15],
      registers: [registry],
    })),
    // A counter (it was a gauge with a counter's name): totals since the node started.
    parseErrors: transportCounter(registry, 'ringfence_sip_parse_errors_total', 'malformed SIP messages received, by transport and parser error code', 'kind', transports, (c) => c.parseErrors),
    // Per-source protection and lost input, by SIP_ERR_TRANSPORT_* code: RATE_LIMITED (over
    // its rate: a 503 with Retry-After, or dropped when not a request), SOURCE_FLOODING
    // (dropped unread, its 503 budget spent), SOURCE_CONNECTIONS_EXHAUSTED (a TCP
    // connection refused: the source holds its maximum), MESSAGE_DEADLINE (a TCP
    // connection closed: a message not complete in time), FRAMING_LOST, INPUT_FAILED.
    dropped: transportCounter(registry, 'ringfence_sip_dropped_total', 'inbound SIP messages or connections refused or dropped, by transport and reason', 'reason', transports, (c) => c.dropped),
    badRequestsAnswered: transportTotal(registry, 'ringfence_sip_bad_requests_answered_total', 'malformed SIP requests answered with a 400, by transport', transports, (c) => c.badRequestsAnswered),
    // Over the node's connection cap or the source's (the latter also counted in
    // ringfence_sip_dropped_total{reason="SOURCE_CONNECTIONS_EXHAUSTED"}).
    tcpConnectionsRejected: transportTotal(registry, 'ringfence_sip_connections_rejected_total', 'inbound SIP connections refused, by transport', transports, (c) => c.connectionsRejected),
    callsInProgress: new Gauge({ name: 'ringfence_sip_calls_in_progress', help: 'calls this node is handling', registers: [registry], collect() { this.set(live().calls); } }),
    queued: new Gauge({ name: 'ringfence_sip_calls_queued', help: 'calls waiting for an agent', registers: [registry], collect() { this.set(live().queued); } }),
    // Every configured service has a sample (0 when idle), so a dashboard's series do not
    // appear and vanish; a call to a number no longer configured still counts.
    callsByService: new Gauge({
      name: 'ringfence_sip_calls',
      help: 'calls this node is handling, by service number (queued, ringing or answered)',
      labelNames: ['service'],
      registers: [registry],
      collect() {
        this.reset();
        for (const service of services) this.set({ service }, 0);
        for (const [service, n] of Object.entries(live().callsByService)) this.set({ service }, n);
      },
    }),
  };
  return m;
}

/** One labelled child per phase, made once: five observations per call would otherwise
 * each hash a label object. */
function phaseChildren(h: Histogram<'phase'>): Readonly<Record<SetupPhase, { observe: (seconds: number) => void }>> {
  const children = {} as Record<SetupPhase, { observe: (seconds: number) => void }>;
  for (const phase of setupPhases) children[phase] = h.labels({ phase });
  return children;
}

/** The NAT keep-alive's figures (nat-keepalive.ts), read at scrape time. */
export function registerNatKeepAliveMetrics(registry: Registry, stats: () => Readonly<{ pingsSent: number; answers: number; misses: number; removed: number; watched: number }>): void {
  new Counter({
    name: 'ringfence_sip_nat_keepalive_total',
    help: 'OPTIONS keep-alives to UDP bindings behind NAT: pings sent, answers, misses, and bindings removed after too many misses in a row',
    labelNames: ['event'],
    registers: [registry],
    collect() {
      this.reset();
      const s = stats();
      this.inc({ event: 'ping' }, s.pingsSent);
      this.inc({ event: 'answer' }, s.answers);
      this.inc({ event: 'miss' }, s.misses);
      this.inc({ event: 'removed' }, s.removed);
    },
  });
  new Gauge({
    name: 'ringfence_sip_nat_bindings_watched',
    help: 'UDP bindings behind NAT this node keeps alive',
    registers: [registry],
    collect() {
      this.set(stats().watched);
    },
  });
}

/** Service-level figures per service since the node started (service-stats.ts), read at
 * scrape time. Every configured service has a sample, 0 when idle. A cluster's figure is
 * the sum over its SIP nodes (ASA: sum of the wait totals over sum of answered). */
export function registerServiceMetrics(registry: Registry, stats: ServiceStats, services: () => readonly string[]): void {
  const each = (f: (figures: ServiceFigures) => number) => function (this: Counter<'service'> | Gauge<'service'>): void {
    this.reset();
    for (const service of new Set([...services(), ...stats.services()])) this.inc({ service }, f(stats.figures(service).figures));
  };
  const counter = (name: string, help: string, f: (figures: ServiceFigures) => number): void => void new Counter({ name, help, labelNames: ['service'], registers: [registry], collect: each(f) });
  counter('ringfence_sip_service_offered_total', 'calls that arrived for the service (INVITEs accepted for routing)', (f) => f.offered);
  counter('ringfence_sip_service_answered_total', 'calls of the service an agent answered', (f) => f.answered);
  counter('ringfence_sip_service_abandoned_total', 'calls of the service the caller hung up (CANCEL or early BYE) before an answer, queued or ringing', (f) => f.abandoned);
  counter('ringfence_sip_service_abandoned_queued_total', 'abandoned calls of the service that were waiting in the queue', (f) => f.abandonedQueued);
  counter('ringfence_sip_service_answered_within_sl_total', 'calls answered within the service\'s serviceLevelMs of arriving', (f) => f.answeredWithinSl);
  counter('ringfence_sip_service_answer_wait_seconds_total', 'sum of arrival-to-answer times of the answered calls (ASA = this / answered)', (f) => f.answerWaitSumMs / 1000);
  const gauge = (name: string, help: string, f: (figures: ServiceFigures) => number): void => void new Gauge({ name, help, labelNames: ['service'], registers: [registry], collect: each(f) });
  gauge('ringfence_sip_service_asa_seconds', 'average speed of answer since the node started (0 before any answer)', (f) => (f.asaMs ?? 0) / 1000);
  gauge('ringfence_sip_service_longest_wait_seconds', 'the longest arrival-to-answer or arrival-to-abandon of the service\'s calls since the node started', (f) => f.longestWaitMs / 1000);
  gauge('ringfence_sip_service_waiting', 'calls of the service unanswered on this node now (queued or ringing)', (f) => f.waitingNow);
  gauge('ringfence_sip_service_longest_waiting_seconds', 'how long the oldest unanswered call of the service on this node has waited', (f) => f.longestWaitingNowMs / 1000);
}

/** How far behind this node's view of each shard may be, read at scrape time: seconds
 * since the shard's change feed last showed its replica current (AgentFeed.liveAgoMs;
 * +Inf before its first page). Past limits.queueViewStaleMs a new call asks the queue's
 * shard before it takes an agent; a value that keeps growing is a feed that cannot reach
 * a current replica (a partition between this node and the shard). */
export function registerFeedMetrics(registry: Registry, shardIds: readonly string[], liveAgoMs: (shardId: string) => number): void {
  new Gauge({
    name: 'ringfence_sip_shard_feed_age_seconds',
    help: 'seconds since each shard\'s change feed last showed its replica current (+Inf: never, or not since it gave its replica up)',
    labelNames: ['shard'],
    registers: [registry],
    collect() {
      for (const shard of shardIds) this.set({ shard }, liveAgoMs(shard) / 1000);
    },
  });
}

/** The live event log and its webhooks, read at scrape time. */
export function registerEventMetrics(registry: Registry, events: () => number, hooks: () => readonly Readonly<{ stats: WebhookStats }>[]): void {
  new Counter({ name: 'ringfence_sip_events_total', help: 'events logged for the live stream and webhooks', registers: [registry], collect() { this.reset(); this.inc(events()); } });
  const perHook = (name: string, help: string, pick: (s: WebhookStats) => number, kind: 'counter' | 'gauge'): void => {
    // Labelled by the webhook's place in events.webhooks, not its URL (which may carry a token).
    const collect = function (this: Counter<'webhook'> | Gauge<'webhook'>): void {
      this.reset();
      hooks().forEach((h, i) => this.inc({ webhook: String(i) }, pick(h.stats)));
    };
    if (kind === 'counter') new Counter({ name, help, labelNames: ['webhook'], registers: [registry], collect });
    else new Gauge({ name, help, labelNames: ['webhook'], registers: [registry], collect });
  };
  perHook('ringfence_sip_event_webhook_delivered_total', 'events a webhook acknowledged (2xx)', (s) => s.delivered, 'counter');
  perHook('ringfence_sip_event_webhook_failures_total', 'webhook POSTs that failed (non-2xx, error or timeout), each retried with backoff', (s) => s.failures, 'counter');
  perHook('ringfence_sip_event_webhook_dropped_total', 'events dropped from a webhook\'s backlog, full while its URL failed', (s) => s.dropped, 'counter');
  perHook('ringfence_sip_event_webhook_backlog', 'events waiting to be sent to a webhook', (s) => s.backlog, 'gauge');
}
