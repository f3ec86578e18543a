// SIP, SIPS and tel URIs (RFC 3261 §19.1, §25.1; RFC 3966), and the generic
// absoluteURI check for other schemes. Components are stored %-decoded so that
// comparison (§19.1.4) needs no further decoding; formatUri escapes them again.
// Parameter names are lower-cased (they compare case-insensitively).

import {
  escapePercent, hasOwn, isAlpha, isDigit, isHeaderNvChar, isParamChar, isPasswordChar,
  isUricChar, isUserChar, setOwn, unescapePercent, isHexChar,
} from './chars.js';
import { formatHost, parseHost, parsePort } from './host.js';
import { paramCountMax, uriCharsMax } from './limits.js';
import { memoize } from './memo.js';

/** A parsed SIP/SIPS/tel URI. For tel URIs `user` holds the telephone-subscriber number
 * and `host` is "". `host` never carries IPv6 brackets. `params` maps lower-cased names
 * to decoded values (null for a flag such as `lr`); `headers` keeps URI headers
 * (?name=value) in order, decoded. */
export type SipUri = Readonly<{
  scheme: 'sip' | 'sips' | 'tel';
  user?: string;
  password?: string;
  host: string;
  port?: number;
  params: Readonly<Record<string, string | null>>;
  headers: Readonly<Record<string, string>>;
}>;

/** Returns the lower-cased scheme of an absolute URI, or null. */
export function uriScheme(s: string): string | null {
  const colon = s.indexOf(':');
  if (colon <= 0 || !isAlpha(s.charCodeAt(0))) return null;
  for (let i = 1; i < colon; i++) {
    const c = s.charCodeAt(i);
    if (!isAlpha(c) && !isDigit(c) && c !== 0x2b && c !== 0x2d && c !== 0x2e) return null;
  }
  return s.slice(0, colon).toLowerCase();
}

/** absoluteURI = scheme ":" ( hier-part / opaque-part ) over uric characters. */
export function isAbsoluteUri(s: string): boolean {
  if (s.length > uriCharsMax) return false;
  const scheme = uriScheme(s);
  if (scheme === null || s.length === scheme.length + 1) return false;
  return checkChars(s.slice(scheme.length + 1), isUricChar);
}

/** Validates a URI of any scheme: SIP/SIPS/tel strictly, others as absoluteURI. */
export function isValidUri(s: string): boolean {
  const scheme = uriScheme(s);
  if (scheme === 'sip' || scheme === 'sips' || scheme === 'tel') return parseUri(s) !== null;
  return isAbsoluteUri(s);
}

/** Checks allowed characters and %HH escapes. */
function checkChars(s: string, allowed: (c: number) => boolean): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x25) {
      if (!isHexChar(s.charCodeAt(i + 1)) || !isHexChar(s.charCodeAt(i + 2))) return false;
      i += 2;
    } else if (!allowed(c)) {
      return false;
    }
  }
  return true;
}

function decode(s: string, allowed: (c: number) => boolean, allowEmpty: boolean): string | null {
  if ((!allowEmpty && s.length === 0) || !checkChars(s, allowed)) return null;
  return unescapePercent(s);
}

/** Results are memoized and shared: never mutate one (see memo.ts). */
export function parseUri(s: string): SipUri | null {
  return URI_MEMO.get(s);
}

function parseUriUncached(s: string): SipUri | null {
  if (s.length > uriCharsMax) return null;
  const scheme = uriScheme(s);
  if (scheme === 'sip' || scheme === 'sips') return parseSip(scheme, s.slice(scheme.length + 1));
  if (scheme === 'tel') return parseTel(s.slice(4));
  return null;
}

const URI_MEMO = memoize(parseUriUncached);

