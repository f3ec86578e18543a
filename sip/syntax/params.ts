// Header parameters: *( SEMI generic-param ), generic-param = token [ EQUAL gen-value ],
// gen-value = token / host / quoted-string (RFC 3261 §25.1). Names are case-insensitive
// and stored lower-cased; values are kept as written (a quoted value keeps its quotes,
// so formatting gives back the same text). A name without "=" maps to null.

import { hasOwn, isTokenChar, scanQuoted, scanToken, setOwn, skipWs } from './chars.js';
import { isIPv6 } from './host.js';
import { paramCountMax } from './limits.js';

export type Params = Record<string, string | null>;

export type ParamsScan = { params: Params; names: string[]; end: number };

/** Parses parameters starting at `i` (which must point at ";" or at the end / a stop
 * character after optional whitespace). Stops at the first character that cannot
 * continue the list and reports its index in `end`; returns null when the list itself
 * is malformed: an empty parameter, a bad value, a repeated name, too many. */
export function scanParams(s: string, i: number): ParamsScan | null {
  const params: Params = {};
  const names: string[] = [];
  let j = skipWs(s, i);
  while (j < s.length && s.charCodeAt(j) === 0x3b) {
    j = skipWs(s, j + 1);
    const nameEnd = scanToken(s, j);
    if (nameEnd === j) return null;
    const name = s.slice(j, nameEnd).toLowerCase();
    j = skipWs(s, nameEnd);
    let value: string | null = null;
    if (j < s.length && s.charCodeAt(j) === 0x3d) {
      j = skipWs(s, j + 1);
      const v = scanGenValue(s, j);
      if (v === null) return null;
      value = s.slice(j, v);
      j = skipWs(s, v);
    }
    if (hasOwn(params, name) || names.length >= paramCountMax) return null;
    setOwn(params, name, value);
    names.push(name);
  }
  return { params, names, end: j };
}

/** Parses a string that must consist of parameters only (e.g. after a URI). */
export function parseParamsExact(s: string, i: number): Params | null {
  const r = scanParams(s, i);
  return r !== null && r.end === s.length ? r.params : null;
}

function scanGenValue(s: string, j: number): number | null {
  const c = s.charCodeAt(j);
  if (c === 0x22) {
    const q = scanQuoted(s, j);
    return q === null ? null : q.end;
  }
  if (c === 0x5b) {
    const close = s.indexOf(']', j);
    if (close < 0 || !isIPv6(s.slice(j + 1, close))) return null;
    return close + 1;
  }
  let k = j;
  // token and host values; ":" admits the bare IPv6 that Via received= carries (RFC 5118 §4.5).
  while (k < s.length && (isTokenChar(s.charCodeAt(k)) || s.charCodeAt(k) === 0x3a)) k++;
  return k === j ? null : k;
}

/** Formats parameters as ";name=value;flag" in insertion order. */
export function formatParams(params: Params): string {
  let out = '';
  for (const name of Object.keys(params)) {
    const v = params[name];
    out += v === null || v === undefined ? `;${name}` : `;${name}=${v}`;
  }
  return out;
}

/** Removes surrounding quotes and quoted-pair escapes from a parameter value. */
export function unquoteParam(v: string | null | undefined): string | undefined {
  if (v === null || v === undefined) return undefined;
  if (!v.startsWith('"')) return v;
  const q = scanQuoted(v, 0);
  return q !== null && q.end === v.length ? q.text : undefined;
}
