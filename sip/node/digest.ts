// Server side of SIP digest authentication (RFC 2617, RFC 7616, RFC 8760 for SIP):
// challenges for SHA-256 and MD5, nonces that carry their own issue time and an HMAC so
// any node holding the secret can check them without a nonce table, expiry (stale=true so
// the phone retries silently with the new nonce), and nonce-count tracking so a replayed
// Authorization (same nonce, nc not above the last seen) is refused.
//
// Pure apart from the injected clock and random source: no sockets, no timers.

import assert from 'node:assert';
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { AuthHeader } from '../syntax/index.js';
import type { DigestCredentials } from '../../shards/types.js';
import { nonceFutureSkewMsMax, nonceLifetimeMsDefault, nonceTrackedMax } from './limits.js';

export type DigestAlgorithm = 'SHA-256' | 'MD5';

export type DigestOptions = Readonly<{
  /** Key for the nonce HMAC; nodes sharing it accept each other's nonces. */
  secret: string;
  realm: string;
  lifetimeMs?: number;
  now: () => number;
  random?: (n: number) => Uint8Array;
  trackedMax?: number;
  /** Challenges offered, most preferred first (default SHA-256, MD5 as RFC 8760 §2.4
   * asks). Clients that read only the first challenge and know only MD5 (some test
   * tools) need MD5 first. */
  algorithms?: readonly DigestAlgorithm[];
}>;

export type DigestVerdict =
  | Readonly<{ ok: true; algorithm: DigestAlgorithm; username: string }>
  | Readonly<{ ok: false; reason: 'malformed' | 'bad-nonce' | 'stale' | 'replay' | 'wrong-user' | 'wrong-response' }>;

export class DigestAuthenticator {
  readonly realm: string;
  private readonly key: Buffer;
  private readonly lifetimeMs: number;
  private readonly trackedMax: number;
  /** nonce → highest nc accepted. Map order is insertion order: the oldest goes first. */
  private readonly lastNc = new Map<string, number>();

  constructor(private readonly opts: DigestOptions) {
    assert(opts.secret.length > 0, 'digest secret must not be empty');
    this.realm = opts.realm;
    this.key = createHmac('sha256', opts.secret).update('ringfence-digest-nonce').digest();
    this.lifetimeMs = opts.lifetimeMs ?? nonceLifetimeMsDefault;
    this.trackedMax = opts.trackedMax ?? nonceTrackedMax;
  }

  /** A fresh nonce: `<issued ms>.<random hex>.<hmac>`, all token characters. */
  nonce(): string {
    const rand = Buffer.from((this.opts.random ?? randomBytes)(12)).toString('hex');
    const body = `${Math.floor(this.opts.now())}.${rand}`;
    return `${body}.${this.sign(body)}`;
  }

  /** WWW-Authenticate values, most preferred first (RFC 8760 §2.4: SHA-256, then MD5). */
  challenges(stale = false): string[] {
    const nonce = this.nonce();
    const opaque = this.sign(`opaque.${nonce}`).slice(0, 16);
    return (this.opts.algorithms ?? (['SHA-256', 'MD5'] as const)).map((algorithm) => {
      const parts = [`realm="${this.realm}"`, `nonce="${nonce}"`, `opaque="${opaque}"`, `algorithm=${algorithm}`, `qop="auth"`];
      if (stale) parts.push('stale=true');
      return `Digest ${parts.join(', ')}`;
    });
  }

