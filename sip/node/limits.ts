// Named maxima and defaults of the SIP node's transaction user (registrar, B2BUA, router,
// queue, media control). Each is checked where it is enforced; flags may lower or raise
// the defaults within the stated bounds.

/** How long the agent's phone may ring before the node CANCELs and re-routes. */
export const ringTimeoutMsDefault = 15_000;
/** When a grant ends because its node died (TTL expiry, or releaseByOwner at the restart),
 * the agent waits in WRAP_UP this long before it is offered again: a phone still holding
 * the dead call finds out by its dialog probe (our phones probe every 30 s by default). */
export const orphanHoldMsDefault = 35_000;
/** The node's lease on each shard (lease-keeper.ts), renewed every third of it: when the
 * node stops renewing, the shard frees its grants after this long (plus their orphan
 * hold). Long enough to ride out a shard election and two lost renewals. */
export const leaseTtlMsDefault = 15_000;
/** The bounds a shard accepts for renewLease ttlMs. */
export { leaseTtlMsMax, leaseTtlMsMin } from '../../shards/limits.js';
/** Added to the ring timeout to make the reservation TTL, so a grant outlives the ring
 * (including the reserve round trip and a CANCEL's 487) but not a node that died. */
export const reservationTtlMarginMs = 5_000;
/** Deadline for one shard command issued while a caller waits. */
export const shardCommandDeadlineMs = 5_000;
/** Reservations one routing pass of a call may ask for, and phones one call may be
 * offered to, before it is failed with 480. */
export const routeAttemptsMax = 20;
/** After CANCELing an agent leg, how long to wait for its final response before the
 * reservation is released anyway (RFC 3261 §9.1 allows 64*T1; we do not hold an agent
 * that long). */
export const cancelFinalWaitMs = 4_000;

/** Longest a caller waits in queue before 480 (default; configurable). */
export const queueWaitMsDefault = 60_000;
/** Calls waiting in queue per node; beyond it a caller gets 486 at once. */
export const queueLengthMax = 10_000;
/** Removed cluster-queue entries the node's queue view remembers (to ignore repeated feed
 * records about them). */
export const queueViewTombstonesMax = 10_000;
/** A queue shard's feed that has shown its replica current (a page with changes, or a
 * heartbeat hearing the leader) less than this long ago is trusted to say no call waits;
 * past it, a new call asks the shard itself before it takes an agent ahead of the queue
 * (queue-check.ts). An idle feed's replica beats every second and skips a beat after a
 * page, so a live feed goes up to 2 s between pages; a feed stuck behind a cut or in TCP
 * retransmission after a heal goes silent for longer. */
export const queueViewStaleMs = 2_500;
/** How long that ask may take before the call is routed on the view as it is (the queue
 * shard unreachable: a partition, where bypasses cannot be told from ordinary races). */
export const queueCheckDeadlineMs = 1_000;
/** Attempts to remove a queue entry (dequeue) when the shard cannot be reached: a left-over
 * entry would keep an agent claimed for a call that is gone until the claim lapses. */
export const dequeueAttemptsMax = 5;
/** Pause before the nth dequeue retry: n times this. */
export const dequeueRetryMs = 200;
/** Queued calls are re-checked this often against the router's view, in case the
 * READY change that should have woken them came while they were busy being routed. */
export const queueSweepIntervalMs = 500;
/** A call whose media offer or answer failed (its gateway being restarted) goes back to
 * its place in the queue and is offered no agent for this long, doubling per failure up to
 * the max; while no gateway answers its pings, claims for it are held this long again. */
export const mediaRetryBackoffMsMin = 500;
export const mediaRetryBackoffMsMax = 4_000;

/** How long an ended leg is still recognised (64×T1, as RFC 3261 keeps a transaction):
 * a late BYE on it gets 200, anything else 481. Swept every queueSweepIntervalMs. */
export const endedDialogKeepMs = 32_000;
/** Calls in progress per node; beyond it a new INVITE gets 503. */
export const callsMax = 20_000;

/** Nonce lifetime (RFC 7616 §3.3: the server decides); after it a nonce is stale. */
export const nonceLifetimeMsDefault = 300_000;
/** Nonces whose nc we remember; the oldest is forgotten first (its client then gets a
 * stale=true challenge and retries with a fresh nonce). */
export const nonceTrackedMax = 50_000;

/** REGISTER Expires bounds (seconds): below the minimum → 423 (RFC 3261 §10.3 step 7). */
export const registerExpiresSecondsDefault = 3_600;
export const registerExpiresSecondsMin = 1;
export const registerExpiresSecondsMax = 86_400;
/** RFC 5626 Flow-Timer sent to a phone that registered over an outbound TCP flow: it sends
 * a CRLF keep-alive at least this often, well inside the 120 s TCP idle timeout. */
