// The error catalogue of the DN shard area: every code the shard state machine, the shard
// node, its client RPC and the shard client can produce. Codes are stable: clients, the
// admin REST (common/admin.ts maps each to an HTTP status) and the history checker match
// on them, and they travel on the RPC as these exact strings. Each is an expected
// condition, never a bug; bugs are node:assert failures inside the state machine.
//
// Two families:
// - state-machine codes: a `{ok: false}` ShardResult, the shard's definite answer to a
//   command (it changed nothing);
// - transport codes: raised by the node, the RPC or the client around a command, as a
//   thrown RpcError / ShardClientError.
// Raft codes (raft/types.ts) cross the same RPC; `ShardRpcErrorCode` covers both, and the
// retry table below states, once, how the shard client treats every one of them.
import type { RaftErrorCode } from '../raft/types.js';

/** Answers of the shard state machine (`{ok: false, code, reason}` results). */
export const shardStateErrorCodes = [
  /** The proposal bytes do not decode to a valid command (see `reason`). */
  'SHARD_ERR_BAD_COMMAND',
  /** The DN is not provisioned on this shard. */
  'SHARD_ERR_UNKNOWN_DN',
  /** The agent is logged out (reserve, ready, not-ready need a logged-in agent). */
  'SHARD_ERR_AGENT_LOGGED_OUT',
  /** The agent is logged in but NOT_READY. */
  'SHARD_ERR_AGENT_NOT_READY',
  /** The agent holds a reservation not yet answered. */
  'SHARD_ERR_AGENT_RESERVED',
  /** The agent is on a call. */
  'SHARD_ERR_AGENT_BUSY',
  /** The agent is in wrap-up after a call. */
  'SHARD_ERR_AGENT_WRAP_UP',
  /** confirm/release/expire named a reservation the agent does not hold (any more). */
  'SHARD_ERR_STALE_RESERVATION',
  /** expire before the reservation's TTL ran out, or of a reservation already answered. */
  'SHARD_ERR_NOT_EXPIRED',
  /** REGISTER with a Call-ID/CSeq not newer than the binding's (RFC 3261 §10.3 step 7). */
  'SHARD_ERR_STALE_REGISTRATION',
  /** expireLease found the lease renewed after the renewal it named (or no lease): the
   * owner is alive, nothing was freed. */
  'SHARD_ERR_LEASE_RENEWED',
  /** A bounded table is full (agents, contacts, leases). */
  'SHARD_ERR_LIMIT',
  /** The command needs a client session and carries none. */
  'SHARD_ERR_SESSION_REQUIRED',
  /** Unknown or evicted session, or a request below the session's acknowledged window:
   * its result was discarded, so the command can be neither re-run nor answered. */
  'SHARD_ERR_SESSION_EXPIRED',
  /** The session has sessionResultsMax unacknowledged results; nothing was applied. */
  'SHARD_ERR_TOO_MANY_PENDING',
  /** The DN belongs to another shard under this shard's replicated map (`shardMap` says
   * which list it hashed over): nothing changed; route by that map. */
  'SHARD_ERR_WRONG_SHARD',
  /** The command was routed under another shard map version than the replicated one
   * (`shardMap` carries the current one): nothing changed; refresh and route again. */
  'SHARD_ERR_MAP_VERSION',
  /** The service's queue, or all the queues of the shard, hold as many waiting calls as
   * they may (shards/limits.ts): the call was not queued. */
  'SHARD_ERR_QUEUE_FULL',
  /** The queue entry for this call belongs to another SIP node (dequeue, unclaim, or an
   * enqueue reusing its call id): nothing changed. */
  'SHARD_ERR_QUEUE_OWNER',
] as const;

