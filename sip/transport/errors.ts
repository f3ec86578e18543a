// The SIP transport error catalogue: stable codes for expected conditions (a closed
// socket, a refused connection), so the transaction layer and metrics can branch on them.

export const TRANSPORT_ERR = Object.freeze({
  CLOSED: 'SIP_ERR_TRANSPORT_CLOSED',
  CONNECT_FAILED: 'SIP_ERR_TRANSPORT_CONNECT_FAILED',
  CONNECTIONS_EXHAUSTED: 'SIP_ERR_TRANSPORT_CONNECTIONS_EXHAUSTED',
  MESSAGE_TOO_LARGE: 'SIP_ERR_TRANSPORT_MESSAGE_TOO_LARGE',
  SEND_FAILED: 'SIP_ERR_TRANSPORT_SEND_FAILED',
  PROTOCOL_UNSUPPORTED: 'SIP_ERR_TRANSPORT_PROTOCOL_UNSUPPORTED',
  PEER_TOO_SLOW: 'SIP_ERR_TRANSPORT_PEER_TOO_SLOW',
  /** A send bound to an RFC 5626 flow whose connection is closed (no new one is opened). */
  FLOW_GONE: 'SIP_ERR_TRANSPORT_FLOW_GONE',
  /** Inbound message dropped: its top Via could not be parsed, so no reply can be routed. */
  BAD_VIA: 'SIP_ERR_TRANSPORT_BAD_VIA',
  /** A TCP connection closed because its byte stream could not be framed. */
  FRAMING_LOST: 'SIP_ERR_TRANSPORT_FRAMING_LOST',
  /** Inbound message dropped: unparsable and no 400 can be built for it. */
  UNANSWERABLE: 'SIP_ERR_TRANSPORT_UNANSWERABLE',
  /** Inbound message from a source over its request rate: a request got a stateless 503
   * with Retry-After, anything else was dropped. */
  RATE_LIMITED: 'SIP_ERR_TRANSPORT_RATE_LIMITED',
  /** Inbound message dropped unread: its source is far over its rate (its 503 budget is
   * spent too). */
  SOURCE_FLOODING: 'SIP_ERR_TRANSPORT_SOURCE_FLOODING',
  /** An inbound TCP connection refused: its source IP holds its maximum already. */
  SOURCE_CONNECTIONS_EXHAUSTED: 'SIP_ERR_TRANSPORT_SOURCE_CONNECTIONS_EXHAUSTED',
  /** A TCP connection closed because a message was not complete within the deadline. */
  MESSAGE_DEADLINE: 'SIP_ERR_TRANSPORT_MESSAGE_DEADLINE',
  /** Handling inbound bytes threw (a bug): the message was dropped (on TCP the connection
   * closed) and the listener kept serving. */
  INPUT_FAILED: 'SIP_ERR_TRANSPORT_INPUT_FAILED',
} as const);

export type TransportErrorCode = (typeof TRANSPORT_ERR)[keyof typeof TRANSPORT_ERR];

export class SipTransportError extends Error {
  readonly code: TransportErrorCode;
  constructor(code: TransportErrorCode, message: string, options?: { cause?: unknown }) {
    super(`${code}: ${message}`, options);
    this.name = 'SipTransportError';
    this.code = code;
  }
}
