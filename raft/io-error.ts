// The typed error thrown by the I/O shell (storage, codec, transport, driver). It carries
// a stable RAFT_ERR_* code from raft/types.ts so callers branch on `code`, never on text.
// TEMPORARY: raft/errors.ts (RaftGroupError) is written by another helper; until it lands
// this module defines a structurally identical class. Swap to RaftGroupError when it exists.

import type { NodeId, RaftErrorCode } from './types.js';

export class RaftIoError extends Error {
  readonly code: RaftErrorCode;
  readonly leaderHint: NodeId | null;
  constructor(code: RaftErrorCode, message: string, leaderHint: NodeId | null = null) {
    super(message);
    this.name = 'RaftGroupError';
    this.code = code;
    this.leaderHint = leaderHint;
  }
}

export function ioError(code: RaftErrorCode, message: string, leaderHint: NodeId | null = null): Error & {
  readonly code: RaftErrorCode;
  readonly leaderHint: NodeId | null;
} {
  return new RaftIoError(code, message, leaderHint);
}

/** True when `e` is a typed Raft error with `code` (works across module copies). */
export function hasCode(e: unknown, code: RaftErrorCode): boolean {
  return typeof e === 'object' && e !== null && (e as { code?: unknown }).code === code;
}
