// The shard replica's admin REST routes (a fastify plugin). Reads are served from this
// replica after a ReadIndex round (linearizable) unless `?consistency=stale`. Writes go
// through the shard client, which finds the leader: a follower forwards every write.
// The agent routes (client/agent-routes.ts) answer for every DN, whichever shard owns it.
// Raft operations that only a leader can start (transfer, membership) are forwarded to
// the leader's admin endpoint with the caller's own token.
//
// No route returns a digest HA1, whichever token asks: an agent's `credentials` come back
// as {user, realm} when set (so an operator sees that the phone can register, and as
// whom) and null when not. The hashes are password-equivalent for digest (RFC 7616 §5.11)
// and only the SIP nodes need them, over the authenticated shard RPC (rpc/policy.ts).
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AdminError, sendProblem } from '../../common/admin.js';
import { formatHostPort, hostPortOf, type ClusterConfig, type ShardConfig } from '../../common/config.js';
import type { Logger } from '../../common/logger.js';
import { RaftGroupError } from '../../raft/errors.js';
import { agentRoutes, toAdminError } from '../client/agent-routes.js';
import { serviceRoutes } from '../client/service-routes.js';
import type { ShardClient } from '../client/shard-client.js';
import { readWithoutHa1 } from '../rpc/policy.js';
import { adminCommandDeadlineMs, adminForwardTimeoutMs, adminPromoteDeadlineMs, adminMembershipRetryMs, adminReadTimeoutMs } from '../limits.js';
import type { MemberPlacement, ShardResult } from '../types.js';
import { checkRaftAddress } from '../commands.js';
import type { ShardNode } from './shard-node.js';

const consistencyQuery = { consistency: { type: 'string', enum: ['linearizable', 'stale'] } } as const;
const reservationsQuery = { type: 'object', additionalProperties: false, properties: { ...consistencyQuery, token: { type: 'string' } } } as const;
const reservationsBody = { type: 'array', items: { type: 'object', additionalProperties: true } } as const;
const memberId = { type: 'string', pattern: '^[A-Za-z0-9_.-]{1,64}$' } as const;
const hostPort = { type: 'string', pattern: '^[A-Za-z0-9.\\-\\[\\]:]+:[0-9]{1,5}$', maxLength: 262 } as const;
const memberBody = {
  type: 'object',
  additionalProperties: false,
  required: ['id'],
  properties: { id: memberId, store: memberId, raft: hostPort, client: hostPort, admin: hostPort, promote: { type: 'boolean' } },
} as const;
const transferBody = { type: 'object', additionalProperties: false, required: ['to'], properties: { to: { type: 'string', minLength: 1, maxLength: 64 } } } as const;

/** A read of a hosted replica as the admin routes answer it: the ?consistency asked for
 * (linearizable unless 'stale'), HA1 hashes left out, Raft errors as problem bodies. */
async function readReplica(node: ShardNode, q: Parameters<ShardNode['read']>[0], consistency: unknown): Promise<unknown> {
  try {
    return readWithoutHa1(await node.read(q, consistency === 'stale' ? 'stale' : 'linearizable', adminReadTimeoutMs));
  } catch (err) {
    throw toAdminError(err);
  }
}
const problemRef = { $ref: 'Problem#' } as const;
const errors = { 400: problemRef, 401: problemRef, 403: problemRef, 404: problemRef, 409: problemRef, 503: problemRef, 504: problemRef } as const;

export type ShardAdminDeps = Readonly<{ node: ShardNode; client: ShardClient; config: ClusterConfig; shard: ShardConfig; log?: Logger }>;

/** One hosted replica as the per-replica routes see it. */
export type HostedReplica = Readonly<{ node: ShardNode; shard: ShardConfig }>;

/** A stand-alone replica's routes: its status and Raft operations under /v1, and the
 * agent and service routes of the whole cluster. */
