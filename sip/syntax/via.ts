// One Via value (RFC 3261 §20.42, §25.1; rport RFC 3581):
//   sent-protocol LWS sent-by *( SEMI via-params ),
//   sent-protocol = "SIP" SLASH "2.0" SLASH transport, sent-by = host [ COLON port ].
// LWS is allowed around the slashes and colon (RFC 4475 §3.1.1.1).

import { isToken, scanToken, setOwn, skipWs } from './chars.js';
import { formatHost, isIPv4, isIPv6, parseHost, parsePort } from './host.js';
import { scanParams, type Params } from './params.js';
import { memoize } from './memo.js';

/** A parsed Via value. `transport` is upper-cased ("UDP", "TCP", "TLS", "WS", ...);
 * `host` has no IPv6 brackets. `params` holds every parameter (lower-cased names) in
 * order, including branch/received/rport, which are also lifted out for convenience:
 * rport is `true` when present without a value (a request asking for it). */
export type Via = Readonly<{
  transport: string;
  host: string;
  port?: number;
  params: Readonly<Params>;
  branch?: string;
  received?: string;
  rport?: number | true;
}>;

/** Parses one Via value; results are memoized and shared: never mutate one (see memo.ts). */
export function parseVia(value: string): Via | null {
  return VIA_MEMO.get(value);
}

function parseViaUncached(value: string): Via | null {
  let i = skipWs(value, 0);
  const protoEnd = scanToken(value, i);
  if (value.slice(i, protoEnd).toUpperCase() !== 'SIP') return null;
  i = expectSlash(value, protoEnd);
  if (i < 0) return null;
  const verEnd = scanToken(value, i);
  if (value.slice(i, verEnd) !== '2.0') return null;
  i = expectSlash(value, verEnd);
  if (i < 0) return null;
  const trEnd = scanToken(value, i);
  if (trEnd === i) return null;
  const transport = value.slice(i, trEnd).toUpperCase();
  i = skipWs(value, trEnd);
  if (i === trEnd) return null; // LWS is mandatory before sent-by
  let hostEnd: number;
  if (value.charCodeAt(i) === 0x5b) {
    hostEnd = value.indexOf(']', i) + 1;
    if (hostEnd <= 0) return null;
  } else {
    hostEnd = i;
    while (hostEnd < value.length && /* alnum . - */ isHostChar(value.charCodeAt(hostEnd))) hostEnd++;
  }
  const host = parseHost(value.slice(i, hostEnd));
  if (host === null) return null;
  let port: number | undefined;
  i = skipWs(value, hostEnd);
  if (value.charCodeAt(i) === 0x3a) {
    const ps = skipWs(value, i + 1);
    let pe = ps;
    while (pe < value.length && value.charCodeAt(pe) >= 0x30 && value.charCodeAt(pe) <= 0x39) pe++;
    const p = parsePort(value.slice(ps, pe));
    if (p === null) return null;
    port = p;
    i = pe;
  }
  const sp = scanParams(value, i);
  if (sp === null || skipWs(value, sp.end) !== value.length) return null;
  return withSpecialParams({ transport, host, port, params: sp.params });
}

const VIA_MEMO = memoize(parseViaUncached);

function isHostChar(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c === 0x2d || c === 0x2e;
}

function expectSlash(s: string, i: number): number {
  const j = skipWs(s, i);
  if (s.charCodeAt(j) !== 0x2f) return -1;
  return skipWs(s, j + 1);
}

function withSpecialParams(v: { transport: string; host: string; port: number | undefined; params: Params }): Via | null {
  const out: { -readonly [K in keyof Via]: Via[K] } = { transport: v.transport, host: v.host, params: v.params };
  if (v.port !== undefined) out.port = v.port;
  const p = v.params;
  const branch = p['branch'];
  if (branch !== undefined) {
    if (branch === null || !isToken(branch)) return null;
    out.branch = branch;
  }
  const received = p['received'];
  if (received !== undefined) {
    if (received === null || !(isIPv4(received) || isIPv6(received.replace(/^\[|\]$/g, '')))) return null;
    out.received = received;
  }
  const rport = p['rport'];
  if (rport !== undefined) {
    if (rport === null) out.rport = true;
    else {
      const n = parsePort(rport);
      if (n === null) return null;
      out.rport = n;
    }
  }
  const ttl = p['ttl'];
  if (ttl !== undefined && (ttl === null || parsePort(ttl) === null || Number(ttl) > 255)) return null;
  const maddr = p['maddr'];
  if (maddr !== undefined && (maddr === null || parseHost(maddr) === null)) return null;
  return out;
}

