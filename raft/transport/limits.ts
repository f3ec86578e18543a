// Named maxima of the Raft peer transport (STYLE.md §8), checked where they are enforced.

/** Largest Raft frame accepted or sent: an append of appendBytesMax (1 MiB default) or a
 * snapshot chunk, plus headers, fits with room to spare. Bigger frames close the link. */
export const RAFT_FRAME_BYTES_MAX = 16 * 1024 * 1024;

/** Largest frame before authentication: handshake messages are a few hundred bytes, so a
 * stranger cannot make us buffer more than this. */
export const HANDSHAKE_FRAME_BYTES_MAX = 1024;

/** A connection that has not completed the handshake by then is closed. */
export const HANDSHAKE_TIMEOUT_MS = 5000;

/** Longest node id accepted in a handshake. */
export const NODE_ID_BYTES_MAX = 256;

/** Messages and bytes queued for one peer; beyond either the oldest are dropped (Raft
 * retransmits, and a stale backlog is worth less than fresh heartbeats). */
export const PEER_QUEUE_MESSAGES_MAX = 8192;
export const PEER_QUEUE_BYTES_MAX = 64 * 1024 * 1024;

/** Bytes the socket may hold unsent before we stop writing and wait for 'drain'. */
export const SOCKET_PENDING_BYTES_MAX = 8 * 1024 * 1024;

/** Reconnect backoff: doubles from min to max per failed attempt, with ±50% jitter. */
export const RECONNECT_BACKOFF_MS_MIN = 50;
export const RECONNECT_BACKOFF_MS_MAX = 5000;

/** Inbound connections held at once (authenticated or not). */
export const INBOUND_CONNECTIONS_MAX = 256;

/** TCP keepalive probe delay, so a silently dead peer is noticed. */
export const KEEPALIVE_DELAY_MS = 10_000;