export async function shardAdminRoutes(app: FastifyInstance, deps: ShardAdminDeps): Promise<void> {
  const { node, client, shard } = deps;
  const hosted: HostedReplica = { node, shard };
  await replicaRoutes(app, { base: '/v1', memberParam: 'id', hosted: () => hosted, client, config: deps.config, ...(deps.log ? { log: deps.log } : {}) });
  const readLocal: ReadLocal = (shardId, q, consistency) => (shardId === shard.id ? node.read(q, consistency, adminReadTimeoutMs) : null);
  await agentRoutes(app, {
    client,
    realm: deps.config.realm,
    listShards: [shard.id],
    // This shard's DNs are read here, after a ReadIndex round (or stale); other shards'
    // over the shard RPC.
    readLocal,
    servedBy: `shard ${shard.id} replica ${node.replicaId}`,
    ...(deps.log ? { log: deps.log } : {}),
  });
  await serviceRoutes(app, { client, readLocal });
}

export type StoreShardRoutesDeps = Readonly<{
  storeId: string;
  /** Every replica the store hosts, by shard id. */
  hosted: ReadonlyMap<string, HostedReplica>;
  client: ShardClient;
  config: ClusterConfig;
  log?: Logger;
}>;

/** A store's per-replica routes under /v1/shards/:id/... (the same bodies as a
 * stand-alone replica's /v1/...), and the agent and service routes, reading the shards
 * this store hosts here and the others over the shard RPC. */
export async function storeShardRoutes(app: FastifyInstance, deps: StoreShardRoutesDeps): Promise<void> {
  const { hosted, client } = deps;
  await replicaRoutes(app, {
    base: '/v1/shards/:id',
    memberParam: 'member',
    hosted: (params) => {
      const id = params.id ?? '';
      const h = hosted.get(id);
      if (h === undefined) throw new AdminError('ADMIN_ERR_NOT_FOUND', `store ${deps.storeId} hosts no replica of shard ${JSON.stringify(id)} (it hosts ${hosted.size} shards; see /v1/status)`, 'params.id');
      return h;
    },
    client,
    config: deps.config,
    ...(deps.log ? { log: deps.log } : {}),
  });
  await oldReplicaRoutes(app, deps);
  const readLocal: ReadLocal = (shardId, q, consistency) => hosted.get(shardId)?.node.read(q, consistency, adminReadTimeoutMs) ?? null;
  await agentRoutes(app, {
    client,
    realm: deps.config.realm,
    listShards: [...hosted.keys()],
    readLocal,
    servedBy: `store ${deps.storeId}`,
    ...(deps.log ? { log: deps.log } : {}),
  });
  await serviceRoutes(app, { client, readLocal });
}

/** A stand-alone replica's routes name no shard. On a store they keep working: a member
 * id names its shard (replica ids are the cluster file's, one shard each), so the Raft
 * operations answer 307 to the shard's own route, method and body kept; the reservations
 * are every hosted shard's, each item naming its shard. Adding a member is refused as on
 * the shard's route: placement is the cluster file's. */
