// The cluster-wide view: any node's admin REST answers `GET /v1/cluster` by asking every
// other process, all in parallel, each with a short timeout, so one dead or black-holed
// peer costs the answer at most one timeout and never blocks it.
//
// Sources, and why:
// - shard replicas: the client RPC `status` read (ShardClient.replicaStatus) gives the
//   replica's own RaftStatus over the same port the SIP nodes use, so "up" means "serves
//   the data path"; the replica's admin `GET /v1/status` (on a store, the store's own
//   `GET /v1/status`, asked once for all its replicas) is asked at the same time for its
//   pid (the RPC status has none) and as a second opinion. Both answered → up; one →
//   degraded.
// - SIP nodes: admin `GET /v1/calls` and `GET /v1/queue` (read token); no answer → down.
// - gateways: ng `ping` then `list` over the control socket (NgClient), as a SIP node would.
import type { FastifyInstance } from 'fastify';
import { deriveKey } from '../common/keys.js';
import { NgClient } from '../gateway/ng-client.js';
import type { RaftStatus } from '../raft/types.js';
import type { ShardClient } from '../shards/client/shard-client.js';
import { formatHostPort as hp, type ClusterConfig, type HostPort } from '../common/config.js';

import { peerErrorCharsMax, peerTimeoutMsDefault, sipListItemsMax } from './limits.js';

export { peerTimeoutMsDefault, sipListItemsMax };

export type Health = 'up' | 'degraded' | 'down';
export type SelfRef = Readonly<{ role: 'shard' | 'store' | 'sip' | 'gateway' | 'launcher' | string; id: string }>;

export type ReplicaView = Readonly<{
  id: string;
  self: boolean;
  health: Health;
  role: string | null;
  term: number | null;
  /** The leader this replica believes in (may be stale on a partitioned follower). */
  leader: string | null;
  commit: number | null;
  applied: number | null;
  lastIndex: number | null;
  /** Entries this replica has still to apply, against the shard leader's commit index in
   * the same round; null when the replica or the leader did not answer. */
  lag: number | null;
  pid: number | null;
  error: string | null;
}>;

export type ShardView = Readonly<{
  id: string;
  /** The reachable replica that says it leads, in the highest term seen; null if none. */
  leader: string | null;
  hasLeader: boolean;
  term: number | null;
  replicas: readonly ReplicaView[];
}>;

export type SipCall = Readonly<Record<string, unknown>>;
export type SipNodeView = Readonly<{
  id: string;
  self: boolean;
  admin: string;
  health: Health;
  calls: number | null;
  queued: number | null;
  error: string | null;
}>;

export type GatewayView = Readonly<{
  id: string;
  self: boolean;
  control: string;
  health: Health;
  calls: number | null;
  portPairsInUse: number | null;
  portPairsFree: number | null;
  error: string | null;
}>;

export type ClusterView = Readonly<{
  generatedAt: string;
  self: SelfRef;
  shards: readonly ShardView[];
  sip: readonly SipNodeView[];
  gateways: readonly GatewayView[];
}>;

/** A SIP node's view plus the lists behind its counts (the dashboard shows them). */
export type SipProbe = Readonly<{ view: SipNodeView; calls: readonly SipCall[]; queue: readonly SipCall[] }>;
export type ClusterProbeResult = Readonly<{ view: ClusterView; sipDetails: readonly SipProbe[] }>;

export type ClusterViewOptions = Readonly<{
  config: ClusterConfig;
  self: SelfRef;
  shardClient: ShardClient;
  peerTimeoutMs?: number;
}>;


function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

function messageOf(err: unknown): string {
  const e = err as { code?: string; message?: string; cause?: { code?: string } };
  const code = e.cause?.code ?? e.code;
  return `${code ? `${code}: ` : ''}${e.message ?? String(err)}`.slice(0, peerErrorCharsMax);
}

/** GET on a node's admin REST with a bearer token: status and body text. */
export async function adminGet(addr: HostPort, path: string, token: string, timeoutMs: number): Promise<{ status: number; text: string }> {
  const res = await fetch(`http://${hp(addr)}${path}`, { headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(timeoutMs) });
  return { status: res.status, text: await res.text() };
}

