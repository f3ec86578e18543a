// The client half of SIP digest authentication (RFC 2617, RFC 7616 / RFC 8760 for
// SHA-256): pick a challenge, compute the response. Pure: the cnonce comes in as an input.

import { createHash } from 'node:crypto';
import { formatDigestParams, parseDigestParams } from '../syntax/index.js';
import { PHONES_ERR, PhonesError } from './errors.js';

export type DigestAlgorithm = 'MD5' | 'SHA-256';

export type Challenge = Readonly<{
  algorithm: DigestAlgorithm;
  realm: string;
  nonce: string;
  opaque?: string;
  /** 'auth' when the server offered qop=auth (we never use auth-int). */
  qop?: 'auth';
  stale: boolean;
}>;

function algorithmOf(value: string | undefined): DigestAlgorithm | null {
  const a = (value ?? 'MD5').toUpperCase();
  if (a === 'MD5') return 'MD5';
  if (a === 'SHA-256') return 'SHA-256';
  return null;
}

/** Picks the challenge to answer from WWW-Authenticate values: the preferred algorithm
 * if offered, else any we support. Throws PHONES_ERR_CHALLENGE_UNSUPPORTED if none. */
export function pickChallenge(values: readonly string[], prefer: DigestAlgorithm): Challenge {
  const usable: Challenge[] = [];
  for (const v of values) {
    const h = parseDigestParams(v);
    if (h === null || h.scheme.toLowerCase() !== 'digest') continue;
    const algorithm = algorithmOf(h.params['algorithm']);
    const nonce = h.params['nonce'];
    if (algorithm === null || nonce === undefined) continue;
    const qops = (h.params['qop'] ?? '').split(',').map((q) => q.trim());
    if (h.params['qop'] !== undefined && !qops.includes('auth')) continue;
    usable.push({
      algorithm,
      realm: h.params['realm'] ?? '',
      nonce,
      ...(h.params['opaque'] !== undefined ? { opaque: h.params['opaque'] } : {}),
      ...(qops.includes('auth') ? { qop: 'auth' as const } : {}),
      stale: (h.params['stale'] ?? '').toLowerCase() === 'true',
    });
  }
  const chosen = usable.find((c) => c.algorithm === prefer) ?? usable[0];
  if (chosen === undefined) throw new PhonesError(PHONES_ERR.CHALLENGE_UNSUPPORTED, `no usable digest challenge in ${JSON.stringify(values)}`);
  return chosen;
}

function hash(algorithm: DigestAlgorithm, text: string): string {
  return createHash(algorithm === 'MD5' ? 'md5' : 'sha256').update(text, 'utf8').digest('hex');
}

export type DigestInput = Readonly<{
  challenge: Challenge;
  method: string;
  uri: string;
  user: string;
  password: string;
  /** Nonce count for this nonce, from 1 (qop=auth only). */
  nc: number;
  cnonce: string;
}>;

/** The Authorization header value answering `challenge`. */
export function digestAuthorization(i: DigestInput): string {
  const { challenge: c } = i;
  const ha1 = hash(c.algorithm, `${i.user}:${c.realm}:${i.password}`);
  const ha2 = hash(c.algorithm, `${i.method}:${i.uri}`);
  const nc = i.nc.toString(16).padStart(8, '0');
  const response = c.qop === 'auth'
    ? hash(c.algorithm, `${ha1}:${c.nonce}:${nc}:${i.cnonce}:auth:${ha2}`)
    : hash(c.algorithm, `${ha1}:${c.nonce}:${ha2}`);
  const params: Record<string, string> = { username: i.user, realm: c.realm, nonce: c.nonce, uri: i.uri, response, algorithm: c.algorithm };
  if (c.qop === 'auth') Object.assign(params, { qop: 'auth', nc, cnonce: i.cnonce });
  if (c.opaque !== undefined) params['opaque'] = c.opaque;
  return formatDigestParams('Digest', params, 'credentials');
}
