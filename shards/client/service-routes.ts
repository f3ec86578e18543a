// The service routes of the admin REST (a fastify plugin), served alike on every node: a
// shard replica of any shard and a SIP node. A service's definition lives on the shard
// that owns its number (shardOf(number), the shard of its queue): reads and writes go
// there through the node's `admin` ShardClient, as the agent routes do for DNs.
//
// PUT validates its body with the cluster file's own parser (common/config.ts
// parseService), so a bad value gets a 400 problem naming the field as the file's error
// would (`body.maxWaitMs`). An overflow to another service must name one that exists.
// GET shows the definition in force: the cluster file's services only seed it (written
// when absent, by each SIP node at start), so an edit made here survives restarts.
// `GET /v1/services/:number/stats` is another route (the SIP node's figures).
import type { FastifyInstance, FastifyReply } from 'fastify';
import { AdminError, sendProblem } from '../../common/admin.js';
import { ConfigError, parseService, type ServiceDefinition } from '../../common/config.js';
import { adminCommandDeadlineMs, adminReadTimeoutMs } from '../limits.js';
import type { Consistency, ServicesSnapshot, ShardQuery } from '../rpc/protocol.js';
import type { Command, ShardResult } from '../types.js';
import { toAdminError } from './agent-routes.js';
import type { ShardClient } from './shard-client.js';

export type ServiceRoutesDeps = Readonly<{
  /** This node's client with principal `admin`. */
  client: ShardClient;
  /** A replica's read of its own shard, served locally; null for other shards. */
  readLocal?: (shardId: string, query: ShardQuery, consistency: Consistency) => Promise<unknown> | null;
}>;

const numberParam = { type: 'object', properties: { number: { type: 'string', pattern: '^[0-9*#+]{1,64}$' } }, required: ['number'] } as const;
const consistencyQuery = { type: 'object', additionalProperties: false, properties: { consistency: { type: 'string', enum: ['linearizable', 'stale'] }, token: { type: 'string' } } } as const;
const problemRef = { $ref: 'Problem#' } as const;
const errors = { 400: problemRef, 401: problemRef, 403: problemRef, 404: problemRef, 421: problemRef, 502: problemRef, 503: problemRef, 504: problemRef, 507: problemRef } as const;
const nullableInt = { type: ['integer', 'null'] } as const;
/** The OpenAPI shape of a definition (parseService is the validator; this documents it). */
export const serviceSchema = {
  type: 'object',
  properties: {
    number: { type: 'string' },
    skill: { type: 'string' },
    minLevel: { type: 'integer' },
    strategy: { type: ['string', 'null'], enum: ['longest-idle', 'fewest-calls', 'round-robin', 'skill-ranked', null] },
    priority: { type: 'integer', minimum: 0, maximum: 100 },
    maxWaitMs: nullableInt,
    maxQueueLength: nullableInt,
    overflow: { type: ['object', 'null'], properties: { service: { type: 'string' }, status: { type: 'integer', enum: [480, 486, 503] } } },
    wrapUpMs: nullableInt,
    ringTimeoutMs: nullableInt,
    serviceLevelMs: { type: 'integer' },
    announcements: { type: ['object', 'null'], properties: { music: { type: ['string', 'null'] }, everyMs: { type: 'integer' }, position: { type: 'boolean' }, estimatedWait: { type: 'boolean' } } },
  },
  required: ['number', 'skill', 'minLevel', 'strategy', 'priority', 'maxWaitMs', 'maxQueueLength', 'overflow', 'wrapUpMs', 'ringTimeoutMs', 'serviceLevelMs', 'announcements'],
} as const;
const where = 'Answered on every node (any replica of any shard, any SIP node): routed to the shard that owns the service number.';