async function oldReplicaRoutes(app: FastifyInstance, deps: StoreShardRoutesDeps): Promise<void> {
  const { hosted } = deps;
  /** The hosted shard `member` belongs to: by the cluster file's placement, else by a
   * group's live membership (building each group's status only when the file names none). */
  const shardOfMember = (member: string): HostedReplica | null => {
    for (const h of hosted.values()) if (h.shard.replicas.some((r) => r.id === member)) return h;
    for (const h of hosted.values()) {
      const conf = h.node.status().conf;
      if (conf.voters.includes(member) || conf.learners.includes(member)) return h;
    }
    return null;
  };
  /** The hosted shard a new replica id `<shard>-<store>` names (the cluster file's scheme). */
  const shardOfNewMember = (member: string): HostedReplica | null => {
    const known = shardOfMember(member);
    if (known !== null) return known;
    const cut = member.lastIndexOf('-');
    return cut > 0 ? hosted.get(member.slice(0, cut)) ?? null : null;
  };
  const shardPath = (h: HostedReplica, rest: string): string => `/v1/shards/${encodeURIComponent(h.shard.id)}/${rest}`;

  app.get('/v1/reservations', {
    schema: { summary: 'Reservations and calls held on every shard this store hosts (each item names its shard)', querystring: reservationsQuery, response: { 200: reservationsBody, ...errors } },
  }, async (req) => {
    const consistency = (req.query as { consistency?: string }).consistency;
    const perShard = await Promise.all([...hosted.values()].map(async (h) => {
      const items = (await readReplica(h.node, { type: 'reservations' }, consistency)) as Record<string, unknown>[];
      return items.map((r) => ({ shard: h.shard.id, ...r }));
    }));
    return perShard.flat();
  });

  app.post('/v1/leader/transfer', {
    config: { scope: 'admin' },
    schema: {
      summary: 'Hand leadership of the shard whose replica `to` is to that replica (307 to /v1/shards/:id/leader/transfer)',
      body: transferBody,
      response: { ...errors },
    },
  }, async (req, reply) => {
    const { to } = req.body as { to: string };
    const h = shardOfMember(to);
    if (h === null) throw new AdminError('ADMIN_ERR_BAD_REQUEST', `no shard store ${deps.storeId} hosts has a replica ${JSON.stringify(to)}`, 'body.to');
    return reply.redirect(shardPath(h, 'leader/transfer'), 307);
  });

  app.delete('/v1/members/:id', {
    config: { scope: 'admin' },
    schema: {
      summary: 'Remove a replica from its shard (307 to /v1/shards/:id/members/:member)',
      params: { type: 'object', properties: { id: memberId }, required: ['id'] },
      response: { ...errors },
    },
  }, async (req, reply) => {
    const member = (req.params as { id: string }).id;
    const h = shardOfMember(member);
    if (h === null) throw new AdminError('ADMIN_ERR_NOT_FOUND', `${member} is not a member of any shard store ${deps.storeId} hosts`, 'params.id');
    return reply.redirect(shardPath(h, `members/${encodeURIComponent(member)}`), 307);
  });

  app.post('/v1/members', {
    config: { scope: 'admin' },
    schema: {
      summary: 'Add a replica to the shard its id names (307 to /v1/shards/:id/members)',
      body: memberBody,
      response: { ...errors },
    },
  }, async (req, reply) => {
    const { id } = req.body as { id: string };
    const h = shardOfNewMember(id);
    if (h === null) throw new AdminError('ADMIN_ERR_BAD_REQUEST', `${JSON.stringify(id)} names no shard store ${deps.storeId} hosts: a new replica's id is <shard>-<store> (s3-d for shard s3 on store d), or use POST /v1/shards/:id/members`, 'body.id');
    return reply.redirect(shardPath(h, 'members'), 307);
  });
}

type ReadLocal = (shardId: string, q: Parameters<ShardNode['read']>[0], consistency: Parameters<ShardNode['read']>[1]) => Promise<unknown> | null;

type ReplicaRoutesDeps = Readonly<{
  /** Path prefix: '/v1' for a stand-alone replica, '/v1/shards/:id' on a store. */
  base: string;
  /** The name of the member-id parameter of DELETE <base>/members/:<name>. */
  memberParam: string;
  /** The replica a request is about (throws a 404 AdminError for an unknown shard). */
  hosted: (params: Readonly<Record<string, string | undefined>>) => HostedReplica;
  client: ShardClient;
  config: ClusterConfig;
  log?: Logger;
}>;

