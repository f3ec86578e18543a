// Where a response goes (RFC 3261 §18.2.2 with RFC 3581 §4): read from the top Via that
// the request carried when it arrived (already stamped with received/rport), never to a
// Via maddr. Pure.

import { parseVia } from '../syntax/index.js';
import type { SipSource, SipTarget, TransportProtocol } from './transport.js';

function protocolOf(transport: string): TransportProtocol | null {
  const p = transport.toUpperCase();
  return p === 'UDP' || p === 'TCP' || p === 'TLS' ? p : null;
}

/**
 * The target for a response whose top Via is `topVia`. `source` is where the request
 * came from, if known: on a reliable transport the response goes back over the same
 * connection while it is open (the transport falls back to host/port when it is not).
 * Returns null when the Via is unparsable or names a transport we do not speak.
 */
export function responseTarget(
  topVia: string,
  source: SipSource | undefined,
  defaultPort: number,
): SipTarget | null {
  const via = parseVia(topVia);
  if (via === null) return null;
  const protocol = protocolOf(via.transport);
  if (protocol === null) return null;
  const sentByPort = via.port ?? defaultPort;
  const received = via.received?.replace(/^\[|\]$/g, '');
  if (protocol !== 'UDP') {
    const host = received ?? via.host;
    const port = typeof via.rport === 'number' ? via.rport : sentByPort;
    const sameConnection = source !== undefined && source.protocol === protocol && source.connectionId !== undefined;
    return sameConnection ? { protocol, host, port, connectionId: source.connectionId } : { protocol, host, port };
  }
  // A Via `maddr` is ignored: RFC 3261 §18.2.2 would send there, but anyone can write one,
  // and obeying it lets a forged request aim our responses at a third party (reflection).
  // The request's real source (received/rport, else sent-by) gets the response instead, as
  // §18.2.2 allows for an unreliable transport; multicast requests are not served.
  if (received !== undefined) {
    // RFC 3581: with rport filled in, answer the port the request came from.
    const port = typeof via.rport === 'number' ? via.rport : sentByPort;
    return { protocol, host: received, port };
  }
  return { protocol, host: via.host, port: sentByPort };
}
