// Building a response to a request as a UAS or stateless element (RFC 3261 §8.2.6):
// Via (all, in order), From, To, Call-ID and CSeq are copied; a To tag is added when the
// caller supplies one and the To has none; Timestamp is copied into 100 Trying (§8.2.6.1).

import assert from 'node:assert/strict';
import type { SipHeader, SipRequest, SipResponse } from './message.js';
import { headerKey } from './headers.js';
import { parseNameAddr } from './name-addr.js';
import { isToken } from './chars.js';

const COPIED = new Set(['via', 'from', 'to', 'call-id', 'cseq']);

export type ResponseExtra = Readonly<{ headers?: readonly SipHeader[]; body?: Uint8Array; toTag?: string }>;

export function buildResponse(req: SipRequest, status: number, reason: string, extra: ResponseExtra = {}): SipResponse {
  assert.ok(Number.isInteger(status) && status >= 100 && status <= 699, 'status out of range');
  assert.ok(!/[\r\n]/.test(reason), 'reason phrase contains CR or LF');
  const headers: SipHeader[] = [];
  for (const h of req.headers) {
    const key = headerKey(h.name);
    if (key === 'to' && extra.toTag !== undefined) {
      headers.push({ name: h.name, value: addTag(h.value, extra.toTag) });
    } else if (COPIED.has(key) || (key === 'timestamp' && status === 100)) {
      headers.push(h);
    }
  }
  const body = extra.body ?? new Uint8Array(0);
  for (const h of extra.headers ?? []) if (headerKey(h.name) !== 'content-length') headers.push(h);
  headers.push({ name: 'Content-Length', value: String(body.length) });
  return { kind: 'response', status, reason, headers, body };
}

function addTag(to: string, tag: string): string {
  assert.ok(isToken(tag), 'To tag is not a token');
  const na = parseNameAddr(to);
  // A To that already has a tag (mid-dialog request) or one we cannot read keeps its value.
  if (na === null || na.params['tag'] !== undefined) return to;
  return `${to};tag=${tag}`;
}
