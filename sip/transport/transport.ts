// The SIP transport contract (RFC 3261 §18). Transports move whole SIP messages between
// this node and a peer; they know nothing of transactions. UdpTransport and TcpTransport
// are the real ones, LoopTransport is the in-memory twin used by transaction tests.

import type { SipMessage } from '../syntax/message.js';
import type { TransportCounters } from './counters.js';
import type { TransportLimits } from './limits.js';
import type { SourceGate } from './source-gate.js';

export type TransportProtocol = 'UDP' | 'TCP' | 'TLS';

export type HostPort = Readonly<{ host: string; port: number }>;

/** How every listening transport (UDP, TCP, TLS) is started. */
export type ListenerOptions = Readonly<{
  host: string;
  port: number;
  /** Host to write into Via sent-by when the bound address is not what peers should use
   * (e.g. bound to 0.0.0.0). Defaults to the bound address. */
  advertisedHost?: string;
  limits?: Partial<TransportLimits>;
  /** Per-source request-rate limit shared with the node's other transports (none: every
   * source unlimited); its trusted sources are also exempt from tcpConnectionsPerSourceMax. */
  sourceGate?: SourceGate | null;
  /** Told when handling inbound bytes threw (a bug; the datagram is dropped or the
   * connection closed, counted as SIP_ERR_TRANSPORT_INPUT_FAILED, and the listener keeps
   * serving). */
  onInputError?: (err: unknown, source: SipSource) => void;
}>;

/** Where to send a message. `connectionId`, when set on a TCP target, asks the
 * transport to use that connection if it is still open (RFC 3261 §18.2.2: a response
 * goes back over the connection the request came on); otherwise host/port are used,
 * reusing an open connection to that address or opening one. */
export type SipTarget = Readonly<{
  protocol: TransportProtocol;
  host: string;
  port: number;
  connectionId?: string;
  /** With connectionId: that connection or nothing (an RFC 5626 flow to a phone behind a
   * NAT, which no new connection could reach); the send fails with FLOW_GONE once it is
   * closed. */
  flowOnly?: boolean;
}>;

/** Where an inbound message came from: the packet's source address (not what its Via
 * claims), the connection it arrived on (TCP), and the local address it arrived at. */
export type SipSource = Readonly<{
  protocol: TransportProtocol;
  host: string;
  port: number;
  connectionId?: string;
  local: HostPort;
}>;

/** A well-formed message handed up by a transport. For requests, the top Via already
 * carries `received` (when the source IP differs from the sent-by host, or rport was
 * asked for) and `rport=<source port>` when the sender asked for it (RFC 3581 §4). */
export type InboundMessage = Readonly<{ message: SipMessage; source: SipSource }>;

export type InboundListener = (inbound: InboundMessage) => void;

/**
 * One listening SIP transport.
 *
 * Contract:
 * - `send` serializes the message and delivers it to `target`; it resolves once the
 *   bytes are handed to the kernel (UDP) or written to the connection (TCP). It rejects
 *   with a SipTransportError (codes in errors.ts) and never throws synchronously. It does
 *   not retransmit: retransmission is the transaction layer's job. It does not edit the
 *   message: the caller fills in Via and routes responses (see response-routing.ts).
 * - Inbound bytes are parsed here. A well-formed message goes to the listener set with
 *   `onMessage` (at most one listener; a later call replaces it). A malformed request the
 *   parser says can be answered gets a 400 with the parser's reason phrase, sent by the
 *   transport itself; any other malformed input is dropped. Both are counted by parser
 *   error code in `counters().parseErrors`. On TCP a malformed message also closes the
 *   connection, since the framing after it cannot be trusted.
 * - The listener is called asynchronously with respect to `send` (never re-entrantly
 *   from inside a send), once per message, in arrival order per connection.
 * - After `close()` resolves no listener call happens and `send` rejects with
 *   SIP_ERR_TRANSPORT_CLOSED.
 */
export interface SipTransport {
  readonly protocol: TransportProtocol;
  /** True when the transport itself guarantees delivery (TCP): the transaction layer
   * then sets timers A, E, G to not fire and D, I, J, K to zero (RFC 3261 §17). */
  readonly reliable: boolean;
  /** The bound address (port resolved when listening on port 0). */
  readonly local: HostPort;
  /** The address to write into a Via's sent-by for requests leaving over this transport. */
  readonly sentBy: HostPort;
  onMessage(listener: InboundListener): void;
  send(message: SipMessage, target: SipTarget): Promise<void>;
  close(): Promise<void>;
  /** A snapshot of the counters, for metrics. */
  counters(): TransportCounters;
}
