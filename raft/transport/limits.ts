// Named maxima of the Raft peer transport (STYLE.md §8), checked where they are enforced.

/** Largest Raft frame accepted or sent: an append of appendBytesMax (1 MiB default) or a
 * snapshot chunk, plus headers, fits with room to spare. Bigger frames close the link. */
export const raftFrameBytesMax = 16 * 1024 * 1024;

/** Largest frame before authentication: handshake messages are a few hundred bytes, so a
 * stranger cannot make us buffer more than this. */
export const handshakeFrameBytesMax = 1024;

/** A connection that has not completed the handshake this long after it was accepted (or
 * dialled) is closed: an absolute deadline, so trickled bytes do not extend it. */
export const handshakeTimeoutMs = 5000;

/** Inbound connections held before their handshake completes; more are closed at once,
 * so strangers cannot take every inbound slot (inboundConnectionsMax) from real peers. */
export const inboundUnauthenticatedMax = 64;

/** Longest node id accepted in a handshake. */
export const nodeIdBytesMax = 256;

/** Messages and bytes queued for one peer; beyond either the oldest are dropped (Raft
 * retransmits, and a stale backlog is worth less than fresh heartbeats). */
export const peerQueueMessagesMax = 8192;
export const peerQueueBytesMax = 64 * 1024 * 1024;

/** Bytes the socket may hold unsent before we stop writing and wait for 'drain'. */
export const socketPendingBytesMax = 8 * 1024 * 1024;

/** Reconnect backoff: doubles from min to max per failed attempt, with ±50% jitter. */
export const reconnectBackoffMsMin = 50;
export const reconnectBackoffMsMax = 5000;
/** Failed attempts counted towards the backoff exponent; more would only overflow
 * 2 ** attempts, as the backoff reaches reconnectBackoffMsMax long before. */
export const reconnectAttemptsCountedMax = 30;

/** Inbound connections held at once (authenticated or not). */
export const inboundConnectionsMax = 256;

/** TCP keepalive probe delay, so a silently dead peer is noticed. */
export const keepaliveDelayMs = 10_000;

/** Store liveness (liveness.ts): a peer store hears from us at least this often (any frame
 * counts; an explicit ping otherwise). */
export const pingIntervalMsDefault = 100;

/** A peer store silent this long is reported silent, waking the quiesced groups it led.
 * Two and a half ping intervals: one late ping (a busy event loop on a 2-core machine) is
 * no failure. The failover bar is median 500 ms / max 1,500 ms from a SIGKILL to the first
 * commit on a new leader: detection takes 150–275 ms after the kill (the last frame came
 * up to a ping interval before it; checks run every half interval), a woken follower then
 * campaigns within half an election timeout (0–50 ms at the defaults, group.ts), and the
 * elections, the no-op and the write take a few loopback round trips and fsyncs. A false
 * alarm costs a refused pre-vote: the leader and the other follower still hold its lease. */
export const livenessTimeoutMsDefault = 250;

/** Bytes of items packed into one batch frame before another frame is started, so a
 * turn's worth of appends to one peer never exceeds raftFrameBytesMax. */
export const batchFrameBytesMax = 4 * 1024 * 1024;
