// The agent routes of the admin REST (a fastify plugin), served alike on every node: a
// shard replica of any shard and a SIP node. Each request goes to the shard that owns the
// DN under the replicated shard map, through one ShardClient per node that authenticates
// as `admin` (rpc/policy.ts) — the node has checked the admin or read bearer token first.
// The client keeps one connection per replica and follows leader hints and map refusals
// (SHARD_ERR_WRONG_SHARD), so no request opens a connection of its own.
//
// A replica reads the DNs its own shard owns from its local state after a ReadIndex round
// (`readLocal`), as it always did; every other read goes over the shard RPC, linearizable
// unless `?consistency=stale`. No route returns a digest HA1: the `admin` principal never
// receives them, and a local read is redacted here.
//
// DELETE /v1/agents/:dn deprovisions. An agent RESERVED or BUSY is refused with 409 (the
// shard's SHARD_ERR_AGENT_RESERVED / _BUSY): deleting it would strand the call and the
// SIP node's grant. The operator frees it first (POST .../release), then deletes.
import type { FastifyInstance, FastifyReply } from 'fastify';
import { AdminError, sendProblem } from '../../common/admin.js';
import type { Logger } from '../../common/logger.js';
import { digestCredentials } from '../digest-credentials.js';
import { adminCommandDeadlineMs, adminReadTimeoutMs, agentNameCharsMax, skillLevelMax, skillsPerAgentMax, wrapUpMsMax } from '../limits.js';
import { readWithoutHa1, withoutHa1 } from '../rpc/policy.js';
import type { Consistency, ShardQuery } from '../rpc/protocol.js';
import type { Agent, Command, ShardResult } from '../types.js';
import { agentStateNames } from '../types.js';
import { ShardClientError, type ShardClient } from './shard-client.js';

export type AgentRoutesDeps = Readonly<{
  /** This node's client with principal `admin`, made once per node. */
  client: ShardClient;
  /** The cluster's digest realm (PUT with a password stores HA1s for it). */
  realm: string;
  /** Which shards `GET /v1/agents` lists: a replica its own, a SIP node every shard. */
  listShards: readonly string[];
  /** A replica's read of its own shard, served locally; null for other shards. */
  readLocal?: (shardId: string, query: ShardQuery, consistency: Consistency) => Promise<unknown> | null;
  /** Who serves the request, for the release audit line (`shard s1 replica s1-a`, `sip sip1`). */
  servedBy: string;
  log?: Logger;
}>;

const dnParam = { type: 'object', properties: { dn: { type: 'string', pattern: '^[0-9]{1,32}$' } }, required: ['dn'] } as const;
const consistencyQuery = { consistency: { type: 'string', enum: ['linearizable', 'stale'] } } as const;
const agentSchema = { type: 'object', additionalProperties: true } as const;
const problemRef = { $ref: 'Problem#' } as const;
const errors = { 400: problemRef, 401: problemRef, 403: problemRef, 404: problemRef, 409: problemRef, 421: problemRef, 502: problemRef, 503: problemRef, 504: problemRef } as const;
const where = 'Answered on every node (any replica of any shard, any SIP node): routed to the shard that owns the DN.';

