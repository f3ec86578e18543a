// Agents behind NAT: which REGISTERs get their observed source remembered, and where a
// call to a binding goes. Pure: no sockets, no clocks.
//
// The policy follows Kamailio's `nat_uac_test("19")` + `fix_nated_register` (and what
// pjsip's registrar client expects of a server): a REGISTER is treated as NATed when
//   1. its Contact host is a private, shared (CGN) or link-local address literal other
//      than the packet's source IP (Kamailio flag 1), or
//   2. its top Via sent-by host is not the packet's source IP (flag 2), or
//   3. over UDP, it asked for rport (RFC 3581: "answer where I sent from") and its Via port
//      is not the packet's source port (flag 16; over TCP the source port is always an
//      ephemeral one, so it tells nothing).
// A NATed binding keeps the Contact URI as the Request-URI of calls to it, but the calls
// are sent to where the REGISTER came from (protocol, IP, port), as RFC 3581 routes the
// REGISTER's own response. A Contact that already names the source is stored as is.
//
// RFC 5626 (SIP Outbound) over TCP: a REGISTER with `Supported: outbound` whose Contact
// carries `+sip.instance` and `reg-id` binds to the flow it came on. Requests to it go
// back over that very connection, and only over it: a NATed phone cannot be dialled, so
// once the flow is gone the binding is unreachable (the phone's own flow recovery
// re-registers). The flow belongs to the SIP node that holds the connection; another node
// treats the binding as unreachable and routes to another agent (no Path/edge proxy yet).
// Over UDP outbound is not offered (it needs STUN keep-alives, which we do not answer):
// such a REGISTER is handled as plain NAT and gets no `Require: outbound`.

import { isIPv4, isIPv6, parseNameAddr, parseUri, parseVia } from '../syntax/index.js';
import type { SipTarget } from '../transport/index.js';
import type { ContactSource } from '../../shards/types.js';
import { targetOfUri } from './dialog.js';

export type RegisterSource = Readonly<{
  protocol: 'UDP' | 'TCP';
  host: string;
  port: number;
  connectionId?: string;
}>;

export type NatInput = Readonly<{
  /** The Contact header value as received (name-addr with parameters). */
  contact: string;
  /** The top Via as the transport stamped it (received/rport filled in). */
  topVia: string | undefined;
  /** The Supported header values (one token each). */
  supported: readonly string[];
  source: RegisterSource;
  nodeId: string;
}>;

/** What to store with the binding (null: the Contact as is) and whether the 200 should
 * confirm an RFC 5626 flow (`Require: outbound`, `Flow-Timer`). */
export type NatDecision = Readonly<{ received: ContactSource | null; outbound: boolean }>;

export function natDecision(i: NatInput): NatDecision {
  const na = parseNameAddr(i.contact);
  const uri = na === null ? null : parseUri(na.uri);
  if (na === null || uri === null) return { received: null, outbound: false };
  const observed = { protocol: i.source.protocol, host: i.source.host, port: i.source.port, node: i.nodeId, connection: i.source.connectionId ?? null };
  const wantsOutbound = i.supported.some((s) => s.toLowerCase() === 'outbound')
    && typeof na.params['+sip.instance'] === 'string' && typeof na.params['reg-id'] === 'string';
  if (wantsOutbound && i.source.protocol === 'TCP' && i.source.connectionId !== undefined) {
    return { received: { ...observed, outbound: true }, outbound: true };
  }
  if (!isNated(uri.host, i.topVia, i.source)) return { received: null, outbound: false };
  const direct = targetOfUri(na.uri);
  if (direct !== null && direct.protocol === i.source.protocol && sameHost(direct.host, i.source.host) && direct.port === i.source.port) {
    return { received: null, outbound: false };
  }
  return { received: { ...observed, outbound: false }, outbound: false };
}

function isNated(contactHost: string, topVia: string | undefined, source: RegisterSource): boolean {
  if (isPrivateAddress(contactHost) && !sameHost(contactHost, source.host)) return true;
  const via = topVia === undefined ? null : parseVia(topVia);
  if (via === null) return false;
  if (!sameHost(via.host, source.host)) return true;
  // Over TCP the source port is the connection's ephemeral one whatever the phone listens
  // on: a port difference says nothing there.
  return source.protocol === 'UDP' && via.rport !== undefined && (via.port ?? 5060) !== source.port;
}

function sameHost(a: string, b: string): boolean {
  return stripBrackets(a).toLowerCase() === stripBrackets(b).toLowerCase();
}

function stripBrackets(h: string): string {
  return h.startsWith('[') && h.endsWith(']') ? h.slice(1, -1) : h;
}

/** RFC 1918, RFC 6598 (CGN), 169.254/16, IPv6 ULA (fc00::/7) and link-local (fe80::/10):
 * addresses that are not reachable from outside the network that assigned them. */
export function isPrivateAddress(host: string): boolean {
  const h = stripBrackets(host);
  if (isIPv4(h)) {
    const [a, b] = h.split('.').map(Number) as [number, number];
    return a === 10 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168)
      || (a === 100 && b >= 64 && b <= 127) || (a === 169 && b === 254);
  }
  if (isIPv6(h)) {
    const first = parseInt(h.split(':')[0] || '0', 16);
    return (first & 0xfe00) === 0xfc00 || (first & 0xffc0) === 0xfe80;
  }
  return false;
}

/** Where a call to a binding goes, as seen from SIP node `nodeId`; null when it cannot be
 * reached from here (a flow held by another node, or a URI we cannot use). */
export function bindingTarget(binding: Readonly<{ uri: string; received?: ContactSource }>, nodeId: string): SipTarget | null {
  const r = binding.received;
  if (r === undefined) return targetOfUri(binding.uri);
  const here = r.node === nodeId && r.connection !== null && r.protocol === 'TCP';
  if (r.outbound) return here ? { protocol: 'TCP', host: r.host, port: r.port, connectionId: r.connection!, flowOnly: true } : null;
  return here ? { protocol: r.protocol, host: r.host, port: r.port, connectionId: r.connection! } : { protocol: r.protocol, host: r.host, port: r.port };
}