/** The routes about one hosted replica: status, reservations, leader transfer, members. */
async function replicaRoutes(app: FastifyInstance, deps: ReplicaRoutesDeps): Promise<void> {
  const { base } = deps;
  const shardParam = base.includes(':id') ? { id: { type: 'string', minLength: 1, maxLength: 64 } } : {};
  const params = (extra: Record<string, unknown> = {}) => ({ type: 'object', properties: { ...shardParam, ...extra }, required: [...Object.keys(shardParam), ...Object.keys(extra)] });
  const of = (req: FastifyRequest): HostedReplica => deps.hosted(req.params as Record<string, string | undefined>);

  app.get(`${base}/status`, { schema: { summary: 'This replica: role, term, leader, indexes, peers with lag, replicated shard map', params: params(), response: { 200: { type: 'object', additionalProperties: true }, ...errors } } }, async (req) => replicaStatus(of(req)));

  app.get(`${base}/reservations`, {
    schema: { summary: 'Reservations and calls held on this shard', params: params(), querystring: reservationsQuery, response: { 200: reservationsBody, ...errors } },
  }, async (req) => readReplica(of(req).node, { type: 'reservations' }, (req.query as { consistency?: string }).consistency));

  app.post(`${base}/leader/transfer`, {
    config: { scope: 'admin' },
    schema: {
      summary: 'Hand leadership to another voter of this shard',
      params: params(),
      body: transferBody,
      response: { 200: { type: 'object', additionalProperties: true }, ...errors },
    },
  }, async (req, reply) => {
    const { node, shard } = of(req);
    const { to } = req.body as { to: string };
    if (!shard.replicas.some((r) => r.id === to) && !node.status().conf.voters.includes(to)) {
      throw new AdminError('ADMIN_ERR_BAD_REQUEST', `no replica ${JSON.stringify(to)} in shard ${shard.id}`, 'body.to');
    }
    if (!node.group.isLeader()) return forwardToLeader(req, reply, node, shard);
    await raftOp(() => node.group.transferLeadership(to));
    return { transferredTo: to, leader: node.group.leader() };
  });

  app.post(`${base}/members`, {
    config: { scope: 'admin' },
    schema: {
      summary: 'Add a replica: its placement is replicated, then it joins as a learner and is promoted to voter once caught up',
      params: params(),
      body: memberBody,
      response: { 200: { type: 'object', additionalProperties: true }, ...errors },
    },
  }, async (req, reply) => {
    const { node, shard } = of(req);
    const b = req.body as { id: string; store?: string; raft?: string; client?: string; admin?: string; promote?: boolean };
    const placement = newMemberPlacement(deps.config, shard, b);
    if (!node.group.isLeader()) {
      // The addresses as this process's file gave them: the leader's may not list the store.
      Object.assign(req.body as object, { raft: placement.raft }, placement.client === null ? {} : { client: placement.client }, placement.admin === null ? {} : { admin: placement.admin });
      return forwardToLeader(req, reply, node, shard);
    }
    const conf = node.status().conf;
    if (conf.voters.includes(b.id)) throw new AdminError('ADMIN_ERR_BAD_REQUEST', `${b.id} is already a voter`, 'body.id');
    if (placement.store !== null) {
      // A store hosts at most one replica of a shard (as the cluster file's placement rule),
      // or losing that store could take the shard's quorum.
      const sibling = [...conf.voters, ...conf.learners].find((m) => m !== b.id && node.transport.route(m) === placement.store);
      if (sibling !== undefined) throw new AdminError('ADMIN_ERR_BAD_REQUEST', `shard ${shard.id} already has replica ${sibling} on store ${placement.store}; a store hosts at most one replica of a shard`, 'body.store');
    }
    // Every replica learns where the member is before it is one: the placement is in the
    // log (and snapshots), so a follower that leads later, or restarts with a cluster file
    // that does not name the member, still reaches it.
    const placed: ShardResult = await whileLeadershipSettles(() => node.placeMember(placement, adminCommandDeadlineMs), adminCommandDeadlineMs);
    if (!placed.ok) throw new AdminError(placed.code, `shard ${shard.id} refused to place ${b.id}: ${placed.reason}`, 'body.id');
    await whileLeadershipSettles(() => node.group.addLearner(b.id), adminCommandDeadlineMs);
    if (b.promote !== false) await whileLeadershipSettles(() => node.group.promote(b.id), adminPromoteDeadlineMs, { untilCaughtUp: true });
    return { conf: node.status().conf, placement };
  });

  app.delete(`${base}/members/:${deps.memberParam}`, {
    config: { scope: 'admin' },
    schema: {
      summary: 'Remove a replica from this shard',
      params: params({ [deps.memberParam]: memberId }),
      response: { 200: { type: 'object', additionalProperties: true }, ...errors },
    },
  }, async (req, reply) => {
    const { node, shard } = of(req);
    const id = (req.params as Record<string, string>)[deps.memberParam]!;
    const conf = node.status().conf;
    if (!conf.voters.includes(id) && !conf.learners.includes(id)) throw new AdminError('ADMIN_ERR_NOT_FOUND', `${id} is not a member of shard ${shard.id}`, `params.${deps.memberParam}`);
    if (!node.group.isLeader()) return forwardToLeader(req, reply, node, shard);
    await whileLeadershipSettles(() => node.group.removeMember(id), adminCommandDeadlineMs);
    return { conf: node.status().conf };
  });
}

