// The SIP messages of a B2BUA call, as pure functions of their inputs (no state, no I/O):
// the caller leg's dialog and the answers we give on it (100, 182, relayed 18x, 200,
// error finals), the agent leg's dialog and INVITE, and the pieces of an in-dialog relay.
// What goes on the wire is decided here; when and where it goes, in b2bua.ts and
// in-dialog-relay.ts. Random tags and Call-IDs are made by the caller and passed in, so
// the same inputs give the same message.

import assert from 'node:assert';
import { buildResponse, formatNameAddr, getHeader, getHeaders, parseNameAddr } from '../syntax/index.js';
import type { SipHeader, SipRequest, SipResponse } from '../syntax/index.js';
import type { ClientEvent } from '../transaction/index.js';
import type { SipTarget, SipTransport } from '../transport/index.js';
import { legTarget, uriOf, type DialogLeg } from './dialog.js';
import { busyRetryAfterSeconds } from './limits.js';

export const SDP = 'application/sdp';
/** The methods we take inside a call's dialogs. */
export const dialogAllow = 'INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE';
/** Headers of our 200 to an OPTIONS probe inside a call's dialog. */
export const inDialogOptionsHeaders: readonly SipHeader[] = [
  { name: 'Allow', value: dialogAllow },
  { name: 'Accept', value: SDP },
];
/** Headers an in-dialog request carries over to the other leg (besides its body). */
const relayedHeaderNames = ['Content-Type', 'Content-Disposition', 'Event', 'Subscription-State', 'Info-Package'] as const;

export function isSdp(msg: SipRequest | SipResponse): boolean {
  return msg.body.length > 0 && (getHeader(msg, 'Content-Type') ?? '').split(';')[0]!.trim().toLowerCase() === SDP;
}

/** A transaction timeout or transport error with no response attached: a local 408/503. */
export function syntheticResponse(ev: ClientEvent): SipResponse {
  const status = ev.type === 'timeout' ? 408 : 503;
  return { kind: 'response', status, reason: status === 408 ? 'Request Timeout' : 'Service Unavailable', headers: [], body: new Uint8Array(0) };
}

// ---- transports and Contact ----

/** The transport a leg's requests go out on: the target's protocol, else the first. */
export function transportFor(transports: readonly SipTransport[], target: SipTarget): SipTransport {
  assert(transports.length > 0, 'no SIP transport');
  return transports.find((t) => t.protocol === target.protocol) ?? transports[0]!;
}

/** The transport of a leg (the first when its target is unusable). */
export function legTransport(transports: readonly SipTransport[], leg: DialogLeg): SipTransport {
  const target = legTarget(leg);
  assert(transports.length > 0, 'no SIP transport');
  return target === null ? transports[0]! : transportFor(transports, target);
}

/** Our Contact on a transport. */
export function contactOn(t: SipTransport): string {
  const host = t.sentBy.host.includes(':') ? `[${t.sentBy.host}]` : t.sentBy.host;
  return `<sip:ringfence@${host}:${t.sentBy.port}${t.protocol === 'TCP' ? ';transport=tcp' : ''}>`;
}

// ---- the caller's leg (we are its UAS) ----

/** The caller leg's dialog, from the caller's INVITE and our new To tag. */
export function callerLegOf(invite: SipRequest, localTag: string): DialogLeg {
  return {
    callId: getHeader(invite, 'Call-ID') ?? '',
    localTag,
    localHeader: `${getHeader(invite, 'To') ?? ''};tag=${localTag}`,
    remoteHeader: getHeader(invite, 'From') ?? '',
    remoteTarget: uriOf(getHeaders(invite, 'Contact')[0] ?? '') ?? '',
    routeSet: getHeaders(invite, 'Record-Route').map((v) => uriOf(v)).filter((u): u is string => u !== null),
    localCseq: 0,
  };
}

/** The 503 a node that takes no more calls answers a new INVITE with. */
export function busyResponse(invite: SipRequest): SipResponse {
  return buildResponse(invite, 503, 'Service Unavailable', { headers: [{ name: 'Retry-After', value: String(busyRetryAfterSeconds) }] });
}

/** A final (or 182) on the caller's INVITE that carries only our tag. */
export function callerAnswer(invite: SipRequest, callerLeg: DialogLeg, status: number, reason: string): SipResponse {
  return buildResponse(invite, status, reason, { toTag: callerLeg.localTag });
}

/** The agent phone's 18x, relayed to the caller with our Contact and the anchored SDP. */
export function callerProvisional(invite: SipRequest, callerLeg: DialogLeg, res: SipResponse, contact: string, body: Uint8Array): SipResponse {
  const headers: SipHeader[] = [{ name: 'Contact', value: contact }];
  if (body.length > 0) headers.push({ name: 'Content-Type', value: SDP });
  return buildResponse(invite, res.status, res.reason, { toTag: callerLeg.localTag, headers, body });
}

