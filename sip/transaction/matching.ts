// Transaction keys (RFC 3261 §17.1.3 for clients, §17.2.3 for servers, §9.2 for CANCEL).
// Two messages belong to one transaction exactly when their keys are equal, so matching is
// a map lookup. Requests from RFC 2543 peers (no magic-cookie branch) get the older
// Request-URI/Call-ID/From-tag/CSeq/Via key instead.

import { getHeader, getHeaders, parseCSeq, parseVia } from '../syntax/index.js';
import type { SipMessage, SipRequest, SipResponse } from '../syntax/message.js';

export const MAGIC_COOKIE = 'z9hG4bK';

function topVia(m: SipMessage): ReturnType<typeof parseVia> {
  const value = getHeader(m, 'Via');
  return value === undefined ? null : parseVia(value);
}

function cseqOf(m: SipMessage): ReturnType<typeof parseCSeq> {
  const value = getHeader(m, 'CSeq');
  return value === undefined ? null : parseCSeq(value);
}

/** The ACK for a non-2xx belongs to the INVITE transaction; so matches as INVITE. */
const serverMethod = (method: string): string => (method === 'ACK' ? 'INVITE' : method);

/** Key of the client transaction a request starts: its branch and method. */
export function clientKeyOfRequest(request: SipRequest): string | null {
  const via = topVia(request);
  if (via?.branch === undefined) return null;
  return `${via.branch}|${request.method}`;
}

/** Key of the client transaction a response belongs to: top Via branch and CSeq method. */
export function clientKeyOfResponse(response: SipResponse): string | null {
  const via = topVia(response);
  const cseq = cseqOf(response);
  if (via?.branch === undefined || cseq === null) return null;
  return `${via.branch}|${cseq.method}`;
}

function tagOf(nameAddr: string | undefined): string {
  if (nameAddr === undefined) return '';
  const outsideUri = nameAddr.replace(/<[^>]*>/, '');
  return /;\s*tag\s*=\s*([^;\s,]+)/i.exec(outsideUri)?.[1] ?? '';
}

function serverKeyAs(request: SipRequest, method: string): string | null {
  const via = topVia(request);
  if (via === null) return null;
  const sentBy = `${via.host.toLowerCase()}:${via.port ?? ''}`;
  if (via.branch !== undefined && via.branch.startsWith(MAGIC_COOKIE)) {
    return `${via.branch}|${sentBy}|${method}`;
  }
  // RFC 2543 peer (§17.2.3, second half): no usable branch.
  const cseq = cseqOf(request);
  if (cseq === null) return null;
  const callId = getHeader(request, 'Call-ID') ?? '';
  const fromTag = tagOf(getHeader(request, 'From'));
  return `2543|${request.uri}|${callId}|${fromTag}|${cseq.seq}|${getHeaders(request, 'Via')[0]}|${method}`;
}

/** Key of the server transaction a request belongs to (an ACK maps to its INVITE). */
export function serverKeyOfRequest(request: SipRequest): string | null {
  return serverKeyAs(request, serverMethod(request.method));
}

/** Key of the INVITE server transaction a CANCEL targets (§9.2): same match, method INVITE. */
export function cancelTargetKey(cancel: SipRequest): string | null {
  return serverKeyAs(cancel, 'INVITE');
}
