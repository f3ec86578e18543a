// The SIP node's admin REST routes: calls in progress, registrations (read from the
// shards, so any node shows every binding), the queue, gateway health (read scope), and
// the agent routes every node answers (shards/client/agent-routes.ts: routed to the
// shard that owns the DN; here GET /v1/agents lists every shard's agents).
// /metrics and /docs come from createAdminApp.

import type { FastifyInstance } from 'fastify';
import type { Logger } from '../../common/logger.js';
import { agentRoutes } from '../../shards/client/agent-routes.js';
import { serviceRoutes } from '../../shards/client/service-routes.js';
import type { ShardClient } from '../../shards/client/shard-client.js';
import type { Agent } from '../../shards/types.js';
import type { B2bua } from './b2bua.js';
import type { MediaController } from './media.js';

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
}>;

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

  app.get('/v1/gateways', {
    schema: { summary: 'Media gateways as this node sees them', response: { 200: { type: 'object', properties: { gateways: { type: 'array', items: { type: 'object', properties: { id: { type: 'string' }, alive: { type: 'boolean' }, sessions: { type: 'integer' } } } } } } } },
  }, async () => ({ gateways: deps.media.status() }));
}