/** Our 200 to the caller's INVITE, with the anchored SDP answer. */
export function callerOk(invite: SipRequest, callerLeg: DialogLeg, contact: string, body: Uint8Array): SipResponse {
  return buildResponse(invite, 200, 'OK', {
    toTag: callerLeg.localTag,
    headers: [{ name: 'Contact', value: contact }, { name: 'Content-Type', value: SDP }],
    body,
  });
}

// ---- the agent's leg (we are its UAC) ----

/** `viaSource`: the target is the binding's observed source (a NATed phone), not its
 * Contact; every request in the dialog goes there too. */
export type AgentLegInput = Readonly<{ callerLeg: DialogLeg; dn: string; target: SipTarget; contactUri: string; callId: string; localTag: string; viaSource?: boolean }>;

/** The agent leg's dialog: the caller's From (display name and URI) with our tag, to the
 * agent's DN at the contact's host. */
export function agentLegOf(i: AgentLegInput): DialogLeg {
  const fromNa = parseNameAddr(i.callerLeg.remoteHeader);
  const localHeader = formatNameAddr({
    ...(fromNa?.displayName !== undefined ? { displayName: fromNa.displayName } : {}),
    uri: fromNa?.uri ?? 'sip:anonymous@anonymous.invalid',
    params: { tag: i.localTag },
  });
  return {
    callId: i.callId,
    localTag: i.localTag,
    localHeader,
    remoteHeader: `<sip:${i.dn}@${i.target.host}>`,
    remoteTarget: i.contactUri,
    routeSet: [],
    localCseq: 1,
    ...(i.viaSource === true ? { flowTarget: i.target } : {}),
  };
}

/** The INVITE to the agent's phone (CSeq 1, our anchored offer). Its Via is the
 * transaction layer's. */
export function agentInvite(leg: DialogLeg, contact: string, body: Uint8Array): SipRequest {
  assert(leg.localCseq === 1, `agent INVITE on a used leg (CSeq ${leg.localCseq})`);
  const headers: SipHeader[] = [
    { name: 'Max-Forwards', value: '70' },
    { name: 'From', value: leg.localHeader },
    { name: 'To', value: leg.remoteHeader },
    { name: 'Call-ID', value: leg.callId },
    { name: 'CSeq', value: '1 INVITE' },
    { name: 'Contact', value: contact },
    { name: 'Allow', value: dialogAllow },
    { name: 'Content-Type', value: SDP },
    { name: 'Content-Length', value: String(body.length) },
  ];
  return { kind: 'request', method: 'INVITE', uri: leg.remoteTarget, headers, body };
}

// ---- in-dialog relay ----

/** The headers of an in-dialog request that go on to the other leg. */
export function relayedHeaders(req: SipRequest): SipHeader[] {
  const headers: SipHeader[] = [];
  for (const name of relayedHeaderNames) {
    const v = getHeader(req, name);
    if (v !== undefined) headers.push({ name, value: v });
  }
  return headers;
}

/** The other leg's final answer, as the sender gets it: its Content-Type with a body,
 * and our Contact on a 2xx to a re-INVITE. */
export function relayedFinal(req: SipRequest, res: SipResponse, body: Uint8Array, contact: string): SipResponse {
  const extra: SipHeader[] = [];
  const ct = getHeader(res, 'Content-Type');
  if (ct !== undefined && body.length > 0) extra.push({ name: 'Content-Type', value: ct });
  if (req.method === 'INVITE' && res.status < 300) extra.push({ name: 'Contact', value: contact });
  return buildResponse(req, res.status, res.reason, { headers: extra, body });
}

/** Our 2xx to a re-INVITE without SDP: it carries the other leg's (anchored) offer. */
export function delayedOfferOk(req: SipRequest, res: SipResponse, contact: string, body: Uint8Array): SipResponse {
  return buildResponse(req, res.status, res.reason, { headers: [{ name: 'Contact', value: contact }, { name: 'Content-Type', value: SDP }], body });
}

/** An ACK with an SDP answer in it (the answer to an offer made in a 2xx). */
export function withAnswer(ack: SipRequest, answer: Uint8Array | undefined): SipRequest {
  if (answer === undefined || answer.length === 0) return ack;
  const headers = ack.headers.filter((h) => h.name.toLowerCase() !== 'content-length');
  return { ...ack, headers: [...headers, { name: 'Content-Type', value: SDP }, { name: 'Content-Length', value: String(answer.length) }], body: answer };
}
