// The SIP node's admin REST routes: calls in progress, registrations (read from the
// shards, so any node shows every binding), the queue, gateway health (read scope), and
// the agent routes every node answers (shards/client/agent-routes.ts: routed to the
// shard that owns the DN; here GET /v1/agents lists every shard's agents).
// Service-level figures (GET /v1/services/:number/stats) and CDRs (GET /v1/cdrs) answer
// for the whole cluster by default: this node's own, plus every other SIP node's asked
// with `scope=node` (peer-fanout.ts), the ones that did not answer named in `partial`.
// /metrics and /docs come from createAdminApp; the event stream is events-stream.ts.

import type { FastifyInstance } from 'fastify';
import { sendProblem } from '../../common/admin.js';
import type { Logger } from '../../common/logger.js';
import { agentRoutes } from '../../shards/client/agent-routes.js';
import { serviceRoutes } from '../../shards/client/service-routes.js';
import type { ShardClient } from '../../shards/client/shard-client.js';
import type { Agent } from '../../shards/types.js';
import type { B2bua } from './b2bua.js';
import type { CdrRecord, CdrWriter } from './cdr.js';
import { isProblem, parseCdrQuery, parseInstant, readCdrs, type CdrPage } from './cdr-query.js';
import type { MediaController } from './media.js';
import { fanOut, type Peer } from './peer-fanout.js';
import { addFigures, emptyFigures, type ServiceFigures, type ServiceStats } from './service-stats.js';

const callSchema = {
  type: 'object',
  properties: {
    callId: { type: 'string' },
    service: { type: 'string' },
    from: { type: 'string' },
    phase: { type: 'string' },
    dn: { type: ['string', 'null'] },
    attempts: { type: 'array', items: { type: 'object', properties: { dn: { type: 'string' }, outcome: { type: 'string' } } } },
    startedAt: { type: 'string' },
    answeredAt: { type: ['string', 'null'] },
  },
} as const;

const registrationSchema = {
  type: 'object',
  properties: {
    dn: { type: 'string' },
    shard: { type: 'string' },
    state: { type: 'string' },
    contacts: {
      type: 'array',
      items: { type: 'object', properties: { uri: { type: 'string' }, q: { type: 'number' }, expiresInS: { type: 'integer' } } },
    },
  },
} as const;

export type SipAdminDeps = Readonly<{
  nodeId: string;
  realm: string;
  b2bua: B2bua;
  /** The node's own client (`sip:<id>`), for reads of registrations. */
  shards: ShardClient;
  /** The node's client with principal `admin`, for the agent routes. */
  adminShards: ShardClient;
  media: MediaController;
  log?: Logger;
  /** Service-level figures of this node's calls. */
  stats: ServiceStats;
  /** The configured service numbers and their service-level thresholds, now. */
  services: () => ReadonlyMap<string, number>;
  cdr: CdrWriter;
  /** The other SIP nodes (cluster-wide answers fan out to them) and the read token to use. */
  peers: () => readonly Peer[];
  readToken: string;
}>;

const scopeProperty = { type: 'string', enum: ['cluster', 'node'], description: 'cluster (default): every SIP node\'s figures summed; node: this node\'s own' } as const;
const partialSchema = { type: 'array', items: { type: 'object', properties: { node: { type: 'string' }, error: { type: 'string' } } } } as const;
const figuresSchema = {
  type: 'object',
  properties: {
    ...Object.fromEntries(['offered', 'answered', 'abandoned', 'abandonedQueued', 'answeredWithinSl', 'answerWaitSumMs', 'longestWaitMs', 'waitingNow', 'longestWaitingNowMs'].map((k) => [k, { type: 'integer' }])),
    asaMs: { type: ['integer', 'null'] },
  },
} as const;

type NodeStats = { node: string; since: string; complete: boolean; figures: ServiceFigures };
type NodeCdrs = { node: string; enabled: boolean } & CdrPage;

