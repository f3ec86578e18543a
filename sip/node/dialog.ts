// One side of a B2BUA call as an RFC 3261 §12 dialog: what we need to send requests
// inside it (BYE, re-INVITE, INFO, ACK for a 2xx) and where they go. Pure helpers.

import { formatHost, generateBranch, getHeader, getHeaders, parseNameAddr, parseUri } from '../syntax/index.js';
import type { SipHeader, SipRequest, SipResponse } from '../syntax/index.js';
import type { SipTarget, TransportProtocol } from '../transport/index.js';

export type DialogLeg = {
  readonly callId: string;
  readonly localTag: string;
  /** Our From (UAC leg) or To (UAS leg) header value, tag included. */
  readonly localHeader: string;
  /** The peer's header value, tag included. */
  remoteHeader: string;
  /** The peer's Contact URI. */
  remoteTarget: string;
  /** Route URIs in the order requests carry them (RFC 3261 §12.1). */
  routeSet: string[];
  localCseq: number;
  /** Where the peer is really reached when that is not its Contact: the source its
   * REGISTER came from (behind a NAT) or its RFC 5626 flow. Requests to it keep the
   * Contact as Request-URI (RFC 3581 §4 style) but travel here. */
  readonly flowTarget?: SipTarget;
};

/** Where a request to `uri` goes: host, port (5060 by default) and the transport its
 * `transport` parameter names (UDP by default). Null for an unusable URI. */
export function targetOfUri(uri: string): SipTarget | null {
  const u = parseUri(uri);
  if (u === null || u.scheme === 'tel' || u.host === '') return null;
  const t = (u.params['transport'] ?? 'udp')?.toUpperCase();
  const protocol: TransportProtocol | null = t === 'UDP' || t === 'TCP' ? t : null;
  if (protocol === null) return null;
  const maddr = u.params['maddr'];
  return { protocol, host: typeof maddr === 'string' ? maddr : u.host, port: u.port ?? 5060 };
}

/** The URI inside a name-addr header value (Contact, Route, Record-Route). */
export function uriOf(headerValue: string): string | null {
  const na = parseNameAddr(headerValue);
  return na === null || na.uri === '*' ? null : na.uri;
}

export function tagOf(headerValue: string): string | undefined {
  const na = parseNameAddr(headerValue);
  const tag = na?.params['tag'];
  return typeof tag === 'string' ? tag : undefined;
}

/** Loose routing: a request goes to the first Route when there is one. */
export function legTarget(leg: DialogLeg): SipTarget | null {
  if (leg.routeSet.length === 0 && leg.flowTarget !== undefined) return leg.flowTarget;
  return targetOfUri(leg.routeSet[0] ?? leg.remoteTarget);
}

export type RequestExtra = Readonly<{ body?: Uint8Array; headers?: readonly SipHeader[]; contact?: string }>;

/** A new request inside the dialog; takes the next local CSeq. */
export function inDialogRequest(leg: DialogLeg, method: string, extra: RequestExtra = {}): SipRequest {
  leg.localCseq += 1;
  return buildInDialog(leg, method, leg.localCseq, extra);
}

function buildInDialog(leg: DialogLeg, method: string, cseq: number, extra: RequestExtra): SipRequest {
  const body = extra.body ?? new Uint8Array(0);
  const headers: SipHeader[] = [
    ...leg.routeSet.map((r) => ({ name: 'Route', value: `<${r}>` })),
    { name: 'Max-Forwards', value: '70' },
    { name: 'From', value: leg.localHeader },
    { name: 'To', value: leg.remoteHeader },
    { name: 'Call-ID', value: leg.callId },
    { name: 'CSeq', value: `${cseq} ${method}` },
  ];
  if (extra.contact !== undefined) headers.push({ name: 'Contact', value: extra.contact });
  headers.push(...(extra.headers ?? []));
  headers.push({ name: 'Content-Length', value: String(body.length) });
  return { kind: 'request', method, uri: leg.remoteTarget, headers, body };
}

/** The ACK for a 2xx to the INVITE numbered `inviteCseq` (RFC 3261 §13.2.2.4): a new
 * transaction of its own, so it carries its own Via, which we add since it is sent
 * statelessly. */
export function ackFor2xx(leg: DialogLeg, inviteCseq: number, via: Readonly<{ protocol: TransportProtocol; host: string; port: number }>): SipRequest {
  const ack = buildInDialog(leg, 'ACK', inviteCseq, {});
  const value = `SIP/2.0/${via.protocol} ${formatHost(via.host)}:${via.port};branch=${generateBranch()};rport`;
  return { ...ack, headers: [{ name: 'Via', value }, ...ack.headers] };
}

/** Completes a UAC leg from the 2xx that establishes its dialog (RFC 3261 §12.1.2): the
 * peer's To (with its tag), its Contact, and the Record-Route reversed. */
export function learnFrom2xx(leg: DialogLeg, ok: SipResponse): void {
  leg.remoteHeader = getHeader(ok, 'To') ?? leg.remoteHeader;
  leg.remoteTarget = uriOf(getHeaders(ok, 'Contact')[0] ?? '') ?? leg.remoteTarget;
  leg.routeSet = getHeaders(ok, 'Record-Route').map((v) => uriOf(v)).filter((u): u is string => u !== null).reverse();
}
