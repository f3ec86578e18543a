// Every maximum and period of the dashboard, in one place.

/** The server polls the cluster once per period while at least one browser watches. */
export const pollIntervalMs = 1000;
/** Browsers connected to the live stream at once; one more gets 503 and retries. */
export const sseClientsMax = 16;
/** Bytes a slow browser may leave unread before it misses snapshots (each supersedes the
 * last, so skipping is harmless). */
export const sseBufferBytesMax = 1024 * 1024;
/** Consecutive skipped snapshots after which a stalled browser is disconnected. */
export const sseSkipsMax = 10;
/** Agents listed per snapshot (counts cover all); beyond it the table says "truncated". */
export const agentsListedMax = 500;
/** Recent failovers kept for display (the count covers all). */
export const failoversKeptMax = 50;
/** Reservations/s is the granted reserves over this many seconds, divided by it. */
export const rateWindowS = 5;
/** Points of the reservations/s sparkline kept server-side (one per poll). */
export const rateHistoryMax = 120;
/** Services whose service-level figures a snapshot carries (the first, in cluster-file order). */
export const servicesListedMax = 50;
/** Each shard's agent read gets this long; on failure the last list is shown as stale. */
export const agentReadDeadlineMs = 800;
