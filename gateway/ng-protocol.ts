// rtpengine's ng control framing: "<cookie> <bencoded dictionary>" in one UDP datagram.
// The reply carries the request's cookie, which is how a client matches replies and how
// the server recognises a retransmitted command: the ReplyCache answers it with the very
// same reply instead of running the command twice (a second offer must not allocate a
// second set of ports). Pure: no sockets, time comes in as numbers.

import { bdecodePrefix, bencode, isBDict, type BDict } from './bencode.js';
import { GatewayError, GatewayErrorCode } from './errors.js';
import { ngCookieBytesMax, ngMessageBytesMax, ngReplyCacheEntriesMax, ngReplyCacheTtlMs } from './limits.js';

export type NgMessage = Readonly<{ cookie: string; body: BDict }>;

const SPACE = 0x20;

export function parseNgMessage(buf: Uint8Array): NgMessage {
  if (buf.length > ngMessageBytesMax) throw new GatewayError(GatewayErrorCode.NG_MALFORMED, 'message too large');
  const sp = buf.indexOf(SPACE);
  if (sp <= 0 || sp > ngCookieBytesMax) throw new GatewayError(GatewayErrorCode.NG_MALFORMED, 'missing cookie');
  const cookie = Buffer.from(buf.buffer, buf.byteOffset, sp).toString('latin1');
  const { value, end } = bdecodePrefix(buf, sp + 1);
  if (!isBDict(value)) throw new GatewayError(GatewayErrorCode.NG_MALFORMED, 'body is not a dictionary');
  // rtpengine tolerates trailing whitespace/newline after the dictionary (netcat users).
  for (let i = end; i < buf.length; i++) {
    const c = buf[i];
    if (c !== 0x0a && c !== 0x0d && c !== SPACE) throw new GatewayError(GatewayErrorCode.NG_MALFORMED, 'trailing bytes');
  }
  return { cookie, body: value };
}

/** The cookie alone, when the body is too broken to parse, so an error can still be
 * addressed to the request. */
export function peekCookie(buf: Uint8Array): string | null {
  const sp = buf.indexOf(SPACE);
  if (sp <= 0 || sp > ngCookieBytesMax) return null;
  return Buffer.from(buf.buffer, buf.byteOffset, sp).toString('latin1');
}

export function formatNgMessage(cookie: string, body: BDict): Buffer {
  const b = Buffer.concat([Buffer.from(cookie + ' ', 'latin1'), bencode(body)]);
  if (b.length > ngMessageBytesMax) throw new GatewayError(GatewayErrorCode.NG_MALFORMED, 'reply too large');
  return b;
}

export function errorReply(reason: string): BDict {
  return { result: 'error', 'error-reason': reason };
}

type CacheEntry = { reply: Buffer; storedMs: number };

/** Replies by cookie, bounded in count and age. Oldest entries go first (Map keeps
 * insertion order), so eviction is O(1). */
export class ReplyCache {
  private readonly entries = new Map<string, CacheEntry>();
  constructor(
    private readonly entriesMax = ngReplyCacheEntriesMax,
    private readonly ttlMs = ngReplyCacheTtlMs,
  ) {}

  get(cookie: string, nowMs: number): Buffer | undefined {
    const e = this.entries.get(cookie);
    if (e === undefined) return undefined;
    if (nowMs - e.storedMs > this.ttlMs) {
      this.entries.delete(cookie);
      return undefined;
    }
    return e.reply;
  }

  put(cookie: string, reply: Buffer, nowMs: number): void {
    this.entries.delete(cookie);
    this.entries.set(cookie, { reply, storedMs: nowMs });
    while (this.entries.size > this.entriesMax) {
      const oldest = this.entries.keys().next().value as string;
      this.entries.delete(oldest);
    }
  }

  get size(): number {
    return this.entries.size;
  }
}