/** adminGet with the body parsed as JSON (null when it is not JSON). */
export async function getJson(addr: HostPort, path: string, token: string, timeoutMs: number): Promise<{ status: number; body: unknown }> {
  const { status, text } = await adminGet(addr, path, token, timeoutMs);
  let body: unknown = null;
  try {
    body = JSON.parse(text);
  } catch {
    body = null;
  }
  return { status, body };
}

type StoreStatusOf = (store: NonNullable<ClusterConfig['stores']>[number]) => Promise<{ status: number; body: unknown }>;

/** One replica's entry in its store's /v1/status (shards[]), with the store's pid, as a
 * stand-alone replica's /v1/status would answer (404 when the store does not list it). */
function replicaOfStoreStatus(res: { status: number; body: unknown }, shardId: string): { status: number; body: unknown } {
  if (res.status !== 200) return res;
  const body = res.body as { pid?: unknown; shards?: unknown } | null;
  const entry = Array.isArray(body?.shards) ? (body.shards as { id?: unknown }[]).find((e) => e.id === shardId) : undefined;
  return entry === undefined ? { status: 404, body: null } : { status: 200, body: { ...entry, pid: body?.pid } };
}

/** Asks every process of the cluster for its state. Holds one NgClient per gateway. */
export class ClusterProbe {
  readonly #opts: ClusterViewOptions;
  readonly #timeoutMs: number;
  readonly #ng = new Map<string, NgClient>();

  constructor(opts: ClusterViewOptions) {
    this.#opts = opts;
    this.#timeoutMs = opts.peerTimeoutMs ?? peerTimeoutMsDefault;
    const ngKey = deriveKey(opts.config.secret, 'ng-control');
    for (const g of opts.config.gateways) {
      // One attempt per request: the next poll is the retry, and a stuck gateway must not
      // hold the view for three timeouts. Signed, as gateways answer nothing else.
      this.#ng.set(g.id, new NgClient({ host: g.control.host, port: g.control.port, timeoutMs: this.#timeoutMs, retries: 0, ...(g.ngAuth ? { key: ngKey } : {}) }));
    }
  }