/** Conditions around a command: raised by the shard node, the RPC and the shard client. */
export const shardTransportErrorCodes = [
  /** No answer in time: one RPC attempt (rpc/connection.ts), or the client's overall
   * deadline (the command's outcome is then unknown; see ShardClientError.maybeApplied). */
  'SHARD_ERR_TIMEOUT',
  /** The link to a replica failed: connect refused or timed out, socket closed, bad frame,
   * or a replica id not in the topology. */
  'SHARD_ERR_UNAVAILABLE',
  /** A shard id that is not in the client's topology, or that the RPC listener (a
   * replica of another shard, a store hosting no replica of it) does not serve; the
   * message names it. */
  'SHARD_ERR_UNKNOWN_SHARD',
  /** The shard would not open a client session (openSession had no session result). */
  'SHARD_ERR_SESSION',
  /** The shard client was closed while the call was under way. */
  'SHARD_ERR_CLOSED',
  /** A replica failed with an error that carried no code of its own. */
  'SHARD_ERR_INTERNAL',
  /** The RPC request named an operation the server does not know, or was not a request
   * (not a JSON object, a field of the wrong type, a query that is not one). */
  'SHARD_ERR_INVALID_COMMAND',
  /** The shard RPC handshake failed: the listener refused the dialer's proof (wrong
   * cluster secret, or a principal it does not know), or the listener's own proof was
   * wrong (it is not the replica the client meant to dial, or holds another secret). */
  'SHARD_ERR_UNAUTHENTICATED',
  /** The authenticated principal may not do this (shards/rpc/policy.ts): a SIP node
   * provisioning, or touching another node's grants. Nothing was proposed. */
  'SHARD_ERR_FORBIDDEN',
  /** A per-connection bound of the RPC server was reached (feed subscriptions). */
  'SHARD_ERR_RPC_LIMIT',
] as const;

/** Every code of the shard catalogue. */
export const shardErrorCodes = [...shardStateErrorCodes, ...shardTransportErrorCodes] as const;

export type ShardStateErrorCode = (typeof shardStateErrorCodes)[number];
export type ShardTransportErrorCode = (typeof shardTransportErrorCodes)[number];
export type ShardErrorCode = ShardStateErrorCode | ShardTransportErrorCode;
/** What an error on the shard RPC may carry: the shard catalogue or a Raft group code. */
export type ShardRpcErrorCode = ShardErrorCode | RaftErrorCode;

/** A code from outside both catalogues, passed on verbatim rather than rewritten: an error
 * the node threw with some other `code` (errorBody forwards any string code), a code a
 * newer replica sent, or a Node error raised while connecting (`ERR_SOCKET_BAD_PORT`).
 * Branded so that code of ours cannot produce one by accident; only `carriedCode` does.
 * It is never retryable. */
export type ForeignErrorCode = string & { readonly foreignErrorCode: unique symbol };

/** How the shard client treats a code:
 * - `replica`: it retries the SAME request (same session and request number, so the
 *   session table keeps it exactly-once) on the same or another replica until its deadline;
 * - `resend`: the session layer refused the command before it ran, nothing changed and the
 *   refusal says nothing about the command: a caller may send it again;
 * - `never`: a definite answer or a local failure; retrying would not change it. */
export type Retry = 'replica' | 'resend' | 'never';

/** The one statement of every code's retryability. A Record over the whole union, so a
 * code added to either catalogue (or to RaftErrorCode) does not compile until it is here. */
