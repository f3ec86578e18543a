// Server-side Via processing (RFC 3261 §18.2.1, RFC 3581 §4): when a request arrives,
// record in its top Via where it really came from, so the response can find its way
// back through NATs and to the sender's real port.

import { isIPv6 } from 'node:net';
import type { SipHeader, SipMessage, SipRequest } from '../syntax/message.js';
import { headerKey, parseVia, restampVia } from '../syntax/index.js';
import type { HostPort } from './transport.js';

/** Index of the top Via header in a message, or -1. Header names arrive canonical, but
 * compare case-insensitively so hand-built messages behave the same. */
export function topViaIndex(message: SipMessage): number {
  const headers = message.headers;
  for (let i = 0; i < headers.length; i++) if (headerKey(headers[i]!.name) === 'via') return i;
  return -1;
}

export function topViaValue(message: SipMessage): string | undefined {
  const i = topViaIndex(message);
  return i < 0 ? undefined : message.headers[i]!.value;
}

/** Returns the request with `received` (when the source IP differs from the sent-by host,
 * or when rport was asked for, as RFC 3581 requires) and `rport=<source port>` (only when
 * the sender put an empty rport) on its top Via; null when there is no parsable top Via. */
export function stampTopVia(request: SipRequest, source: HostPort): SipRequest | null {
  const index = topViaIndex(request);
  if (index < 0) return null;
  const via = parseVia(request.headers[index]!.value);
  if (via === null) return null;
  const rportAsked = via.rport !== undefined;
  const receivedNeeded = rportAsked || via.host.toLowerCase() !== source.host.toLowerCase();
  if (!rportAsked && !receivedNeeded) return request;
  // Our Via grammar wants IPv6 parameter values bracketed.
  const received = receivedNeeded ? (source.host.indexOf(':') >= 0 && isIPv6(source.host) ? `[${source.host}]` : source.host) : via.received;
  const rport = rportAsked ? source.port : via.rport;
  const headers: SipHeader[] = request.headers.slice();
  headers[index] = { name: request.headers[index]!.name, value: restampVia(via, received, rport) };
  // Spelled out rather than spread: this runs for every request received.
  return { kind: 'request', method: request.method, uri: request.uri, headers, body: request.body };
}