/** Formats a Via value. branch/received/rport fields win over the same names in
 * `params`; other parameters keep their order. */
export function formatVia(v: Via): string {
  // Built as one string, without the intermediate params objects: the transport stamps
  // (and so formats) the top Via of every request it receives.
  const rport = v.rport === true ? null : v.rport === undefined ? undefined : String(v.rport);
  let out = `SIP/2.0/${v.transport} ${formatHost(v.host)}${v.port !== undefined ? `:${v.port}` : ''}`;
  let sawBranch = false;
  let sawReceived = false;
  let sawRport = false;
  for (const name of Object.keys(v.params)) {
    let value: string | null | undefined;
    if (name === 'branch') { sawBranch = true; value = v.branch; }
    else if (name === 'received') { sawReceived = true; value = v.received; }
    else if (name === 'rport') { sawRport = true; value = rport; }
    else value = v.params[name] ?? null;
    if (value !== undefined) out += value === null ? `;${name}` : `;${name}=${value}`;
  }
  if (!sawBranch && v.branch !== undefined) out += `;branch=${v.branch}`;
  if (!sawReceived && v.received !== undefined) out += `;received=${v.received}`;
  if (!sawRport && rport !== undefined) out += rport === null ? ';rport' : `;rport=${rport}`;
  return out;
}

/**
 * `via` with `received` and `rport` replaced (undefined removes one), as text, plus the
 * Via that parsing that text gives, which is handed to the parse memo: the transport
 * stamps every request's top Via and the transaction layer parses the stamped text
 * right after. When the new values would not parse back (a received that is not an IP
 * address, a port out of range) nothing is remembered and parseVia decides later.
 */
export function restampVia(via: Via, received: string | undefined, rport: number | true | undefined): string {
  const next: { -readonly [K in keyof Via]: Via[K] } = { transport: via.transport, host: via.host, params: {} };
  if (via.port !== undefined) next.port = via.port;
  if (via.branch !== undefined) next.branch = via.branch;
  if (received !== undefined) next.received = received;
  if (rport !== undefined) next.rport = rport;
  const value = formatVia({ ...next, params: via.params });
  const rportText = rport === true ? null : rport === undefined ? undefined : String(rport);
  const receivedOk = received === undefined || isIPv4(received) || (received.startsWith('[') && received.endsWith(']') && isIPv6(received.slice(1, -1)));
  const rportOk = rport === undefined || rport === true || (Number.isInteger(rport) && rport >= 0 && rport <= 65535);
  if (!receivedOk || !rportOk) return value;
  // The params in the order formatVia wrote them (see formatVia), values as text.
  const params: Params = {};
  for (const name of Object.keys(via.params)) {
    if (name === 'received') { if (received !== undefined) setOwn<string | null>(params, name, received); }
    else if (name === 'rport') { if (rportText !== undefined) setOwn<string | null>(params, name, rportText); }
    else if (name === 'branch') { if (via.branch !== undefined) setOwn<string | null>(params, name, via.branch); }
    else setOwn<string | null>(params, name, via.params[name] ?? null);
  }
  if (via.branch !== undefined && !Object.hasOwn(params, 'branch')) setOwn<string | null>(params, 'branch', via.branch);
  if (received !== undefined && !Object.hasOwn(params, 'received')) setOwn<string | null>(params, 'received', received);
  if (rportText !== undefined && !Object.hasOwn(params, 'rport')) setOwn<string | null>(params, 'rport', rportText);
  next.params = params;
  VIA_MEMO.seed(value, next);
  return value;
}
