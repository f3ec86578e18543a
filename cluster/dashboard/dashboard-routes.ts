// The operator dashboard, served by any node's admin REST:
//   GET /              the page (public shell: it holds no data; it asks for the token)
//   GET /v1/dashboard  one snapshot as JSON (read scope)
//   GET /v1/events     the live stream (read scope, `?token=` since EventSource cannot set
//                      headers): an SSE `snapshot` event per poll
// The server polls the cluster once per `pollIntervalMs` only while a browser watches, and
// every watcher gets the same snapshot, so N browsers cost the cluster one poll.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import { sendProblem } from '../../common/admin.js';
import { clusterViewSchema, type ClusterViewOptions } from '../cluster-view.js';
import { pollIntervalMs, sseBufferBytesMax, sseClientsMax, sseSkipsMax } from './limits.js';
import { SnapshotSource, type Snapshot } from './snapshot-source.js';
import { SseHub } from './sse-hub.js';

export type DashboardOptions = ClusterViewOptions & Readonly<{ pollIntervalMs?: number; sseClientsMax?: number }>;

const row = { type: 'object', additionalProperties: true } as const;
export const snapshotSchema = {
  type: 'object',
  required: ['seq', 'generatedAt', 'cluster', 'agents', 'calls', 'queue', 'reservations', 'failovers'],
  properties: {
    seq: { type: 'integer' },
    generatedAt: { type: 'string' },
    cluster: clusterViewSchema,
    agents: {
      type: 'object',
      required: ['counts', 'total', 'list', 'truncated', 'staleShards'],
      properties: {
        counts: { type: 'object', additionalProperties: { type: 'integer' } },
        total: { type: 'integer' },
        list: {
          type: 'array',
          items: {
            type: 'object',
            properties: {
              dn: { type: 'string' },
              name: { type: 'string' },
              shard: { type: 'string' },
              state: { type: 'string' },
              detail: { type: ['string', 'null'] },
              readySinceMs: { type: ['integer', 'null'] },
              callsAnswered: { type: 'integer' },
            },
          },
        },
        truncated: { type: 'boolean' },
        staleShards: { type: 'array', items: { type: 'string' } },
      },
    },
    calls: { type: 'array', items: row },
    queue: { type: 'array', items: row },
    services: { type: 'array', items: row },
    reservations: {
      type: 'object',
      properties: { perSecond: { type: 'number' }, total: { type: 'integer' }, history: { type: 'array', items: { type: 'number' } } },
    },
    failovers: {
      type: 'object',
      properties: {
        count: { type: 'integer' },
        recent: {
          type: 'array',
          items: { type: 'object', properties: { shard: { type: 'string' }, from: { type: 'string' }, to: { type: 'string' }, term: { type: ['integer', 'null'] }, atMs: { type: 'integer' }, at: { type: 'string' } } },
        },
      },
    },
  },
} as const;

function loadPage(): { html: string; csp: string } {
  const html = readFileSync(new URL('./index.html', import.meta.url), 'utf8');
  // The page is self-contained: only its own inline script and style may run, and it may
  // talk only to this origin. Hashing the script avoids 'unsafe-inline' for scripts.
  const scripts = [...html.matchAll(/<script>([\s\S]*?)<\/script>/g)].map((m) => `'sha256-${createHash('sha256').update(m[1]!).digest('base64')}'`);
  const csp = `default-src 'none'; script-src ${scripts.join(' ')}; style-src 'unsafe-inline'; connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`;
  return { html, csp };
}

export async function dashboardRoutes(app: FastifyInstance, opts: DashboardOptions): Promise<void> {
  const page = loadPage();
  const intervalMs = opts.pollIntervalMs ?? pollIntervalMs;
  const source = new SnapshotSource(opts);
  const hub = new SseHub({ clientsMax: opts.sseClientsMax ?? sseClientsMax, bufferBytesMax: sseBufferBytesMax, skipsMax: sseSkipsMax });
  let latest: Snapshot | null = null;
  let polling: Promise<void> | null = null;
  const stop = new AbortController();
  let inflight: Promise<Snapshot> | null = null;
  // The poller and /v1/dashboard share one collection in flight at a time.
  const collect = (): Promise<Snapshot> => (inflight ??= source.collect().then((s) => (latest = s)).finally(() => { inflight = null; }));

  const poll = async (): Promise<void> => {
    while (hub.size > 0 && !stop.signal.aborted) {
      const started = Date.now();
      try {
        const snapshot = await collect();
        hub.broadcast('snapshot', snapshot.seq, snapshot);
      } catch (err) {
        hub.broadcast('problem', latest?.seq ?? 0, { detail: (err as Error).message });
      }
      const waitMs = Math.max(0, started + intervalMs - Date.now());
      await new Promise<void>((resolve) => {
        const wake = (): void => {
          clearTimeout(timer);
          stop.signal.removeEventListener('abort', wake);
          resolve();
        };
        const timer = setTimeout(wake, waitMs);
        stop.signal.addEventListener('abort', wake);
      });
    }
  };
  const ensurePolling = (): void => {
    polling ??= poll().finally(() => { polling = null; });
  };

  app.addHook('preClose', async () => {
    // Hijacked SSE responses would hold server.close() open forever: end them first.
    stop.abort();
    hub.closeAll();
  });
  app.addHook('onClose', async () => {
    await polling;
    source.close();
  });

  app.get('/', { config: { scope: 'public' }, schema: { hide: true } }, async (_req, reply) => {
    return reply
      .type('text/html; charset=utf-8')
      .header('content-security-policy', page.csp)
      .header('referrer-policy', 'no-referrer')
      .header('x-content-type-options', 'nosniff')
      .header('cache-control', 'no-store')
      .send(page.html);
  });

  app.get('/v1/dashboard', {
    config: { scope: 'read' },
    schema: {
      summary: 'One dashboard snapshot: topology, agents by state, calls, queue, reservations/s, failovers',
      querystring: { type: 'object', additionalProperties: false, properties: { token: { type: 'string' } } },
      response: { 200: snapshotSchema, 401: { $ref: 'Problem#' } },
    },
  }, async () => {
    const fresh = latest !== null && Date.now() - Date.parse(latest.generatedAt) < 2 * intervalMs;
    return fresh ? latest : collect();
  });

  app.get('/v1/events', {
    config: { scope: 'read' },
    schema: {
      summary: 'Live dashboard snapshots as Server-Sent Events (`event: snapshot`), one per poll',
      querystring: { type: 'object', additionalProperties: false, properties: { token: { type: 'string' } } },
      response: { 401: { $ref: 'Problem#' }, 503: { $ref: 'Problem#' } },
    },
  }, async (req, reply) => {
    if (hub.full || stop.signal.aborted) {
      reply.header('retry-after', '5');
      return sendProblem(reply, 'ADMIN_ERR_UNAVAILABLE', `the dashboard stream has its maximum of ${opts.sseClientsMax ?? sseClientsMax} viewers`);
    }
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive', 'x-accel-buffering': 'no' });
    res.write(`retry: ${Math.max(1000, intervalMs * 2)}\n\n`);
    hub.add(res);
    if (latest !== null) hub.sendTo(res, 'snapshot', latest.seq, latest);
    ensurePolling();
    req.log.debug?.('dashboard viewer joined');
  });
}
