// The SIP node's Prometheus metrics (one registry per node, so several nodes can live in
// one test process). Transport parse errors are read from the transports' counters at
// scrape time rather than counted twice.

import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { SipTransport } from '../transport/index.js';

export type SipNodeMetrics = ReturnType<typeof createSipNodeMetrics>;

export const setupPhases = ['route', 'reserve', 'agent', 'answer', 'confirm'] as const;
export type SetupPhase = (typeof setupPhases)[number];

export function createSipNodeMetrics(nodeId: string, transports: () => readonly SipTransport[], live: () => { calls: number; queued: number }) {
  const registry = new Registry();
  registry.setDefaultLabels({ node: nodeId });
  const m = {
    registry,
    callsOffered: new Counter({ name: 'ringfence_sip_calls_offered_total', help: 'INVITEs to a service number accepted for routing', registers: [registry] }),
    callsAnswered: new Counter({ name: 'ringfence_sip_calls_answered_total', help: 'calls answered by an agent', registers: [registry] }),
    callsAbandoned: new Counter({ name: 'ringfence_sip_calls_abandoned_total', help: 'calls the caller gave up on before an answer', registers: [registry] }),
    queueAbandoned: new Counter({ name: 'ringfence_sip_queue_abandoned_total', help: 'queued calls the caller hung up on (CANCEL or BYE), their queue entry removed at once', registers: [registry] }),
    callsFailed: new Counter({ name: 'ringfence_sip_calls_failed_total', help: 'calls ended without an answer by the node', labelNames: ['reason'], registers: [registry] }),
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
    parseErrors: new Gauge({
      name: 'ringfence_sip_parse_errors_total',
      help: 'malformed SIP messages received, by parser error code',
      labelNames: ['kind'],
      registers: [registry],
      collect() {
        const sums: Record<string, number> = {};
        for (const t of transports()) for (const [k, v] of Object.entries(t.counters().parseErrors)) sums[k] = (sums[k] ?? 0) + v;
        this.reset();
        for (const [k, v] of Object.entries(sums)) this.set({ kind: k }, v);
      },
    }),
    callsInProgress: new Gauge({ name: 'ringfence_sip_calls_in_progress', help: 'calls this node is handling', registers: [registry], collect() { this.set(live().calls); } }),
    queued: new Gauge({ name: 'ringfence_sip_calls_queued', help: 'calls waiting for an agent', registers: [registry], collect() { this.set(live().queued); } }),
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
