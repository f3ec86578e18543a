// Named maxima and defaults for the SIP transport layer (RFC 3261 §18). Every bound
// the transports enforce lives here, so an operator can read the envelope in one place.

export type TransportLimits = Readonly<{
  /** SO_RCVBUF asked for on UDP sockets; a burst of INVITEs must not overflow the
   * kernel queue while the event loop is busy (the kernel may cap it at rmem_max). */
  socketReceiveBufferBytes: number;
  /** SO_SNDBUF asked for on UDP sockets. */
  socketSendBufferBytes: number;
  /** Largest datagram we send or accept; larger messages must go over TCP. */
  udpDatagramBytesMax: number;
  /** Open TCP connections (inbound + outbound); beyond it inbound ones are refused
   * and outbound sends fail with SIP_ERR_TRANSPORT_CONNECTIONS_EXHAUSTED. */
  tcpConnectionsMax: number;
  /** A TCP connection with no traffic for this long is closed. */
  tcpIdleTimeoutMs: number;
  /** An outbound TCP connect that takes longer fails the send. */
  tcpConnectTimeoutMs: number;
  /** Bytes queued on one TCP connection that the peer has not read; beyond it the
   * peer is too slow and the connection is dropped rather than buffering forever. */
  tcpPendingWriteBytesMax: number;
  /** Port assumed when a Via or target has none (RFC 3261 §18.2.2, §19.1.2). */
  defaultSipPort: number;
}>;

export const DEFAULT_TRANSPORT_LIMITS: TransportLimits = Object.freeze({
  socketReceiveBufferBytes: 4 * 1024 * 1024,
  socketSendBufferBytes: 4 * 1024 * 1024,
  udpDatagramBytesMax: 65_507,
  tcpConnectionsMax: 4096,
  tcpIdleTimeoutMs: 120_000,
  tcpConnectTimeoutMs: 5_000,
  tcpPendingWriteBytesMax: 4 * 1024 * 1024,
  defaultSipPort: 5060,
});

export function transportLimits(overrides: Partial<TransportLimits> = {}): TransportLimits {
  return Object.freeze({ ...DEFAULT_TRANSPORT_LIMITS, ...overrides });
}

/** LoopNetwork (the in-memory twin): packets kept in its `log` unless told otherwise. */
export const loopLogPacketsMaxDefault = 100_000;
