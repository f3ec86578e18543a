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
  /** Inbound message dropped: its top Via could not be parsed, so no reply can be routed. */
  BAD_VIA: 'SIP_ERR_TRANSPORT_BAD_VIA',
  /** A TCP connection closed because its byte stream could not be framed. */
  FRAMING_LOST: 'SIP_ERR_TRANSPORT_FRAMING_LOST',
  /** Inbound message dropped: unparsable and no 400 can be built for it. */
  UNANSWERABLE: 'SIP_ERR_TRANSPORT_UNANSWERABLE',
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
