// The error catalogue of the DN shard area. Codes are stable: clients, the admin REST and
// the history checker match on them. Each is an expected condition (a typed result that
// changes no state), never a bug; bugs are node:assert failures inside the state machine.

export const shardErrorCodes = [
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
  /** A bounded table is full (agents, contacts). */
  'SHARD_ERR_LIMIT',
  /** The command needs a client session and carries none. */
  'SHARD_ERR_SESSION_REQUIRED',
  /** Unknown or evicted session, or a request below the session's acknowledged window:
   * its result was discarded, so the command can be neither re-run nor answered. */
  'SHARD_ERR_SESSION_EXPIRED',
  /** The session has sessionResultsMax unacknowledged results; nothing was applied. */
  'SHARD_ERR_TOO_MANY_PENDING',
] as const;

export type ShardErrorCode = (typeof shardErrorCodes)[number];

export type ShardFailure = Readonly<{ ok: false; code: ShardErrorCode; reason: string }>;

export function shardFailure(code: ShardErrorCode, reason: string): ShardFailure {
  return { ok: false, code, reason };
}

export function isShardErrorCode(value: unknown): value is ShardErrorCode {
  return typeof value === 'string' && (shardErrorCodes as readonly string[]).includes(value);
}
