// One Via value (RFC 3261 §20.42, §25.1; rport RFC 3581):
//   sent-protocol LWS sent-by *( SEMI via-params ),
//   sent-protocol = "SIP" SLASH "2.0" SLASH transport, sent-by = host [ COLON port ].
// LWS is allowed around the slashes and colon (RFC 4475 §3.1.1.1).

import { hasOwn, isToken, scanToken, setOwn, skipWs } from './chars.js';
import { formatHost, isIPv4, isIPv6, parseHost, parsePort } from './host.js';
import { formatParams, scanParams, type Params } from './params.js';

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

export function parseVia(value: string): Via | null {
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
  const params: Params = {};
  const special: Record<string, string | null | undefined> = {
    branch: v.branch,
    received: v.received,
    rport: v.rport === true ? null : v.rport === undefined ? undefined : String(v.rport),
  };
  for (const name of Object.keys(v.params)) {
    if (hasOwn(special, name)) {
      const s = special[name];
      if (s !== undefined) setOwn(params, name, s);
    } else {
      setOwn(params, name, v.params[name] ?? null);
    }
  }
  for (const name of ['branch', 'received', 'rport']) {
    const s = special[name];
    if (s !== undefined && !hasOwn(params, name)) setOwn(params, name, s);
  }
  const port = v.port !== undefined ? `:${v.port}` : '';
  return `SIP/2.0/${v.transport} ${formatHost(v.host)}${port}${formatParams(params)}`;
}