function parseSip(scheme: 'sip' | 'sips', rest: string): SipUri | null {
  // "@" may appear neither in params nor in headers, so the first one ends userinfo
  // even when the user part holds ";" or "?" (RFC 4475 §3.1.1.2, §3.1.1.9).
  const at = rest.indexOf('@');
  let user: string | undefined;
  let password: string | undefined;
  if (at >= 0) {
    const info = rest.slice(0, at);
    const colon = info.indexOf(':');
    const u = decode(colon >= 0 ? info.slice(0, colon) : info, isUserChar, false);
    if (u === null) return null;
    user = u;
    if (colon >= 0) {
      const p = decode(info.slice(colon + 1), isPasswordChar, true);
      if (p === null) return null;
      password = p;
    }
  }
  const hp = rest.slice(at + 1);
  let k = 0;
  while (k < hp.length && hp[k] !== ';' && hp[k] !== '?') k++;
  const hostport = hp.slice(0, k);
  const hostEnd = hostport.startsWith('[') ? hostport.indexOf(']') + 1 : hostport.indexOf(':') < 0 ? hostport.length : hostport.indexOf(':');
  if (hostEnd <= 0) return null;
  const host = parseHost(hostport.slice(0, hostEnd));
  if (host === null) return null;
  let port: number | undefined;
  if (hostEnd < hostport.length) {
    if (hostport[hostEnd] !== ':') return null;
    const p = parsePort(hostport.slice(hostEnd + 1));
    if (p === null) return null;
    port = p;
  }
  const tail = parseParamsAndHeaders(hp.slice(k));
  if (tail === null) return null;
  const uri: { -readonly [K in keyof SipUri]: SipUri[K] } = { scheme, host, params: tail.params, headers: tail.headers };
  if (user !== undefined) uri.user = user;
  if (password !== undefined) uri.password = password;
  if (port !== undefined) uri.port = port;
  return uri;
}

function parseParamsAndHeaders(s: string): { params: Record<string, string | null>; headers: Record<string, string> } | null {
  const params: Record<string, string | null> = {};
  const headers: Record<string, string> = {};
  const q = s.indexOf('?');
  const paramPart = q >= 0 ? s.slice(0, q) : s;
  if (paramPart.length > 0) {
    const items = paramPart.slice(1).split(';');
    if (items.length > paramCountMax) return null;
    for (const item of items) {
      const eq = item.indexOf('=');
      const name = decode(eq >= 0 ? item.slice(0, eq) : item, isParamChar, false);
      const value = eq >= 0 ? decode(item.slice(eq + 1), isParamChar, false) : null;
      if (name === null || (eq >= 0 && value === null)) return null;
      const key = name.toLowerCase();
      if (hasOwn(params, key)) return null;
      setOwn(params, key, value);
    }
  }
  if (q >= 0) {
    const items = s.slice(q + 1).split('&');
    if (items.length > paramCountMax) return null;
    for (const item of items) {
      const eq = item.indexOf('=');
      if (eq < 0) return null;
      const name = decode(item.slice(0, eq), isHeaderNvChar, false);
      const value = decode(item.slice(eq + 1), isHeaderNvChar, true);
      if (name === null || value === null || hasOwn(headers, name)) return null;
      setOwn(headers, name, value);
    }
  }
  return { params, headers };
}

const isTelChar = (c: number): boolean =>
  isDigit(c) || isHexChar(c) || c === 0x2a || c === 0x23 || c === 0x2d || c === 0x2e || c === 0x28 || c === 0x29;

function parseTel(rest: string): SipUri | null {
  const semi = rest.indexOf(';');
  const number = semi >= 0 ? rest.slice(0, semi) : rest;
  const body = number.startsWith('+') ? number.slice(1) : number;
  if (body.length === 0 || !checkChars(body, isTelChar) || body.indexOf('%') >= 0) return null;
  let hasDigit = false;
  for (let i = 0; i < body.length; i++) if (isHexChar(body.charCodeAt(i)) || body[i] === '*' || body[i] === '#') hasDigit = true;
  if (!hasDigit) return null;
  const tail = parseParamsAndHeaders(semi >= 0 ? rest.slice(semi) : '');
  if (tail === null || Object.keys(tail.headers).length > 0) return null;
  return { scheme: 'tel', user: number, host: '', params: tail.params, headers: tail.headers };
}

// "%" itself is always escaped by escapePercent, so decoded text round-trips.
const isUserOut = isUserChar;
const isParamOut = isParamChar;
const isHnvOut = isHeaderNvChar;
const isPasswordOut = isPasswordChar;

export function formatUri(u: SipUri): string {
  let out = u.scheme + ':';
  if (u.scheme === 'tel') {
    out += u.user ?? '';
  } else {
    if (u.user !== undefined) {
      out += escapePercent(u.user, isUserOut);
      if (u.password !== undefined) out += ':' + escapePercent(u.password, isPasswordOut);
      out += '@';
    }
    out += formatHost(u.host);
    if (u.port !== undefined) out += ':' + u.port;
  }
  for (const name of Object.keys(u.params)) {
    const v = u.params[name];
    out += ';' + escapePercent(name, isParamOut);
    if (v !== null && v !== undefined) out += '=' + escapePercent(v, isParamOut);
  }
  const hnames = Object.keys(u.headers);
  hnames.forEach((name, i) => {
    out += (i === 0 ? '?' : '&') + escapePercent(name, isHnvOut) + '=' + escapePercent(u.headers[name] ?? '', isHnvOut);
  });
  return out;
}