  /** Checks credentials from an Authorization header against the agent's stored HA1s. */
  verify(method: string, auth: AuthHeader, creds: DigestCredentials): DigestVerdict {
    const p = auth.params;
    if (auth.scheme.toLowerCase() !== 'digest') return { ok: false, reason: 'malformed' };
    const { username, nonce, uri, response } = p;
    if (username === undefined || nonce === undefined || uri === undefined || response === undefined) {
      return { ok: false, reason: 'malformed' };
    }
    const algorithm = algorithmOf(p['algorithm']);
    if (algorithm === null || !(this.opts.algorithms ?? ['SHA-256', 'MD5']).includes(algorithm)) return { ok: false, reason: 'malformed' };
    const age = this.nonceAgeMs(nonce);
    if (age === null) return { ok: false, reason: 'bad-nonce' };
    if (username !== creds.user || (p['realm'] ?? '') !== creds.realm) return { ok: false, reason: 'wrong-user' };
    const ha1 = algorithm === 'SHA-256' ? creds.ha1Sha256 : creds.ha1Md5;
    const h = (s: string): string => createHash(algorithm === 'SHA-256' ? 'sha256' : 'md5').update(s, 'utf8').digest('hex');
    const ha2 = h(`${method}:${uri}`);
    const qop = p['qop'];
    let expected: string;
    let nc = Number.POSITIVE_INFINITY; // without qop a nonce is good for one request
    if (qop === undefined) {
      expected = h(`${ha1}:${nonce}:${ha2}`);
    } else {
      const cnonce = p['cnonce'];
      const ncText = p['nc'];
      if (qop !== 'auth' || cnonce === undefined || ncText === undefined || !/^[0-9a-fA-F]{8}$/.test(ncText)) {
        return { ok: false, reason: 'malformed' };
      }
      nc = parseInt(ncText, 16);
      expected = h(`${ha1}:${nonce}:${ncText}:${cnonce}:${qop}:${ha2}`);
    }
    if (!equalText(expected, response.toLowerCase())) return { ok: false, reason: 'wrong-response' };
    // Checked after the response so a stale challenge only goes to a phone that knows the password.
    if (age > this.lifetimeMs) return { ok: false, reason: 'stale' };
    const last = this.lastNc.get(nonce);
    if (last !== undefined && nc <= last) return { ok: false, reason: 'replay' };
    this.remember(nonce, qop === undefined ? Number.POSITIVE_INFINITY : nc);
    return { ok: true, algorithm, username };
  }

  /** Age of a nonce we issued (any node with the secret), or null when forged/garbled. */
  private nonceAgeMs(nonce: string): number | null {
    const m = /^(\d{1,16})\.([0-9a-f]{24})\.([0-9a-f]{64})$/.exec(nonce);
    if (m === null) return null;
    if (!equalText(this.sign(`${m[1]}.${m[2]}`), m[3]!)) return null;
    const age = this.opts.now() - Number(m[1]);
    return age < -nonceFutureSkewMsMax ? null : Math.max(0, age);
  }

  private remember(nonce: string, nc: number): void {
    this.lastNc.delete(nonce);
    this.lastNc.set(nonce, nc);
    while (this.lastNc.size > this.trackedMax) {
      const oldest = this.lastNc.keys().next().value as string;
      this.lastNc.delete(oldest);
    }
  }

  private sign(text: string): string {
    return createHmac('sha256', this.key).update(text).digest('hex');
  }
}

export function algorithmOf(value: string | undefined): DigestAlgorithm | null {
  if (value === undefined || value.toUpperCase() === 'MD5') return 'MD5';
  if (value.toUpperCase() === 'SHA-256') return 'SHA-256';
  return null;
}

function equalText(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** The client side, for tests and the phones UA: the Authorization value answering a
 * challenge. */
export function digestAuthorization(o: Readonly<{
  method: string;
  uri: string;
  username: string;
  password: string;
  challenge: AuthHeader;
  nc: number;
  cnonce: string;
}>): string {
  const p = o.challenge.params;
  const algorithm = algorithmOf(p['algorithm']) ?? 'MD5';
  const h = (s: string): string => createHash(algorithm === 'SHA-256' ? 'sha256' : 'md5').update(s, 'utf8').digest('hex');
  const realm = p['realm'] ?? '';
  const nonce = p['nonce'] ?? '';
  const ncText = o.nc.toString(16).padStart(8, '0');
  const ha1 = h(`${o.username}:${realm}:${o.password}`);
  const ha2 = h(`${o.method}:${o.uri}`);
  const response = h(`${ha1}:${nonce}:${ncText}:${o.cnonce}:auth:${ha2}`);
  const parts = [
    `username="${o.username}"`, `realm="${realm}"`, `nonce="${nonce}"`, `uri="${o.uri}"`, `response="${response}"`,
    `algorithm=${algorithm}`, `qop=auth`, `nc=${ncText}`, `cnonce="${o.cnonce}"`,
  ];
  if (p['opaque'] !== undefined) parts.push(`opaque="${p['opaque']}"`);
  return `Digest ${parts.join(', ')}`;
}
