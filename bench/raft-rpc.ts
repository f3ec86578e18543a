// The client RPC of the bench replica (bench/raft-replica.ts), carried in length-prefixed
// frames (common/framing.ts). Binary, because at tens of thousands of proposals per
// second JSON would measure JSON:
//   request  = u8 1 | u32 id | payload bytes
//   response = u8 2 | u32 id | u8 1 | f64 index                       (committed and applied)
//            | u8 2 | u32 id | u8 0 | u8 n | code (n ASCII) | u8 m | leaderHint (m UTF-8, m=0: none)
// Ids are chosen by the client and echoed back; responses may come out of order.

import type { RaftErrorCode } from '../raft/types.js';

const TYPE_REQUEST = 1;
const TYPE_RESPONSE = 2;
/** Largest frame either side accepts (a 64-byte bench payload needs far less). */
export const RPC_FRAME_BYTES_MAX = 1024 * 1024;

export type ProposeRequest = Readonly<{ id: number; payload: Uint8Array }>;
export type ProposeResponse = Readonly<
  | { id: number; ok: true; index: number }
  | { id: number; ok: false; code: RaftErrorCode | 'RPC_ERR_BAD_REQUEST'; leaderHint: string | null }
>;

export class RpcDecodeError extends Error {
  readonly code = 'RPC_ERR_BAD_REQUEST';
}

export function encodeRequest(req: ProposeRequest): Buffer {
  const out = Buffer.allocUnsafe(5 + req.payload.length);
  out[0] = TYPE_REQUEST;
  out.writeUInt32BE(req.id >>> 0, 1);
  out.set(req.payload, 5);
  return out;
}

export function decodeRequest(frame: Buffer): ProposeRequest {
  if (frame.length < 5 || frame[0] !== TYPE_REQUEST) throw new RpcDecodeError('not a propose request');
  return { id: frame.readUInt32BE(1), payload: frame.subarray(5) };
}

export function encodeResponse(res: ProposeResponse): Buffer {
  if (res.ok) {
    const out = Buffer.allocUnsafe(14);
    out[0] = TYPE_RESPONSE;
    out.writeUInt32BE(res.id >>> 0, 1);
    out[5] = 1;
    out.writeDoubleBE(res.index, 6);
    return out;
  }
  const code = Buffer.from(res.code, 'ascii');
  const hint = Buffer.from(res.leaderHint ?? '', 'utf8');
  if (code.length > 255 || hint.length > 255) throw new RangeError('error code or leader hint longer than 255 bytes');
  const out = Buffer.allocUnsafe(8 + code.length + hint.length);
  out[0] = TYPE_RESPONSE;
  out.writeUInt32BE(res.id >>> 0, 1);
  out[5] = 0;
  out[6] = code.length;
  out.set(code, 7);
  out[7 + code.length] = hint.length;
  out.set(hint, 8 + code.length);
  return out;
}

export function decodeResponse(frame: Buffer): ProposeResponse {
  if (frame.length < 6 || frame[0] !== TYPE_RESPONSE) throw new RpcDecodeError('not a propose response');
  const id = frame.readUInt32BE(1);
  if (frame[5] === 1) {
    if (frame.length !== 14) throw new RpcDecodeError('bad ok response length');
    return { id, ok: true, index: frame.readDoubleBE(6) };
  }
  const codeLen = frame[6] ?? 0;
  const hintAt = 7 + codeLen;
  if (frame.length < hintAt + 1) throw new RpcDecodeError('truncated error response');
  const hintLen = frame[hintAt]!;
  if (frame.length !== hintAt + 1 + hintLen) throw new RpcDecodeError('bad error response length');
  const code = frame.toString('ascii', 7, hintAt) as RaftErrorCode;
  const hint = frame.toString('utf8', hintAt + 1, hintAt + 1 + hintLen);
  return { id, ok: false, code, leaderHint: hint === '' ? null : hint };
}
