// How the I/O shell (storage, codec, transport, driver) builds its typed errors: always a
// RaftGroupError (raft/errors.ts) with a stable RAFT_ERR_* code, so callers branch on
// `code`, never on message text.

import { RaftGroupError } from './errors.js';
import type { NodeId, RaftErrorCode } from './types.js';

export function ioError(code: RaftErrorCode, message: string, leaderHint: NodeId | null = null): RaftGroupError {
  return new RaftGroupError(code, message, leaderHint);
}

/** True when `e` is a typed Raft error with `code` (works across module copies). */
export function hasCode(e: unknown, code: RaftErrorCode): boolean {
  return typeof e === 'object' && e !== null && (e as { code?: unknown }).code === code;
}
