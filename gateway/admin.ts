// The media gateway's admin REST: the common base (bearer tokens, problem bodies, OpenAPI
// at /docs, Prometheus /metrics), its status, and /healthz and /readyz. It listens on the
// cluster file's `gateways[].admin` address (cluster/roles/gateway.ts), beside the ng
// control socket, and runs in the gateway's process; it reads the gateway, never drives it.
import type { FastifyInstance } from 'fastify';
import { createAdminApp, healthRoutes, type ReadyReport } from '../common/admin.js';
import type { Gateway } from './gateway.js';
import type { GatewayMetrics } from './metrics.js';

export type GatewayAdminOptions = Readonly<{
  id: string;
  host: string;
  port: number;
  tokens: Readonly<{ read: string; admin: string }>;
  gateway: Gateway;
  metrics: GatewayMetrics;
  /** The ng control socket's port, once bound (null while it is not). */
  controlPort: () => number | null;
}>;

/** Why the gateway cannot take a new call now, or null when it can. */
/** What /readyz checks: the gateway can take a call — its ng socket is bound, it has a
 * free port pair and room in its call table. Read from memory, never from the relay. */
export function gatewayReadiness(gateway: Gateway, controlPort: number | null): ReadyReport {
  const { freePairs, min, max } = gateway.ports;
  const callsMax = gateway.config.callsMax;
  return {
    control: controlPort === null ? { ok: false, detail: 'the ng control socket is not bound' } : { ok: true, detail: `ng control on port ${controlPort}` },
    ports: freePairs === 0 ? { ok: false, detail: `no free port pair in ${min}-${max}` } : { ok: true, detail: `${freePairs} free port pairs in ${min}-${max}` },
    calls: gateway.calls.size >= callsMax ? { ok: false, detail: `the call table is full (${callsMax} calls)` } : { ok: true, detail: `${gateway.calls.size} of ${callsMax} calls` },
  };
}

export async function startGatewayAdmin(o: GatewayAdminOptions): Promise<FastifyInstance> {
  const app = await createAdminApp({ title: `Ringfence media gateway ${o.id}`, tokens: o.tokens, registry: o.metrics.registry });
  const gw = o.gateway;
  healthRoutes(app, async () => gatewayReadiness(gw, o.controlPort()));
  app.get('/v1/status', {
    schema: {
      summary: 'This gateway: calls, port pairs, latching mode, limits',
      response: { 200: { type: 'object', additionalProperties: true } },
    },
  }, async () => ({
    gateway: o.id,
    pid: process.pid,
    control: o.controlPort(),
    calls: gw.calls.size,
    callsMax: gw.config.callsMax,
    timedOut: gw.calls.timedOutIds().length,
    portPairs: { inUse: gw.ports.capacityPairs - gw.ports.freePairs, free: gw.ports.freePairs, range: `${gw.ports.min}-${gw.ports.max}` },
    latching: gw.config.latchMode,
    mediaTimeoutMs: gw.config.mediaTimeoutMs,
  }));
  await app.listen({ host: o.host, port: o.port });
  return app;
}