export async function registerSipAdminRoutes(app: FastifyInstance, deps: SipAdminDeps): Promise<void> {
  await app.register(agentRoutes, {
    client: deps.adminShards,
    realm: deps.realm,
    listShards: deps.adminShards.shardIds,
    servedBy: `sip ${deps.nodeId}`,
    ...(deps.log ? { log: deps.log } : {}),
  });
  await app.register(serviceRoutes, { client: deps.adminShards });
  app.get('/v1/calls', {
    schema: { summary: 'Calls in progress on this node', response: { 200: { type: 'object', properties: { node: { type: 'string' }, calls: { type: 'array', items: callSchema } } } } },
  }, async () => ({ node: deps.nodeId, calls: deps.b2bua.listCalls() }));

  app.get('/v1/queue', {
    schema: {
      summary: 'Calls waiting for an agent, longest-waiting first',
      response: { 200: { type: 'object', properties: { node: { type: 'string' }, queue: { type: 'array', items: { type: 'object', properties: { callId: { type: 'string' }, skill: { type: 'string' }, waitedMs: { type: 'integer' } } } } } } },
    },
  }, async () => ({ node: deps.nodeId, queue: deps.b2bua.listQueue() }));

  app.get('/v1/registrations', {
    schema: {
      summary: 'Every registered agent phone, read from the shards (stale reads)',
      response: { 200: { type: 'object', properties: { registrations: { type: 'array', items: registrationSchema } } } },
    },
  }, async () => {
    // This node reads agents as `sip:<id>`, so they carry digest HA1s (it checks REGISTERs
    // with them): only the fields below are copied out, never `credentials`.
    const now = Date.now();
    const perShard = await Promise.all(
      deps.shards.shardIds.map(async (shard) => {
        const agents = (await deps.shards.read(shard, { type: 'agents', filter: {} }, 'stale')) as Agent[];
        return agents
          .filter((a) => a.contacts.some((c) => c.expiresAtMs > now))
          .map((a) => ({
            dn: a.dn,
            shard,
            state: a.status.state,
            contacts: a.contacts.filter((c) => c.expiresAtMs > now).map((c) => ({ uri: c.uri, q: c.q, expiresInS: Math.round((c.expiresAtMs - now) / 1000) })),
          }));
      }),
    );
    return { registrations: perShard.flat() };
  });

  app.get('/v1/services/:number/stats', {
    schema: {
      summary: 'Service-level figures of a service: offered, answered, abandoned, answered within the service level, average speed of answer, longest waits (README "Service-level figures")',
      params: { type: 'object', properties: { number: { type: 'string', maxLength: 64 } } },
      querystring: { type: 'object', additionalProperties: false, properties: { scope: scopeProperty, since: { type: 'string', description: 'count only what happened since this instant (ISO-8601 or epoch ms); default: since each node started' }, token: { type: 'string' } } },
      response: {
        200: {
          type: 'object',
          properties: {
            service: { type: 'string' }, scope: { type: 'string' }, serviceLevelMs: { type: ['integer', 'null'] }, since: { type: ['string', 'null'] }, complete: { type: 'boolean' },
            figures: figuresSchema,
            nodes: { type: 'array', items: { type: 'object', properties: { node: { type: 'string' }, since: { type: 'string' }, complete: { type: 'boolean' }, figures: figuresSchema } } },
            partial: partialSchema,
          },
        },
        400: { $ref: 'Problem#' }, 404: { $ref: 'Problem#' },
      },
    },
  }, async (req, reply) => {
    const { number } = req.params as { number: string };
    const q = req.query as { scope?: 'cluster' | 'node'; since?: string };
    const sinceMs = q.since === undefined ? undefined : parseInstant(q.since);
    if (sinceMs === null) return sendProblem(reply, 'ADMIN_ERR_BAD_REQUEST', `${JSON.stringify(q.since!.slice(0, 40))} is neither an ISO-8601 date-time nor epoch milliseconds`, 'querystring.since');
    const services = deps.services();
    if (!services.has(number) && !deps.stats.services().includes(number)) return sendProblem(reply, 'ADMIN_ERR_NOT_FOUND', `no service ${number}`, 'params.number');
    const own = deps.stats.figures(number, sinceMs);
    const mine: NodeStats = { node: deps.nodeId, since: new Date(Math.max(sinceMs ?? 0, deps.stats.startedAtMs)).toISOString(), complete: own.complete, figures: own.figures };
    let nodes: NodeStats[] = [mine];
    let partial: { node: string; error: string }[] = [];
    if (q.scope !== 'node') {
      const out = await fanOut<{ nodes: NodeStats[] }>(deps.peers(), `/v1/services/${encodeURIComponent(number)}/stats?scope=node${sinceMs === undefined ? '' : `&since=${sinceMs}`}`, deps.readToken);
      nodes = nodes.concat(out.answers.flatMap((a) => a.body.nodes ?? []));
      partial = out.partial;
    }
    nodes.sort((a, b) => a.node.localeCompare(b.node));
    return {
      service: number,
      scope: q.scope ?? 'cluster',
      serviceLevelMs: services.get(number) ?? null,
      since: sinceMs === undefined ? null : new Date(sinceMs).toISOString(),
      complete: nodes.every((n) => n.complete) && partial.length === 0,
      figures: nodes.reduce((sum, n) => addFigures(sum, n.figures), emptyFigures()),
      nodes,
      partial,
    };
  });

  app.get('/v1/cdrs', {
    schema: {
      summary: 'Call detail records, in the order the calls ended (oldest first), filtered; cluster-wide by default',
      querystring: {
        type: 'object',
        additionalProperties: false,
        properties: {
          from: { type: 'string', description: 'calls started at or after (ISO-8601 or epoch ms)' },
          to: { type: 'string', description: 'calls started before (ISO-8601 or epoch ms)' },
          service: { type: 'string' }, dn: { type: 'string', description: 'the agent that answered' },
          limit: { type: 'string', description: 'at most this many records (1-1000, default 100)' },
          scope: scopeProperty, token: { type: 'string' },
        },
      },
      response: { 400: { $ref: 'Problem#' } },
    },
  }, async (req, reply) => {
    const q = req.query as Record<string, string>;
    const filter = parseCdrQuery(q);
    if (isProblem(filter)) return sendProblem(reply, 'ADMIN_ERR_BAD_REQUEST', filter.detail, filter.field);
    let own: NodeCdrs = { node: deps.nodeId, enabled: deps.cdr.path !== null, cdrs: [], truncated: false, skippedLines: 0 };
    if (deps.cdr.path !== null) {
      await deps.cdr.flush();
      own = { ...own, ...(await readCdrs(deps.cdr.path, filter)) };
    }
    if (q.scope === 'node') return own;
    const forward = new URLSearchParams(Object.entries(q).filter(([k]) => k !== 'token' && k !== 'scope'));
    forward.set('scope', 'node');
    const out = await fanOut<NodeCdrs>(deps.peers(), `/v1/cdrs?${forward}`, deps.readToken);
    const pages = [own, ...out.answers.map((a) => a.body)];
    const all: CdrRecord[] = pages.flatMap((p) => p.cdrs).sort((a, b) => a.endedAt.localeCompare(b.endedAt) || a.node.localeCompare(b.node));
    return {
      cdrs: all.slice(0, filter.limit),
      truncated: all.length > filter.limit || pages.some((p) => p.truncated),
      nodes: pages.map((p) => ({ node: p.node, enabled: p.enabled, count: p.cdrs.length, truncated: p.truncated, skippedLines: p.skippedLines })).sort((a, b) => a.node.localeCompare(b.node)),
      partial: out.partial,
    };
  });

  app.get('/v1/gateways', {
    schema: { summary: 'Media gateways as this node sees them', response: { 200: { type: 'object', properties: { gateways: { type: 'array', items: { type: 'object', properties: { id: { type: 'string' }, alive: { type: 'boolean' }, sessions: { type: 'integer' } } } } } } } },
  }, async () => ({ gateways: deps.media.status() }));
}