export const flowTimerSeconds = 60;
/** OPTIONS keep-alives to UDP bindings from behind a NAT (nat-keepalive.ts): how often each
 * is pinged (NAT UDP mappings commonly last 30-60 s), how many pings in a row may go
 * unanswered before the binding is removed, and at most how many pings one round sends
 * (the rest wait for the next round, so a node with many NATed phones never bursts). */
export const natKeepAliveIntervalMsDefault = 25_000;
export const natKeepAliveMissesMax = 3;
export const natKeepAlivesPerRoundMax = 500;
/** Most UDP NAT bindings one node pings (the oldest are dropped from the pinger first). */
export const natKeepAliveBindingsMax = 50_000;

/** Media gateway health: ng ping every this, and media-timeout polls. */
export const gatewayPollIntervalMsDefault = 2_000;
/** Retransmitted 2xx to the caller until ACK: T1 doubling to T2, giving up after 64*T1. */
export const t1Ms = 500;
export const t2Ms = 4_000;

/** Routing webhook: how long one POST (connect, headers and body) may take before the
 * built-in router decides that attempt instead (default; flag and cluster file may set
 * it up to the maximum, which stays well under a caller's patience). */
export const routingWebhookTimeoutMsDefault = 300;
export const routingWebhookTimeoutMsMax = 10_000;
/** Webhook POSTs in flight per node; beyond it an attempt falls back at once. */
export const routingWebhookInFlightMax = 256;
/** Largest webhook response body read. */
export const routingWebhookResponseBytesMax = 16_384;
/** A call the webhook queued (`{"dn":null}`) is re-asked at most this often by the
 * queue sweep (a matching agent turning READY asks at once). */
export const routingWebhookQueueRetryMs = 2_000;

/** The longest reservation TTL asked for, whatever the ring timeout (a shard holds an
 * agent no longer than this for one grant). */
export const reservationTtlMsMax = 600_000;
/** A confirm whose outcome is unknown is retried after 50 ms, doubling, at most 1 s
 * apart, while the grant's TTL lasts. */
export const confirmRetryBackoffMsMin = 50;
export const confirmRetryBackoffMsMax = 1_000;
/** A release whose outcome is unknown is sent again until the shard answers, 100 ms
 * doubling to 2 s apart (a BUSY agent has no TTL: nothing else would free it). */
export const releaseRetryBackoffMsMin = 100;
export const releaseRetryBackoffMsMax = 2_000;
/** Routing-webhook fallbacks are logged at most once per result kind this often (the
 * metric counts every one). */
export const routingWebhookWarnIntervalMs = 1_000;
/** Retry-After of the 503 a full node answers a new INVITE with. */
export const busyRetryAfterSeconds = 5;
/** Ended legs are dropped from the front of their list in one splice once more than this
 * many have been consumed (and they are most of the list). */
export const endedLegsCompactCountMin = 1_024;

/** After a restart, releaseByOwner on a shard is retried 100 ms doubling to 2 s apart
 * until it succeeds. */
export const reconcileRetryBackoffMsMin = 100;
export const reconcileRetryBackoffMsMax = 2_000;
/** The node serves once its agent view and the clean-up are done, or after this at most
 * (routing itself waits for the clean-up). */
export const startupWaitMsMax = 10_000;
/** One try of a shard command on one replica before the client tries another. */
export const shardAttemptTimeoutMs = 1_000;
/** An agent change feed that failed is reopened after 50 ms, doubling, at most 1 s apart. */
export const agentFeedRetryBackoffMsMin = 50;
export const agentFeedRetryBackoffMsMax = 1_000;
/** How long a router pick keeps its agent from other picks when the view never shows the
 * agent change (a denied or failed reserve changes nothing on the shard). */
export const routerClaimTtlMsDefault = 2_000;
/** One ng control attempt to a media gateway (default), and the retries after it; a
 * gateway is dead once they all time out. */
export const ngTimeoutMsDefault = 300;
export const ngRetries = 2;
/** A nonce stamped further in the future than this (another node's clock ahead of ours)
 * is treated as forged. */
export const nonceFutureSkewMsMax = 60_000;
/** Failed digest attempts (wrong password, or any password for an unknown DN) one source
 * IP may make for one user within the window before that pair is locked out; a locked-out
 * pair's REGISTERs get 403 without their response being checked. */
export const digestFailuresMax = 5;
export const digestFailureWindowMs = 60_000;
export const digestLockoutMs = 300_000;
/** (source, user) pairs remembered by the digest throttle; the oldest is forgotten first.
 * Users (DNs) are remembered in a table of the same bound. */
export const digestThrottleTrackedMax = 50_000;
/** Guessing spread over many source IPs: this many failures for one user from ALL sources
 * within the window guard that user; while guarded, only sources that have registered it
 * successfully before may try (the rest get 403 unchecked), so a botnet's guesses stop
 * while the agent's own phone keeps registering. */
export const digestUserFailuresMax = 30;
export const digestUserFailureWindowMs = 600_000;
export const digestUserGuardMs = 900_000;
/** Sources remembered per user as having registered it (the most recent are kept). */
export const digestKnownSourcesPerUserMax = 8;
