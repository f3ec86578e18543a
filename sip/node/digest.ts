// Server side of SIP digest authentication (RFC 2617, RFC 7616, RFC 8760 for SIP):
// challenges for SHA-256 and MD5, nonces that carry their own issue time, the issuing node
// and an HMAC (keyed by deriveKey(root, 'digest-nonce'), never the root secret itself),
// expiry (stale=true so the phone retries silently with the new nonce), and nonce-count
// tracking so a replayed Authorization (same nonce, nc not above the last seen) is refused.
//
// A nonce is good only at the node process that issued it: another node (or this node
// after a restart) answers a correct response to it with a fresh stale=true challenge.
// That is what makes the per-process nc table sound: a nonce can never be replayed to a
// node that has not seen its counts. The `uri` must name the Request-URI and `qop=auth`
// is required (RFC 7616 §3.4: without qop there is no nc, so no replay check at all).
//
// Pure apart from the injected clock and random source: no sockets, no timers.

import assert from 'node:assert';
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { parseUri, type AuthHeader } from '../syntax/index.js';
import type { DigestCredentials } from '../../shards/types.js';
import { nonceFutureSkewMsMax, nonceLifetimeMsDefault, nonceTrackedMax } from './limits.js';

export type DigestAlgorithm = 'SHA-256' | 'MD5';

export type DigestOptions = Readonly<{
  /** Key for the nonce HMAC: deriveKey(config.secret, 'digest-nonce'). Nodes sharing it
   * recognise each other's nonces (and answer them stale=true). */
  key: Buffer;
  /** The issuing node, MAC'd into every nonce. */
  nodeId: string;
  realm: string;
  lifetimeMs?: number;
  now: () => number;
  random?: (n: number) => Uint8Array;
  trackedMax?: number;
  /** Challenges offered, in the order sent (default digestAlgorithmsDefault). */
  algorithms?: readonly DigestAlgorithm[];
}>;

/** Why credentials were refused. `stale`: expired, or issued by another node or an earlier
 * life of this one (only said to a client whose response was right). `uri-mismatch`: the
 * digest `uri` is not the Request-URI. `no-qop`: the response has no `qop=auth`. */
export type DigestFailure = 'malformed' | 'bad-nonce' | 'stale' | 'replay' | 'wrong-user' | 'wrong-response' | 'uri-mismatch' | 'no-qop';

export type DigestVerdict =
  | Readonly<{ ok: true; algorithm: DigestAlgorithm; username: string }>
  | Readonly<{ ok: false; reason: DigestFailure }>;

/** The challenges a node offers unless told otherwise (cluster file `digest.algorithms`,
 * or --digest-algorithms). RFC 8760 §2.4 would offer SHA-256 first, then MD5, but stock
 * clients still in use do not cope (run against the real ones in test/softphones/):
 * Debian 12's baresip (libre 1.1.0) walks every WWW-Authenticate and gives up with ENOSYS
 * on any that is not MD5, in either order; SIPp 3.6 answers the first challenge only, and
 * only MD5 ("authentication must use MD5" with SHA-256 first). linphonec 5.1 answers
 * SHA-256 when offered, else MD5. So the default is MD5 alone; a cluster whose phones all
 * know SHA-256 lists it in its cluster file. */
export const digestAlgorithmsDefault: readonly DigestAlgorithm[] = ['MD5'];

/** A comma-separated list such as `MD5,SHA-256`, or why it is not one. */
export function parseDigestAlgorithms(text: string): readonly DigestAlgorithm[] | string {
  const names = text.split(',').map((a) => a.trim()).filter((a) => a.length > 0);
  const algorithms: DigestAlgorithm[] = [];
  for (const name of names) {
    const a = name.toUpperCase() === 'MD5' ? 'MD5' : name.toUpperCase() === 'SHA-256' ? 'SHA-256' : null;
    if (a === null) return `unknown algorithm ${JSON.stringify(name)}; expected SHA-256 and/or MD5`;
    if (algorithms.includes(a)) return `${a} is listed twice`;
    algorithms.push(a);
  }
  return algorithms.length === 0 ? 'expected SHA-256 and/or MD5' : algorithms;
}

/** Longest node id put in a nonce (bytes, hex-encoded there). */
const nodeIdBytesMax = 64;

export class DigestAuthenticator {
  readonly realm: string;
  private readonly key: Buffer;
  private readonly lifetimeMs: number;
  private readonly trackedMax: number;
  /** This node and this life of it: `<node id hex>-<boot hex>`. */
  private readonly issuer: string;
  /** nonce → highest nc accepted. Map order is insertion order: the oldest goes first. */
  private readonly lastNc = new Map<string, number>();

  constructor(private readonly opts: DigestOptions) {
    assert(opts.key.length >= 16, 'digest nonce key too short');
    const id = Buffer.from(opts.nodeId, 'utf8');
    assert(id.length > 0 && id.length <= nodeIdBytesMax, 'digest node id must be 1-64 bytes');
    this.realm = opts.realm;
    this.key = opts.key;
    this.lifetimeMs = opts.lifetimeMs ?? nonceLifetimeMsDefault;
    this.trackedMax = opts.trackedMax ?? nonceTrackedMax;
    this.issuer = `${id.toString('hex')}-${Buffer.from((opts.random ?? randomBytes)(4)).toString('hex')}`;
  }