export async function agentRoutes(app: FastifyInstance, deps: AgentRoutesDeps): Promise<void> {
  const { client } = deps;

  const readShard = async (shardId: string, query: ShardQuery, consistency: unknown): Promise<unknown> => {
    const c: Consistency = consistency === 'stale' ? 'stale' : 'linearizable';
    try {
      const local = deps.readLocal?.(shardId, query, c) ?? null;
      return readWithoutHa1(await (local ?? client.read(shardId, query, c, { deadlineMs: adminReadTimeoutMs })));
    } catch (err) {
      throw toAdminError(err);
    }
  };
  const readAgent = async (dn: string, consistency: unknown): Promise<Agent> => (await readShard(client.shardFor(dn), { type: 'agent', dn }, consistency)) as Agent;

  const run = async (reply: FastifyReply, dn: string, command: Command): Promise<unknown> => {
    let result: ShardResult;
    try {
      result = await client.command(dn, command, { deadlineMs: adminCommandDeadlineMs });
    } catch (err) {
      throw toAdminError(err);
    }
    if (!result.ok) return sendProblem(reply, result.code, result.reason, result.code === 'SHARD_ERR_UNKNOWN_DN' ? 'params.dn' : undefined);
    if (result.type === 'agent' || result.type === 'reserved') return withoutHa1(result.agent);
    if (result.type === 'deprovisioned') return { dn: result.dn, deprovisioned: true };
    return readAgent(dn, 'linearizable');
  };

  app.get('/v1/agents', {
    schema: {
      summary: 'Agents, optionally by state and skill: on a replica its own shard\'s, on a SIP node every shard\'s',
      querystring: { type: 'object', additionalProperties: false, properties: { state: { type: 'string', enum: [...agentStateNames] }, skill: { type: 'string', pattern: '^[A-Za-z0-9_.-]{1,64}$' }, ...consistencyQuery, token: { type: 'string' } } },
      response: { 200: { type: 'array', items: agentSchema }, ...errors },
    },
  }, async (req) => {
    const q = req.query as { state?: Agent['status']['state']; skill?: string; consistency?: string };
    const filter = { ...(q.state ? { state: q.state } : {}), ...(q.skill ? { skill: q.skill } : {}) };
    const perShard = await Promise.all(deps.listShards.map((s) => readShard(s, { type: 'agents', filter }, q.consistency) as Promise<Agent[]>));
    return perShard.flat();
  });

  app.get('/v1/agents/:dn', {
    schema: { summary: 'One agent', description: where, params: dnParam, querystring: { type: 'object', additionalProperties: false, properties: { ...consistencyQuery, token: { type: 'string' } } }, response: { 200: agentSchema, ...errors } },
  }, async (req) => {
    const { dn } = req.params as { dn: string };
    return readAgent(dn, (req.query as { consistency?: string }).consistency);
  });

  app.put('/v1/agents/:dn', {
    config: { scope: 'admin' },
    schema: {
      summary: 'Provision (create or update) an agent',
      description: where,
      params: dnParam,
      body: {
        type: 'object',
        additionalProperties: false,
        required: ['name'],
        properties: {
          name: { type: 'string', minLength: 1, maxLength: agentNameCharsMax },
          skills: { type: 'object', additionalProperties: { type: 'integer', minimum: 0, maximum: skillLevelMax }, propertyNames: { pattern: '^[A-Za-z0-9_.-]{1,64}$' }, maxProperties: skillsPerAgentMax },
          wrapUpMs: { type: 'integer', minimum: 0, maximum: wrapUpMsMax },
          maxNoAnswer: { type: 'integer', minimum: 0, maximum: 1000 },
          password: { type: 'string', minLength: 4, maxLength: 128 },
        },
      },
      response: { 200: agentSchema, ...errors },
    },
  }, async (req, reply) => {
    const { dn } = req.params as { dn: string };
    const b = req.body as { name: string; skills?: Record<string, number>; wrapUpMs?: number; maxNoAnswer?: number; password?: string };
    const credentials = b.password ? digestCredentials(dn, deps.realm, b.password) : null;
    return run(reply, dn, { type: 'provision', dn, name: b.name, skills: b.skills ?? {}, wrapUpMs: b.wrapUpMs ?? 0, maxNoAnswer: b.maxNoAnswer ?? 0, credentials });
  });

  app.delete('/v1/agents/:dn', {
    config: { scope: 'admin' },
    schema: {
      summary: 'Deprovision an agent (refused with 409 while it is RESERVED or BUSY: release it first)',
      description: where,
      params: dnParam,
      response: { 200: { type: 'object', properties: { dn: { type: 'string' }, deprovisioned: { type: 'boolean' } }, required: ['dn', 'deprovisioned'] }, ...errors },
    },
  }, async (req, reply) => {
    const { dn } = req.params as { dn: string };
    return run(reply, dn, { type: 'deprovision', dn });
  });

  app.post('/v1/agents/:dn/state', {
    config: { scope: 'admin' },
    schema: {
      summary: 'Change an agent state: log in/out, READY, NOT_READY with a reason',
      description: where,
      params: dnParam,
      body: {
        type: 'object',
        additionalProperties: false,
        required: ['state'],
        properties: { state: { type: 'string', enum: ['LOGGED_OUT', 'NOT_READY', 'READY'] }, reason: { type: 'string', minLength: 1, maxLength: 128 } },
      },
      response: { 200: agentSchema, ...errors },
    },
  }, async (req, reply) => {
    const { dn } = req.params as { dn: string };
    const b = req.body as { state: 'LOGGED_OUT' | 'NOT_READY' | 'READY'; reason?: string };
    if (b.state === 'LOGGED_OUT') return run(reply, dn, { type: 'logout', dn });
    const current = await readAgent(dn, 'linearizable');
    if (current.status.state === 'LOGGED_OUT') {
      const loggedIn = await run(reply, dn, { type: 'login', dn });
      if (reply.sent) return loggedIn;
    }
    if (b.state === 'READY') return run(reply, dn, { type: 'ready', dn });
    return run(reply, dn, { type: 'notReady', dn, reason: b.reason ?? 'unspecified' });
  });

  // The operator's last resort for an agent held by a call that no longer exists (a SIP
  // node that cannot reach the shard to release it, a bug): frees the agent into its
  // wrap-up as a failed call. Audited: who asked, from where, through which node, and why.
  app.post('/v1/agents/:dn/release', {
    config: { scope: 'admin' },
    schema: {
      summary: 'Free an agent held by a reservation or call (RESERVED or BUSY) into WRAP_UP',
      description: where,
      params: dnParam,
      body: {
        type: 'object',
        additionalProperties: false,
        required: ['reason'],
        properties: {
          reason: { type: 'string', minLength: 1, maxLength: 128, description: 'why, for the audit log' },
          reservationId: { type: 'string', minLength: 1, maxLength: 128, description: 'release only if the agent still holds this reservation' },
        },
      },
      response: { 200: agentSchema, ...errors },
    },
  }, async (req, reply) => {
    const { dn } = req.params as { dn: string };
    const b = req.body as { reason: string; reservationId?: string };
    const { status } = await readAgent(dn, 'linearizable');
    if (status.state !== 'RESERVED' && status.state !== 'BUSY') {
      return sendProblem(reply, 'SHARD_ERR_STALE_RESERVATION', `agent ${dn} is ${status.state}: it holds no reservation or call`, 'params.dn');
    }
    if (b.reservationId !== undefined && b.reservationId !== status.reservation.reservationId) {
      return sendProblem(reply, 'SHARD_ERR_STALE_RESERVATION', `agent ${dn} holds reservation ${status.reservation.reservationId}, not ${b.reservationId}`, 'body.reservationId');
    }
    deps.log?.warn('agent released by an operator', {
      dn, reservationId: status.reservation.reservationId, owner: status.reservation.owner, callId: status.reservation.callId,
      was: status.state, by: 'admin token', via: deps.servedBy, remote: req.ip, reason: b.reason,
    });
    return run(reply, dn, { type: 'release', dn, reservationId: status.reservation.reservationId, outcome: 'failed' });
  });
}

/** A failure as the problem the admin REST answers with (an unknown DN names the field). */
export function toAdminError(err: unknown): Error {
  if (err instanceof AdminError) return err;
  const e = err as { code?: unknown; message?: string };
  if (err instanceof ShardClientError || typeof e.code === 'string') {
    const code = String(e.code);
    return new AdminError(code, e.message ?? code, code === 'SHARD_ERR_UNKNOWN_DN' ? 'params.dn' : undefined);
  }
  return err as Error;
}