export async function serviceRoutes(app: FastifyInstance, deps: ServiceRoutesDeps): Promise<void> {
  const { client } = deps;

  const readServices = async (shardId: string, consistency: unknown): Promise<readonly ServiceDefinition[]> => {
    const c: Consistency = consistency === 'stale' ? 'stale' : 'linearizable';
    const query: ShardQuery = { type: 'services' };
    try {
      const local = deps.readLocal?.(shardId, query, c) ?? null;
      return ((await (local ?? client.read(shardId, query, c, { deadlineMs: adminReadTimeoutMs }))) as ServicesSnapshot).services;
    } catch (err) {
      throw toAdminError(err);
    }
  };
  const readService = async (number: string, consistency: unknown): Promise<ServiceDefinition | undefined> => (await readServices(client.shardFor(number), consistency)).find((d) => d.number === number);
  const notFound = (reply: FastifyReply, number: string): FastifyReply => sendProblem(reply, 'ADMIN_ERR_NOT_FOUND', `no service ${number}`, 'params.number');

  const run = async (number: string, command: Command): Promise<ShardResult> => {
    try {
      return await client.command(number, command, { deadlineMs: adminCommandDeadlineMs });
    } catch (err) {
      throw toAdminError(err);
    }
  };

  app.get('/v1/services', {
    schema: { summary: 'Every service definition in force, sorted by number', description: where, querystring: consistencyQuery, response: { 200: { type: 'array', items: serviceSchema }, ...errors } },
  }, async (req) => {
    const perShard = await Promise.all(client.shardIds.map((s) => readServices(s, (req.query as { consistency?: string }).consistency)));
    return perShard.flat().sort((a, b) => (a.number < b.number ? -1 : a.number > b.number ? 1 : 0));
  });

  app.get('/v1/services/:number', {
    schema: { summary: 'One service definition (the one in force)', description: where, params: numberParam, querystring: consistencyQuery, response: { 200: serviceSchema, ...errors } },
  }, async (req, reply) => {
    const { number } = req.params as { number: string };
    return (await readService(number, (req.query as { consistency?: string }).consistency)) ?? notFound(reply, number);
  });

  app.put('/v1/services/:number', {
    config: { scope: 'admin' },
    schema: {
      summary: 'Create or replace a service definition; every SIP node applies it to calls set up from then on, without a restart',
      description: `${where} The body is a service as written in the cluster file's services list (number optional, must match the path); fields left out take their defaults. A bad value is a 400 problem naming the field.`,
      params: numberParam,
      body: { type: 'object' },
      response: { 200: serviceSchema, ...errors },
    },
  }, async (req, reply) => {
    const { number } = req.params as { number: string };
    const body = req.body as Record<string, unknown>;
    if (body.number !== undefined && body.number !== number) return sendProblem(reply, 'ADMIN_ERR_BAD_REQUEST', `body.number ${JSON.stringify(body.number)} differs from the path's ${number}`, 'body.number');
    let definition: ServiceDefinition;
    try {
      definition = parseService({ ...body, number }, 'body');
    } catch (err) {
      if (err instanceof ConfigError) return sendProblem(reply, 'ADMIN_ERR_BAD_REQUEST', err.message, err.field);
      throw err;
    }
    const overflowTo = definition.overflow !== null && 'service' in definition.overflow ? definition.overflow.service : null;
    if (overflowTo !== null && (await readService(overflowTo, 'linearizable')) === undefined) {
      return sendProblem(reply, 'ADMIN_ERR_BAD_REQUEST', `no service ${overflowTo} to overflow to (define it first)`, 'body.overflow.service');
    }
    const r = await run(number, { type: 'putService', definition, ifAbsent: false });
    if (!r.ok) throw new AdminError(r.code, r.reason);
    return r.type === 'service' ? r.definition : definition;
  });

  app.delete('/v1/services/:number', {
    config: { scope: 'admin' },
    schema: {
      summary: 'Delete a service definition: new calls to the number get 404 (calls already queued stay queued). A SIP node whose cluster file lists it seeds it again when it starts.',
      description: where,
      params: numberParam,
      response: { 200: { type: 'object', properties: { number: { type: 'string' }, deleted: { type: 'boolean' } }, required: ['number', 'deleted'] }, ...errors },
    },
  }, async (req, reply) => {
    const { number } = req.params as { number: string };
    const r = await run(number, { type: 'deleteService', number });
    if (!r.ok) throw new AdminError(r.code, r.reason);
    if (r.type === 'serviceDeleted' && !r.removed) return notFound(reply, number);
    return { number, deleted: true };
  });
}