  /** A fresh nonce: `<issued ms>.<issuer>.<random hex>.<hmac>`, all token characters. */
  nonce(): string {
    const rand = Buffer.from((this.opts.random ?? randomBytes)(12)).toString('hex');
    const body = `${Math.floor(this.opts.now())}.${this.issuer}.${rand}`;
    return `${body}.${this.sign(body)}`;
  }

  /** WWW-Authenticate values, in the configured order. */
  challenges(stale = false): string[] {
    const nonce = this.nonce();
    const opaque = this.sign(`opaque.${nonce}`).slice(0, 16);
    return (this.opts.algorithms ?? digestAlgorithmsDefault).map((algorithm) => {
      const parts = [`realm="${this.realm}"`, `nonce="${nonce}"`, `opaque="${opaque}"`, `algorithm=${algorithm}`, `qop="auth"`];
      if (stale) parts.push('stale=true');
      return `Digest ${parts.join(', ')}`;
    });
  }

  /** Checks credentials from an Authorization header on a request for `requestUri`
   * against the agent's stored HA1s. Everything that needs no password is checked first,
   * so an unknown user (checked against made-up credentials) takes the same path. */
  verify(method: string, requestUri: string, auth: AuthHeader, creds: DigestCredentials): DigestVerdict {
    const p = auth.params;
    if (auth.scheme.toLowerCase() !== 'digest') return { ok: false, reason: 'malformed' };
    const { username, nonce, uri, response } = p;
    if (username === undefined || nonce === undefined || uri === undefined || response === undefined) {
      return { ok: false, reason: 'malformed' };
    }
    const algorithm = algorithmOf(p['algorithm']);
    if (algorithm === null || !(this.opts.algorithms ?? digestAlgorithmsDefault).includes(algorithm)) return { ok: false, reason: 'malformed' };
    const qop = p['qop'];
    if (qop === undefined) return { ok: false, reason: 'no-qop' };
    const cnonce = p['cnonce'];
    const ncText = p['nc'];
    if (qop !== 'auth' || cnonce === undefined || ncText === undefined || !/^[0-9a-fA-F]{8}$/.test(ncText)) {
      return { ok: false, reason: 'malformed' };
    }
    if (!sameUri(uri, requestUri)) return { ok: false, reason: 'uri-mismatch' };
    const stamp = this.nonceStamp(nonce);
    if (stamp === null) return { ok: false, reason: 'bad-nonce' };
    if (username !== creds.user || (p['realm'] ?? '') !== creds.realm) return { ok: false, reason: 'wrong-user' };
    const ha1 = algorithm === 'SHA-256' ? creds.ha1Sha256 : creds.ha1Md5;
    const h = (s: string): string => createHash(algorithm === 'SHA-256' ? 'sha256' : 'md5').update(s, 'utf8').digest('hex');
    const ha2 = h(`${method}:${uri}`);
    const nc = parseInt(ncText, 16);
    const expected = h(`${ha1}:${nonce}:${ncText}:${cnonce}:${qop}:${ha2}`);
    if (!equalText(expected, response.toLowerCase())) return { ok: false, reason: 'wrong-response' };
    // Checked after the response so a stale challenge only goes to a phone that knows the
    // password. Another issuer's nonce is stale here: we hold none of its counts.
    if (stamp.ageMs > this.lifetimeMs || stamp.issuer !== this.issuer) return { ok: false, reason: 'stale' };
    const last = this.lastNc.get(nonce);
    if (last !== undefined && nc <= last) return { ok: false, reason: 'replay' };
    this.remember(nonce, nc);
    return { ok: true, algorithm, username };
  }

  /** Age and issuer of a nonce a node with our key issued, or null when forged/garbled. */
  private nonceStamp(nonce: string): { ageMs: number; issuer: string } | null {
    const m = /^(\d{1,16})\.([0-9a-f]{2,128}-[0-9a-f]{8})\.([0-9a-f]{24})\.([0-9a-f]{64})$/.exec(nonce);
    if (m === null) return null;
    if (!equalText(this.sign(`${m[1]}.${m[2]}.${m[3]}`), m[4]!)) return null;
    const age = this.opts.now() - Number(m[1]);
    return age < -nonceFutureSkewMsMax ? null : { ageMs: Math.max(0, age), issuer: m[2]! };
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

/** The digest `uri` names the Request-URI (RFC 2617 §3.2.2.5): the same text, or the same
 * scheme, user, host (any case) and port. */
function sameUri(digestUri: string, requestUri: string): boolean {
  if (digestUri === requestUri) return true;
  const a = parseUri(digestUri);
  const b = parseUri(requestUri);
  if (a === null || b === null) return false;
  return a.scheme === b.scheme && a.user === b.user && a.host.toLowerCase() === b.host.toLowerCase() && a.port === b.port;
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
