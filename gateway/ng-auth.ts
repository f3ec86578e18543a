// Authentication of ng control datagrams between Ringfence SIP nodes and gateways, kept
// inside rtpengine's framing so that nothing else about the protocol changes: a signed
// message is an ordinary "<cookie> <bencoded dict>" whose dictionary carries two more keys,
//   auth-ts  the sender's wall clock in ms (integer), for the freshness window;
//   auth     hex HMAC-SHA256, keyed by deriveKey(secret, 'ng-control'), over
//            "<direction>\n<cookie> " + bencode(dict without `auth`)
// The body is re-encoded canonically (keys sorted, as bencode requires) before hashing, so
// key order on the wire does not matter. `direction` ("ng-request" / "ng-reply") keeps a
// reply from being replayed to the gateway as a request and vice versa. Replies carry no
// timestamp: the client only accepts a reply for a cookie it is waiting on.
// Pure: no sockets, no clock (time comes in as a number).

import { createHmac, timingSafeEqual } from 'node:crypto';
import { bencode, type BDict } from './bencode.js';
import { ngAuthTimestampSkewMsMax } from './limits.js';

export const AUTH_KEY = 'auth';
export const AUTH_TS_KEY = 'auth-ts';
export type NgDirection = 'ng-request' | 'ng-reply';

const macHexChars = 64;

function mac(key: Buffer, direction: NgDirection, cookie: string, unsigned: BDict): Buffer {
  const h = createHmac('sha256', key);
  h.update(`${direction}\n${cookie} `, 'latin1');
  h.update(bencode(unsigned));
  return h.digest();
}

function without(body: BDict, k: string): BDict {
  // No prototype: a `__proto__` key from the wire stays a plain key.
  const out = Object.create(null) as Record<string, BDict[string]>;
  for (const key of Object.keys(body)) if (key !== k) out[key] = body[key]!;
  return out;
}

/** `body` with `auth` (and, for requests, `auth-ts` = nowMs) added. */
export function signNg(key: Buffer, direction: NgDirection, cookie: string, body: BDict, nowMs: number): BDict {
  const stamped: BDict = direction === 'ng-request' ? { ...without(body, AUTH_KEY), [AUTH_TS_KEY]: Math.floor(nowMs) } : without(body, AUTH_KEY);
  return { ...stamped, [AUTH_KEY]: mac(key, direction, cookie, stamped).toString('hex') };
}

export type NgAuthVerdict = 'ok' | 'unsigned' | 'bad-signature' | 'stale';

/** Checks a received body. Requests must also be fresh: |now − auth-ts| within the skew
 * bound (which is at most half the reply cache's TTL, so a replay outside the window is
 * refused by the clock and one inside it is still remembered by its cookie). */
export function verifyNg(key: Buffer, direction: NgDirection, cookie: string, body: BDict, nowMs: number): NgAuthVerdict {
  const given = body[AUTH_KEY];
  if (given === undefined) return 'unsigned';
  if (typeof given !== 'string' || given.length !== macHexChars || !/^[0-9a-f]+$/.test(given)) return 'bad-signature';
  const expected = mac(key, direction, cookie, without(body, AUTH_KEY));
  if (!timingSafeEqual(expected, Buffer.from(given, 'hex'))) return 'bad-signature';
  if (direction === 'ng-reply') return 'ok';
  const ts = body[AUTH_TS_KEY];
  if (typeof ts !== 'number' || Math.abs(nowMs - ts) > ngAuthTimestampSkewMsMax) return 'stale';
  return 'ok';
}

/** The body a command handler sees: the authentication keys are transport, not command. */
export function stripAuth(body: BDict): BDict {
  return without(without(body, AUTH_KEY), AUTH_TS_KEY);
}