const retryByCode: Readonly<Record<ShardRpcErrorCode, Retry>> = {
  SHARD_ERR_BAD_COMMAND: 'never',
  SHARD_ERR_UNKNOWN_DN: 'never',
  SHARD_ERR_AGENT_LOGGED_OUT: 'never',
  SHARD_ERR_AGENT_NOT_READY: 'never',
  SHARD_ERR_AGENT_RESERVED: 'never',
  SHARD_ERR_AGENT_BUSY: 'never',
  SHARD_ERR_AGENT_WRAP_UP: 'never',
  SHARD_ERR_STALE_RESERVATION: 'never',
  SHARD_ERR_NOT_EXPIRED: 'never',
  SHARD_ERR_STALE_REGISTRATION: 'never',
  SHARD_ERR_LEASE_RENEWED: 'never',
  SHARD_ERR_LIMIT: 'never',
  SHARD_ERR_SESSION_REQUIRED: 'resend',
  // The result was discarded: the command may have run, so sending it again could run it
  // twice. Its outcome is unknown (a history checker records `info`).
  SHARD_ERR_SESSION_EXPIRED: 'never',
  SHARD_ERR_TOO_MANY_PENDING: 'resend',
  // Not the same request again: the shard client adopts the map the refusal carries and
  // sends a NEW request to the shard that map names (ShardClient.command).
  SHARD_ERR_WRONG_SHARD: 'never',
  SHARD_ERR_MAP_VERSION: 'never',
  SHARD_ERR_QUEUE_FULL: 'never',
  SHARD_ERR_QUEUE_OWNER: 'never',

  SHARD_ERR_TIMEOUT: 'replica',
  SHARD_ERR_UNAVAILABLE: 'replica',
  SHARD_ERR_UNKNOWN_SHARD: 'never',
  SHARD_ERR_SESSION: 'never',
  SHARD_ERR_CLOSED: 'never',
  SHARD_ERR_INTERNAL: 'never',
  SHARD_ERR_INVALID_COMMAND: 'never',
  // Another replica holds the same secret and policy: asking it would change nothing.
  SHARD_ERR_UNAUTHENTICATED: 'never',
  SHARD_ERR_FORBIDDEN: 'never',
  SHARD_ERR_RPC_LIMIT: 'never',

  RAFT_ERR_NOT_LEADER: 'replica',
  RAFT_ERR_TIMEOUT: 'replica',
  RAFT_ERR_CLOSED: 'replica',
  RAFT_ERR_FAILED: 'replica',
  RAFT_ERR_STORAGE: 'replica',
  RAFT_ERR_OVERLOADED: 'replica',
  RAFT_ERR_TRANSFER_IN_PROGRESS: 'replica',
  RAFT_ERR_CONF_CHANGE_PENDING: 'never',
  RAFT_ERR_UNKNOWN_NODE: 'never',
  RAFT_ERR_COMPACTED: 'never',
  RAFT_ERR_CORRUPT: 'never',
};

/** How the shard client treats `code`; a foreign code is never retried. */
export function retryOf(code: ShardRpcErrorCode | ForeignErrorCode): Retry {
  return Object.hasOwn(retryByCode, code) ? retryByCode[code as ShardRpcErrorCode] : 'never';
}

/** True when the shard client retries the same request on another replica after `code`:
 * the command may or may not have run. */
export function isRetryable(code: ShardRpcErrorCode | ForeignErrorCode): boolean {
  return retryOf(code) === 'replica';
}

/** The replicated shard map, as a WRONG_SHARD / MAP_VERSION refusal carries it. */
export type ShardMapView = Readonly<{ shardId: string; shardIds: readonly string[]; version: number }>;

export type ShardFailure = Readonly<{ ok: false; code: ShardStateErrorCode; reason: string; shardMap?: ShardMapView }>;

export function shardFailure(code: ShardStateErrorCode, reason: string, shardMap?: ShardMapView): ShardFailure {
  return shardMap === undefined ? { ok: false, code, reason } : { ok: false, code, reason, shardMap };
}

/** The thrown form of a catalogue code, for the node's promise-based reads; the RPC
 * server sends its `code` on unchanged. */
export class ShardError extends Error {
  constructor(
    readonly code: ShardErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export function isShardErrorCode(value: unknown): value is ShardErrorCode {
  return typeof value === 'string' && (shardErrorCodes as readonly string[]).includes(value);
}

export function isShardRpcErrorCode(value: unknown): value is ShardRpcErrorCode {
  return typeof value === 'string' && Object.hasOwn(retryByCode, value);
}

/** Types a code received from elsewhere (the wire, a Node error): a catalogue code keeps
 * its type, any other string is carried verbatim as a ForeignErrorCode. */
export function carriedCode(value: string): ShardRpcErrorCode | ForeignErrorCode {
  return isShardRpcErrorCode(value) ? value : (value as ForeignErrorCode);
}
