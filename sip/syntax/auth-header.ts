// WWW-Authenticate / Proxy-Authenticate challenges and Authorization /
// Proxy-Authorization credentials (RFC 3261 §25.1, RFC 2617, RFC 8760):
//   scheme LWS auth-param *( COMMA auth-param ), auth-param = name EQUAL (token / quoted-string).
// Unknown schemes parse the same way (RFC 4475 §3.3.7) so the TU can answer 401.

import { hasOwn, isToken, isTokenChar, quote, scanQuoted, scanToken, setOwn, skipWs } from './chars.js';
import { paramCountMax } from './limits.js';

/** `params` maps lower-cased names to unquoted, unescaped values. */
export type AuthHeader = Readonly<{ scheme: string; params: Readonly<Record<string, string>> }>;

export function parseDigestParams(value: string): AuthHeader | null {
  let i = skipWs(value, 0);
  const schemeEnd = scanToken(value, i);
  if (schemeEnd === i) return null;
  const scheme = value.slice(i, schemeEnd);
  const params: Record<string, string> = {};
  i = skipWs(value, schemeEnd);
  if (i === value.length) return { scheme, params };
  if (i === schemeEnd) return null;
  let count = 0;
  for (;;) {
    const nameEnd = scanToken(value, i);
    if (nameEnd === i) return null;
    const name = value.slice(i, nameEnd).toLowerCase();
    i = skipWs(value, nameEnd);
    if (value.charCodeAt(i) !== 0x3d) return null;
    i = skipWs(value, i + 1);
    let v: string;
    if (value.charCodeAt(i) === 0x22) {
      const q = scanQuoted(value, i);
      if (q === null) return null;
      v = q.text;
      i = q.end;
    } else {
      const e = scanValueToken(value, i);
      if (e === i) return null;
      v = value.slice(i, e);
      i = e;
    }
    if (hasOwn(params, name) || ++count > paramCountMax) return null;
    setOwn(params, name, v);
    i = skipWs(value, i);
    if (i === value.length) return { scheme, params };
    if (value.charCodeAt(i) !== 0x2c) return null;
    i = skipWs(value, i + 1);
  }
}

// token, plus "/" and ":" which some clients leave unquoted in uri= (tolerated, as pjsip does).
function scanValueToken(s: string, i: number): number {
  while (i < s.length && (isTokenChar(s.charCodeAt(i)) || s[i] === '/' || s[i] === ':')) i++;
  return i;
}

/** Parameters written unquoted (RFC 2617 §3.2.1, §3.2.2): the rest are quoted. */
const UNQUOTED = new Set(['algorithm', 'stale', 'nc']);

/** Formats `scheme name="value", ...`. qop is quoted in challenges and bare in
 * credentials, as RFC 2617 writes it. */
export function formatDigestParams(
  scheme: string,
  params: Readonly<Record<string, string>>,
  kind: 'challenge' | 'credentials',
): string {
  const parts: string[] = [];
  for (const name of Object.keys(params)) {
    const v = params[name] ?? '';
    const bare = UNQUOTED.has(name) || (name === 'qop' && kind === 'credentials');
    parts.push(`${name}=${bare && isToken(v) ? v : quote(v)}`);
  }
  return parts.length === 0 ? scheme : `${scheme} ${parts.join(', ')}`;
}
