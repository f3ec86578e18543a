// name-addr / addr-spec with header parameters: the shape of From, To, Contact, Route,
// Record-Route, Reply-To, Refer-To, P-Asserted-Identity (RFC 3261 §20, §25.1):
//   ( name-addr / addr-spec ) *( SEMI generic-param ),
//   name-addr = [ display-name ] LAQUOT addr-spec RAQUOT.
// Contact may also be a lone "*" (REGISTER wildcard). One value at a time: the parser has
// already split comma-separated Contact/Route lists.

import { isTokenChar, isWs, quote, scanQuoted, skipWs } from './chars.js';
import { isValidUri } from './uri.js';
import { formatParams, scanParams, type Params } from './params.js';
import { memoize } from './memo.js';

/** `uri` is the URI text as written (parse it with parseUri); "*" for a wildcard Contact.
 * `displayName` is unquoted and unescaped; absent when none was written. */
export type NameAddr = Readonly<{ displayName?: string; uri: string; params: Readonly<Params> }>;

/** The same, plus whether the URI was enclosed in <>, which Route needs. */
export type NameAddrDetail = NameAddr & Readonly<{ bracketed: boolean }>;

export function parseNameAddr(value: string): NameAddr | null {
  const r = parseNameAddrDetail(value);
  if (r === null) return null;
  const { bracketed: _b, ...rest } = r;
  return rest;
}

/** Results are memoized and shared: never mutate one (see memo.ts). */
export function parseNameAddrDetail(value: string): NameAddrDetail | null {
  return NAME_ADDR_MEMO.get(value);
}

function parseNameAddrUncached(value: string): NameAddrDetail | null {
  let i = skipWs(value, 0);
  if (value.slice(i).trimEnd() === '*') return { uri: '*', params: {}, bracketed: false };
  let displayName: string | undefined;
  if (value.charCodeAt(i) === 0x22) {
    const q = scanQuoted(value, i);
    if (q === null) return null;
    displayName = q.text;
    i = skipWs(value, q.end);
    if (value.charCodeAt(i) !== 0x3c) return null;
  } else if (value.charCodeAt(i) !== 0x3c) {
    // Either *(token LWS) before "<", or a bare addr-spec.
    let j = i;
    while (j < value.length && (isTokenChar(value.charCodeAt(j)) || isWs(value.charCodeAt(j)))) j++;
    if (value.charCodeAt(j) === 0x3c && j > i) {
      displayName = value.slice(i, j).trim();
      i = j;
    } else {
      return parseAddrSpec(value, i);
    }
  }
  // LAQUOT addr-spec RAQUOT: no whitespace inside the brackets (RFC 4475 §3.1.2.14).
  const close = value.indexOf('>', i);
  if (close < 0) return null;
  const uri = value.slice(i + 1, close);
  if (!isUriText(uri, false)) return null;
  const p = scanParams(value, close + 1);
  if (p === null || skipWs(value, p.end) !== value.length) return null;
  const out: { displayName?: string; uri: string; params: Params; bracketed: boolean } = { uri, params: p.params, bracketed: true };
  if (displayName !== undefined) out.displayName = displayName;
  return out;
}

const NAME_ADDR_MEMO = memoize(parseNameAddrUncached);

function parseAddrSpec(value: string, i: number): NameAddrDetail | null {
  // Without brackets the URI ends at the first ";" (those are header parameters), and
  // may hold neither "," nor "?" (RFC 3261 §20; RFC 4475 §3.1.2.13).
  let j = i;
  while (j < value.length && value[j] !== ';' && !isWs(value.charCodeAt(j))) j++;
  const uri = value.slice(i, j);
  if (!isUriText(uri, true)) return null;
  const p = scanParams(value, j);
  if (p === null || skipWs(value, p.end) !== value.length) return null;
  return { uri, params: p.params, bracketed: false };
}

function isUriText(uri: string, bare: boolean): boolean {
  if (uri.length === 0) return false;
  if (bare && (uri.includes(',') || uri.includes('?'))) return false;
  for (let k = 0; k < uri.length; k++) {
    const c = uri.charCodeAt(k);
    if (c <= 0x20 || c === 0x7f || c === 0x3c || c === 0x3e || c === 0x22) return false;
  }
  return isValidUri(uri);
}

/** Formats as `"Display" <uri>;params` (always bracketed, which is never wrong). */
export function formatNameAddr(na: NameAddr): string {
  if (na.uri === '*') return '*';
  const dn = na.displayName !== undefined ? quote(na.displayName) + ' ' : '';
  return `${dn}<${na.uri}>${formatParams(na.params)}`;
}