/** What GET /v1/status answers for a stand-alone replica, and /v1/shards/:id/status on a store. */
export function replicaStatus({ node, shard }: HostedReplica): Record<string, unknown> {
  const s = node.status();
  return {
    shard: shard.id,
    replica: node.replicaId,
    pid: process.pid,
    role: s.role,
    term: s.term,
    leader: s.leader,
    preferredLeader: shard.preferredLeader ?? null,
    leadership: s.leadership,
    commit: s.commit,
    applied: s.applied,
    lastIndex: s.lastIndex,
    snapshotIndex: s.snapshotIndex,
    conf: s.conf,
    failed: s.failed,
    peers: s.peers.map((p) => ({ ...p, lag: Math.max(0, s.lastIndex - p.matchIndex) })),
    // The map this shard enforces (null until its leader replicated the cluster file's).
    shardMap: node.stateMachine.shardMap,
    shardMapFileSkew: node.shardMapSkew(),
  };
}

/** Where a replica asked for by POST .../members receives its Raft messages, client RPCs
 * and admin requests, from the body and the cluster file: on a store-hosted shard its
 * store (`store`, required) at `raft`, `client` and `admin` or, when the file lists that
 * store, the file's addresses; on a stand-alone shard the replica's own `raft` address
 * (required), `client` and `admin` (optional: without them, only clients and admin
 * endpoints whose file lists the replica reach it when it leads). */
function newMemberPlacement(config: ClusterConfig, shard: ShardConfig, b: Readonly<{ id: string; store?: string; raft?: string; client?: string; admin?: string }>): MemberPlacement {
  const onStores = shard.replicas.some((r) => r.store !== undefined);
  if (onStores && b.store === undefined) throw new AdminError('ADMIN_ERR_BAD_REQUEST', `shard ${shard.id} lives on stores: name the store that hosts ${b.id} ("store": "<id>")`, 'body.store');
  if (!onStores && b.store !== undefined) throw new AdminError('ADMIN_ERR_BAD_REQUEST', `shard ${shard.id} has stand-alone replicas: give the replica's own raft address, not a store`, 'body.store');
  const fileStore = b.store === undefined ? undefined : config.stores?.find((st) => st.id === b.store);
  const raft = b.raft ?? (fileStore === undefined ? undefined : formatHostPort(fileStore.raft));
  if (raft === undefined) {
    const why = onStores ? `store ${b.store} is not in this process's cluster file: give its Raft address` : `give the replica's Raft address`;
    throw new AdminError('ADMIN_ERR_BAD_REQUEST', `${why} ("raft": "host:port")`, 'body.raft');
  }
  // The schema allows 1-5 digits; a port past 65535 reached net.connect on the next
  // Raft send and ended the process (found by test/security/admin-fuzz.test.ts).
  const problem = checkRaftAddress(raft, 'raft address');
  if (problem !== null) throw new AdminError('ADMIN_ERR_BAD_REQUEST', `${problem}, not ${JSON.stringify(raft)}`, 'body.raft');
  const optional = (field: 'client' | 'admin'): string | null => {
    const a = b[field] ?? (fileStore === undefined ? null : formatHostPort(fileStore[field]));
    const problem = a === null ? null : checkRaftAddress(a, `${field} address`);
    if (problem !== null) throw new AdminError('ADMIN_ERR_BAD_REQUEST', `${problem}, not ${JSON.stringify(a)}`, `body.${field}`);
    return a;
  };
  return { replica: b.id, store: b.store ?? null, raft, client: optional('client'), admin: optional('admin') };
}

/**
 * Runs a membership step on the leader, retrying for up to `deadlineMs` while leadership
 * is being handed over: the leader refuses changes then (RAFT_ERR_TRANSFER_IN_PROGRESS),
 * and a transfer ends within an election timeout — aborted, the next try goes through;
 * completed, it is refused with RAFT_ERR_NOT_LEADER, a 503 the caller retries at the new
 * leader, where a repeated POST finds the learner already added (adding it is
 * idempotent). A 409 here had half-added members: the store-replace test's POST placed
 * and added s2-d, then found a preferred-leader transfer under way and answered 409 with
 * s2-d left a learner. With `untilCaughtUp` (a promotion) it also waits while the learner
 * is not yet caught up (RAFT_ERR_CONF_CHANGE_PENDING).
 */
