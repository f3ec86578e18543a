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
  /** Inbound TCP connections from one source IP (trusted sources excepted); beyond it a
   * new one is closed at once. A phone needs one; the total cap above still holds. */
  tcpConnectionsPerSourceMax: number;
  /** From the first byte of a message to its last: a connection still holding part of a
   * message after this long is closed (slowloris: trickling bytes resets the idle timer,
   * not this one). */
  tcpMessageDeadlineMs: number;
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
  tcpConnectionsPerSourceMax: 64,
  tcpMessageDeadlineMs: 20_000,
});

export function transportLimits(overrides: Partial<TransportLimits> = {}): TransportLimits {
  return Object.freeze({ ...DEFAULT_TRANSPORT_LIMITS, ...overrides });
}

/** LoopNetwork (the in-memory twin): packets kept in its `log` unless told otherwise. */
export const loopLogPacketsMaxDefault = 100_000;

/** Per-source request rate (source-gate.ts; Kamailio's pike is the model). A source IP
 * may send `sourceRequestsPerSecondDefault` messages a second with bursts up to
 * `sourceBurstDefault`; above that its requests get a stateless 503 with Retry-After, at
 * most `sourceRejectsPerSecondDefault` a second (burst `sourceRejectBurstDefault`), and
 * everything beyond is dropped unread. Trusted sources (loopback and the cluster's own
 * hosts by default; `--sip-trusted-sources`) are not counted. Generous for a phone (a
 * REGISTER refresh, a call's INVITE/ACK/BYE and its in-dialog requests are a few a
 * minute) and for a small PBX behind one address. */
export const sourceRequestsPerSecondDefault = 50;
export const sourceBurstDefault = 100;
export const sourceRejectsPerSecondDefault = 5;
export const sourceRejectBurstDefault = 20;
/** Retry-After (seconds) of the 503 a source over its rate gets. */
export const sourceRetryAfterSeconds = 5;
/** Sources remembered; the least recently seen is forgotten first (it starts afresh with
 * a full bucket if it comes back). */
export const sourcesTrackedMax = 65_536;
