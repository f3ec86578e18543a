// The shard client RPC: JSON payloads in length-prefixed frames (common/framing.ts) over
// TCP. A connection starts with the handshake of auth.ts; only then are requests read.
// Requests carry a connection-unique `id`; each gets exactly one response with that id
// (a frame the server cannot take as a request gets one with id -1), except `feed`, whose
// id receives a stream of pages until `unfeed` or disconnect, and `unfeed` (none).
//
// `shard` names the shard a propose, read or feed is for. A listener of one replica
// accepts it absent or equal to its own shard; a store's listener (one per process, many
// shards: DESIGN.md, multi-raft stores) requires it and answers SHARD_ERR_UNKNOWN_SHARD
// for a shard it hosts no replica of. So a client holds one connection per store, not
// one per replica. `unfeed` names a feed by the id of its `feed` request, which is unique
// on the connection whatever shard it follows.
//
// Liveness: `ping` is answered at once with `{id, ok: true, result: null}`; a client sends
// it on a connection with no answer for rpcKeepaliveIdleMs and drops the link when no
// answer comes back in time (a partition closes no socket; feed pages do not count). A feed that has had no page for
// rpcFeedHeartbeatMs gets a heartbeat page: no changes, the feed's last index, and
// `leader`, whether the replica hears its shard's leader (a follower cut off from its
// quorum says false, and its subscriber moves to another replica).
// JSON keeps the protocol debuggable with a hex dump; the payloads are small.
import type { ServiceDefinition } from '../../common/config.js';
import { rpcShardIdCharsMax, skillLevelMax, skillNameCharsMax } from '../limits.js';
import type { AgentFilter } from '../state-machine.js';
import { agentStateNames, type FeedRecord, type QueueEntry } from '../types.js';
import { checkDn, isPlainObject } from '../validate.js';

export type Consistency = 'linearizable' | 'stale';

export type ShardQuery = Readonly<
  | { type: 'agent'; dn: string }
  | { type: 'agents'; filter: AgentFilter }
  | { type: 'reservations' }
  | { type: 'status' }
  /** Every waiting call the shard holds (answered as a QueueSnapshot). */
  | { type: 'queue' }
  /** Every service definition the shard owns (answered as a ServicesSnapshot). */
  | { type: 'services' }
>;

/** The answer to a `queue` query: the entries as of `appliedIndex`, so a reader can
 * follow the change feed on from there. */
export type QueueSnapshot = Readonly<{ appliedIndex: number; entries: readonly QueueEntry[] }>;

/** The answer to a `services` query, as of `appliedIndex`. */
export type ServicesSnapshot = Readonly<{ appliedIndex: number; services: readonly ServiceDefinition[] }>;

export type RpcRequest = Readonly<
  /** `proposal` is the text of encodeProposal(): validated once here, proposed as is. */
  | { id: number; op: 'propose'; shard?: string; proposal: string; timeoutMs?: number }
  | { id: number; op: 'read'; shard?: string; query: ShardQuery; consistency: Consistency; timeoutMs?: number }
  | { id: number; op: 'feed'; shard?: string; fromIndex: number }
  | { id: number; op: 'unfeed'; feedId: number }
  /** Nothing but `id` and `op`. */
  | { id: number; op: 'ping' }
>;

/** `code` is a shards/errors.ts or Raft code, or a foreign code the node passed on as is;
 * the receiver re-types it with `carriedCode`. */
export type RpcErrorBody = Readonly<{
  code: string;
  message: string;
  leaderHint: string | null;
  /** Where the hinted leader answers client RPCs, when it is a member the shard placed
   * (placeMember) after the cluster files were written: `client` "host:port", `store` the
   * id its listener proves in the handshake (null: the replica's own id). Absent
   * otherwise. */
  leaderAt?: LeaderAddress;
}>;

export type LeaderAddress = Readonly<{ client: string; store: string | null }>;

export type FeedPage = Readonly<{
  changes: readonly FeedRecord[];
  /** The feed could not resume from the asked index: re-read the agents, then follow on. */
  truncated: boolean;
  /** Applied index this page brings the subscriber up to. */
  index: number;
  /** Present on heartbeat pages only (no changes, the index of the feed's last page):
   * whether the replica hears its shard's leader (it knows one, or is it, and has not
   * failed). Absent on every page that carries changes. */
  leader?: boolean;
}>;

export type RpcResponse = Readonly<
  | { id: number; ok: true; result: unknown; index?: number }
  | { id: number; ok: true; feed: FeedPage }
  | { id: number; ok: false; error: RpcErrorBody }
>;

/** A request's `shard` field as the server accepts it: absent (null), a shard id, or why
 * not. Never throws. */
export function validateShardField(v: unknown): { ok: true; shard: string | null } | { ok: false; reason: string } {
  if (v === undefined) return { ok: true, shard: null };
  if (typeof v !== 'string') return { ok: false, reason: `shard must be a shard id (a string), not ${v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v}` };
  if (v.length === 0) return { ok: false, reason: 'shard must not be empty' };
  if (v.length > rpcShardIdCharsMax) return { ok: false, reason: `shard must be at most ${rpcShardIdCharsMax} characters (got ${v.length})` };
  return { ok: true, shard: v };
}

const skillPattern = new RegExp(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,${skillNameCharsMax - 1}}$`);

/** A `read` request's query as the server accepts it, or why not. Never throws. */
export function validateQuery(v: unknown): { ok: true; query: ShardQuery } | { ok: false; reason: string } {
  const bad = (reason: string): { ok: false; reason: string } => ({ ok: false, reason });
  if (!isPlainObject(v)) return bad('query must be an object');
  const keys = Object.keys(v);
  switch (v.type) {
    case 'status':
    case 'reservations':
    case 'queue':
    case 'services':
      return keys.length === 1 ? { ok: true, query: { type: v.type } } : bad(`a ${v.type} query has only a type`);
    case 'agent': {
      if (keys.length !== 2 || !Object.hasOwn(v, 'dn')) return bad('an agent query is {type, dn}');
      const error = checkDn(v.dn, 'query.dn');
      return error === null ? { ok: true, query: { type: 'agent', dn: v.dn as string } } : bad(error);
    }
    case 'agents': {
      if (keys.length !== 2 || !isPlainObject(v.filter)) return bad('an agents query is {type, filter}');
      const f = v.filter;
      const filter: { state?: AgentFilter['state']; skill?: string; skillLevelMin?: number } = {};
      for (const k of Object.keys(f)) {
        const x = f[k];
        if (k === 'state' && typeof x === 'string' && (agentStateNames as readonly string[]).includes(x)) filter.state = x as AgentFilter['state'];
        else if (k === 'skill' && typeof x === 'string' && skillPattern.test(x)) filter.skill = x;
        else if (k === 'skillLevelMin' && typeof x === 'number' && Number.isSafeInteger(x) && x >= 0 && x <= skillLevelMax) filter.skillLevelMin = x;
        else return bad(`query.filter.${k.slice(0, 40)} is not a valid filter field`);
      }
      return { ok: true, query: { type: 'agents', filter } };
    }
    default:
      return bad('query.type must be agent, agents, reservations, queue, services or status');
  }
}
