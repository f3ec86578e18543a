// The media gateway's admin REST: the common base (bearer tokens, problem bodies, OpenAPI
// at /docs, Prometheus /metrics), its status, and /healthz and /readyz. It listens on the
// cluster file's `gateways[].admin` address (cluster/roles/gateway.ts), beside the ng
// control socket, and runs in the gateway's process; it reads the gateway, never drives it.
import type { FastifyInstance } from 'fastify';
import { createAdminApp, sendProblem } from '../common/admin.js';
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
export function gatewayUnreadyReason(gateway: Gateway, controlPort: number | null): string | null {
  if (controlPort === null) return 'the ng control socket is not bound';
  if (gateway.ports.freePairs === 0) return `no free port pair in ${gateway.ports.min}-${gateway.ports.max}`;
  if (gateway.calls.size >= gateway.config.callsMax) return `the call table is full (${gateway.config.callsMax} calls)`;
  return null;
}

/** GET /healthz (the process answers) and GET /readyz (it can take a call), without a
 * token and without touching the relay. Written here until common/admin.ts has a shared
 * helper for every role; the answers are the same shape. */
export function gatewayHealthRoutes(app: FastifyInstance, unready: () => string | null): void {
  const okSchema = { type: 'object', properties: { status: { type: 'string' } }, required: ['status'] } as const;
  app.get('/healthz', { config: { scope: 'public' }, schema: { summary: 'The process is alive', security: [], response: { 200: okSchema } } }, async () => ({ status: 'ok' }));
  app.get('/readyz', {
    config: { scope: 'public' },
    schema: { summary: 'The gateway can take a call: its ng socket is bound, it has a free port pair and room in its call table', security: [], response: { 200: okSchema, 503: { $ref: 'Problem#' } } },
  }, async (_req, reply) => {
    const reason = unready();
    return reason === null ? { status: 'ready' } : sendProblem(reply, 'ADMIN_ERR_UNAVAILABLE', reason);
  });
}

export async function startGatewayAdmin(o: GatewayAdminOptions): Promise<FastifyInstance> {
  const app = await createAdminApp({ title: `Ringfence media gateway ${o.id}`, tokens: o.tokens, registry: o.metrics.registry });
  const gw = o.gateway;
  gatewayHealthRoutes(app, () => gatewayUnreadyReason(gw, o.controlPort()));
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