export async function whileLeadershipSettles<T>(op: () => Promise<T>, deadlineMs: number, o: { untilCaughtUp?: boolean; retryMs?: number } = {}): Promise<T> {
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    try {
      return await op();
    } catch (err) {
      const code = err instanceof RaftGroupError ? err.code : null;
      const transient = code === 'RAFT_ERR_TRANSFER_IN_PROGRESS' || (o.untilCaughtUp === true && code === 'RAFT_ERR_CONF_CHANGE_PENDING');
      if (!transient || Date.now() > deadline) throw toAdminError(err);
      await new Promise((r) => setTimeout(r, o.retryMs ?? adminMembershipRetryMs));
    }
  }
}

async function raftOp(op: () => Promise<void>): Promise<void> {
  try {
    await op();
  } catch (err) {
    throw toAdminError(err);
  }
}

/** The admin address the shard placed `replicaId` at (placeMember), if any. */
function placedAdmin(node: ShardNode, replicaId: string): { host: string; port: number } | undefined {
  const admin = node.stateMachine.placements.get(replicaId)?.admin;
  return admin === null || admin === undefined ? undefined : hostPortOf(admin) ?? undefined;
}

/** Replays the request against the leader's admin endpoint with the caller's token. A
 * replica that knows no leader (an election, or a replica about to join that no leader
 * talks to yet) asks the shard's other replicas in turn: each answers for its leader, or
 * with a 503 when it is not the leader, and the first other answer is the caller's. */
async function forwardToLeader(req: FastifyRequest, reply: FastifyReply, node: ShardNode, shard: ShardConfig): Promise<FastifyReply> {
  if (req.headers['x-ringfence-forwarded']) {
    return sendProblem(reply, 'ADMIN_ERR_UNAVAILABLE', 'leadership moved while forwarding; retry');
  }
  const leaderId = node.group.leader();
  const leader = leaderId === null ? undefined : (shard.replicas.find((r) => r.id === leaderId)?.admin ?? placedAdmin(node, leaderId));
  if (leaderId !== null && leader === undefined) {
    // A member added over the REST, without an admin address, after this process read
    // its cluster file.
    return sendProblem(reply, 'ADMIN_ERR_UNAVAILABLE', `shard ${shard.id}'s leader is ${leaderId}, which this process's cluster file does not list: send the request to the admin REST of its store, or restart this process on a file that lists it`);
  }
  const targets = leader !== undefined ? [{ id: leaderId!, admin: leader }] : shard.replicas.filter((r) => r.id !== node.replicaId);
  if (targets.length === 0) return sendProblem(reply, 'ADMIN_ERR_UNAVAILABLE', `shard ${shard.id} has no leader right now; retry`);
  const hasBody = req.body !== undefined && req.body !== null;
  let last: { status: number; type: string; text: string } | null = null;
  let failure = '';
  for (const target of targets) {
    try {
      const res = await fetch(`http://${target.admin.host}:${target.admin.port}${req.url}`, {
        method: req.method,
        headers: { ...(hasBody ? { 'content-type': 'application/json' } : {}), authorization: req.headers.authorization ?? '', 'x-ringfence-forwarded': '1' },
        body: hasBody ? JSON.stringify(req.body) : undefined,
        signal: AbortSignal.timeout(adminForwardTimeoutMs),
      });
      last = { status: res.status, type: res.headers.get('content-type') ?? 'application/json', text: await res.text() };
      if (res.status !== 503) break;
    } catch (err) {
      failure = `forwarding to ${target.id} failed: ${(err as Error).message}`;
    }
  }
  if (last !== null) return reply.code(last.status).type(last.type).send(last.text);
  if (leader === undefined) return sendProblem(reply, 'ADMIN_ERR_UNAVAILABLE', `shard ${shard.id} has no leader right now (${failure}); retry`);
  return sendProblem(reply, 'ADMIN_ERR_PEER_FAILED', `forwarding to leader ${leaderId} failed: ${failure.replace(/^forwarding to \S+ failed: /, '')}`);
}