  async collect(): Promise<ClusterProbeResult> {
    const { config } = this.#opts;
    // A store answers for all its replicas in one /v1/status: asked once per collect, not
    // once per replica (100 shards were 300 admin requests racing one timeout).
    const storeStatuses = new Map<string, Promise<{ status: number; body: unknown }>>();
    const storeStatus = (store: NonNullable<ClusterConfig['stores']>[number]): Promise<{ status: number; body: unknown }> => {
      let p = storeStatuses.get(store.id);
      if (p === undefined) {
        p = getJson(store.admin, '/v1/status', config.tokens.read, this.#timeoutMs);
        storeStatuses.set(store.id, p);
      }
      return p;
    };
    const [shards, sipDetails, gateways] = await Promise.all([
      Promise.all(config.shards.map((s) => this.#shard(s, storeStatus))),
      Promise.all(config.sip.map((n) => this.#sipNode(n))),
      Promise.all(config.gateways.map((g) => this.#gateway(g))),
    ]);
    const view: ClusterView = { generatedAt: new Date().toISOString(), self: this.#opts.self, shards, sip: sipDetails.map((d) => d.view), gateways };
    return { view, sipDetails };
  }

  close(): void {
    for (const c of this.#ng.values()) c.close();
    this.#ng.clear();
  }

  #isSelf(role: string, id: string): boolean {
    return this.#opts.self.role === role && this.#opts.self.id === id;
  }

  async #shard(shard: ClusterConfig['shards'][number], storeStatus: StoreStatusOf): Promise<ShardView> {
    const raw = await Promise.all(shard.replicas.map((r) => this.#replica(shard.id, r, storeStatus)));
    const leaders = raw.filter((r) => r.status?.role === 'leader').sort((a, b) => b.status!.term - a.status!.term);
    const leader = leaders[0] ?? null;
    const terms = raw.map((r) => r.status?.term).filter((x): x is number => typeof x === 'number');
    const replicas = raw.map(({ id, status, pid, health, error }): ReplicaView => ({
      id,
      self: this.#isSelf('shard', id) || this.#isSelf('store', shard.replicas.find((r) => r.id === id)?.store ?? ''),
      health,
      role: status?.role ?? null,
      term: status?.term ?? null,
      leader: status?.leader ?? null,
      commit: status?.commit ?? null,
      applied: status?.applied ?? null,
      lastIndex: status?.lastIndex ?? null,
      lag: status && leader?.status ? Math.max(0, leader.status.commit - status.applied) : null,
      pid,
      error,
    }));
    return { id: shard.id, leader: leader?.id ?? null, hasLeader: leader !== null, term: terms.length ? Math.max(...terms) : null, replicas };
  }

  async #replica(shardId: string, r: ClusterConfig['shards'][number]['replicas'][number], storeStatus: StoreStatusOf): Promise<{ id: string; status: RaftStatus | null; pid: number | null; health: Health; error: string | null }> {
    const ms = this.#timeoutMs;
    const store = r.store === undefined ? undefined : this.#opts.config.stores?.find((st) => st.id === r.store);
    const [rpc, http] = await Promise.allSettled([
      withTimeout(this.#opts.shardClient.replicaStatus(shardId, r.id, ms), ms, `${r.id} rpc`),
      store === undefined ? getJson(r.admin, '/v1/status', this.#opts.config.tokens.read, ms) : storeStatus(store).then((res) => replicaOfStoreStatus(res, shardId)),
    ]);
    const fromRpc = rpc.status === 'fulfilled' ? (rpc.value as RaftStatus) : null;
    const httpBody = http.status === 'fulfilled' && http.value.status === 200 ? (http.value.body as Partial<RaftStatus> & { pid?: number }) : null;
    // The admin status carries the same Raft fields; it stands in when only RPC is down.
    const status = fromRpc ?? (httpBody && typeof httpBody.term === 'number' ? ({ ...httpBody, id: r.id } as RaftStatus) : null);
    const answered = (fromRpc ? 1 : 0) + (httpBody ? 1 : 0);
    const errors = [rpc.status === 'rejected' ? `rpc ${messageOf(rpc.reason)}` : null, http.status === 'rejected' ? `admin ${messageOf(http.reason)}` : httpBody ? null : `admin HTTP ${http.status === 'fulfilled' ? http.value.status : '?'}`].filter(Boolean);
    return {
      id: r.id,
      status,
      pid: typeof httpBody?.pid === 'number' ? httpBody.pid : null,
      health: answered === 2 ? 'up' : answered === 1 ? 'degraded' : 'down',
      error: errors.length ? errors.join('; ') : null,
    };
  }

  async #sipNode(n: ClusterConfig['sip'][number]): Promise<SipProbe> {
    const token = this.#opts.config.tokens.read;
    const [calls, queue] = await Promise.allSettled([getJson(n.admin, '/v1/calls', token, this.#timeoutMs), getJson(n.admin, '/v1/queue', token, this.#timeoutMs)]);
    const list = (r: typeof calls, key: string): SipCall[] | null => {
      if (r.status !== 'fulfilled' || r.value.status !== 200) return null;
      const v = (r.value.body as Record<string, unknown> | null)?.[key];
      return Array.isArray(v) ? (v as SipCall[]) : null;
    };
    const callList = list(calls, 'calls');
    const queueList = list(queue, 'queue');
    // The node answers HTTP at all (even 404 on a route it lacks): degraded, not down.
    const reachable = [calls, queue].some((r) => r.status === 'fulfilled');
    const health: Health = callList && queueList ? 'up' : reachable ? 'degraded' : 'down';
    const error = calls.status === 'rejected' ? messageOf(calls.reason) : callList ? (queueList ? null : 'no /v1/queue') : `/v1/calls HTTP ${calls.value.status}`;
    return {
      view: { id: n.id, self: this.#isSelf('sip', n.id), admin: hp(n.admin), health, calls: callList?.length ?? null, queued: queueList?.length ?? null, error },
      calls: (callList ?? []).slice(0, sipListItemsMax),
      queue: (queueList ?? []).slice(0, sipListItemsMax),
    };
  }

  async #gateway(g: ClusterConfig['gateways'][number]): Promise<GatewayView> {
    const client = this.#ng.get(g.id)!;
    const base = { id: g.id, self: this.#isSelf('gateway', g.id), control: hp(g.control) };
    try {
      await client.ping();
    } catch (err) {
      return { ...base, health: 'down', calls: null, portPairsInUse: null, portPairsFree: null, error: messageOf(err) };
    }
    try {
      const l = await client.list();
      return { ...base, health: 'up', calls: l.callsTotal, portPairsInUse: l.portPairsInUse, portPairsFree: l.portPairsFree, error: null };
    } catch (err) {
      // Answers ping but not `list`: a real rtpengine (no such command) or a sick gateway.
      return { ...base, health: 'degraded', calls: null, portPairsInUse: null, portPairsFree: null, error: `list: ${messageOf(err)}` };
    }
  }
}

const nInt = { type: ['integer', 'null'] } as const;
const nStr = { type: ['string', 'null'] } as const;
const health = { type: 'string', enum: ['up', 'degraded', 'down'] } as const;

export const clusterViewSchema = {
  type: 'object',
  required: ['generatedAt', 'self', 'shards', 'sip', 'gateways'],
  properties: {
    generatedAt: { type: 'string', format: 'date-time' },
    self: { type: 'object', required: ['role', 'id'], properties: { role: { type: 'string' }, id: { type: 'string' } } },
    shards: {
      type: 'array',
      items: {
        type: 'object',
        required: ['id', 'leader', 'hasLeader', 'term', 'replicas'],
        properties: {
          id: { type: 'string' },
          leader: nStr,
          hasLeader: { type: 'boolean' },
          term: nInt,
          replicas: {
            type: 'array',
            items: {
              type: 'object',
              required: ['id', 'self', 'health', 'role', 'term', 'leader', 'commit', 'applied', 'lastIndex', 'lag', 'pid', 'error'],
              properties: {
                id: { type: 'string' },
                self: { type: 'boolean' },
                health,
                role: nStr,
                term: nInt,
                leader: nStr,
                commit: nInt,
                applied: nInt,
                lastIndex: nInt,
                lag: nInt,
                pid: nInt,
                error: nStr,
              },
            },
          },
        },
      },
    },
    sip: {
      type: 'array',
      items: {
        type: 'object',
        required: ['id', 'self', 'admin', 'health', 'calls', 'queued', 'error'],
        properties: { id: { type: 'string' }, self: { type: 'boolean' }, admin: { type: 'string' }, health, calls: nInt, queued: nInt, error: nStr },
      },
    },
    gateways: {
      type: 'array',
      items: {
        type: 'object',
        required: ['id', 'self', 'control', 'health', 'calls', 'portPairsInUse', 'portPairsFree', 'error'],
        properties: { id: { type: 'string' }, self: { type: 'boolean' }, control: { type: 'string' }, health, calls: nInt, portPairsInUse: nInt, portPairsFree: nInt, error: nStr },
      },
    },
  },
} as const;

/** `GET /v1/cluster` (read scope). */
export async function clusterViewRoutes(app: FastifyInstance, opts: ClusterViewOptions): Promise<void> {
  const probe = new ClusterProbe(opts);
  let inflight: Promise<ClusterProbeResult> | null = null;
  app.addHook('onClose', async () => probe.close());
  app.get('/v1/cluster', {
    config: { scope: 'read' },
    schema: {
      summary: 'Every shard replica, SIP node and gateway, as they answer right now',
      querystring: { type: 'object', additionalProperties: false, properties: { token: { type: 'string' } } },
      response: { 200: clusterViewSchema, 401: { $ref: 'Problem#' }, 403: { $ref: 'Problem#' } },
    },
  }, async () => {
    // Concurrent requests share one round of asking: the peers see at most one probe in
    // flight per node however many callers there are.
    inflight ??= probe.collect().finally(() => { inflight = null; });
    return (await inflight).view;
  });
}
