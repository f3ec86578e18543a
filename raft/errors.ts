// The Raft area's error catalogue. Expected conditions (not leader, overloaded, a pending
// membership change) are typed results with stable codes; broken invariants are asserts.
import type { NodeId, RaftError, RaftErrorCode } from './types.js';

/** A failed RaftResult with a stable code; `leaderHint` tells clients where to retry. */
export function raftError(
  code: RaftErrorCode,
  message: string,
  leaderHint: NodeId | null = null,
): Readonly<{ ok: false; error: RaftError }> {
  return { ok: false, error: { code, message, leaderHint } };
}

/** A successful RaftResult. */
export function ok<T>(value: T): Readonly<{ ok: true; value: T }> {
  return { ok: true, value };
}

/** The thrown form of a RaftError, for promise-based APIs (the driver rejects with it). */
export class RaftGroupError extends Error {
  readonly code: RaftErrorCode;
  readonly leaderHint: NodeId | null;
  constructor(code: RaftErrorCode, message: string, leaderHint: NodeId | null = null) {
    super(message);
    this.name = 'RaftGroupError';
    this.code = code;
    this.leaderHint = leaderHint;
  }

  static from(error: RaftError): RaftGroupError {
    return new RaftGroupError(error.code, error.message, error.leaderHint);
  }
}
