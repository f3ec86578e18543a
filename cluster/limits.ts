// Every maximum, deadline and period of the cluster floor (launcher, local process set,
// cluster view), in one place. The dashboard keeps its own in dashboard/limits.ts.

/** The launcher restarts a child that exits after this long, doubling up to the maximum. */
export const restartBackoffMsMin = 1000;
export const restartBackoffMsMax = 30_000;
/** A child that stayed up this long starts again from the shortest backoff. */
export const restartStableAfterMs = 60_000;
/** A role the launcher starts must print its ready line within this long (a replica
 * may replay a long log first). */
export const launcherRoleReadyMsMax = 120_000;
/** Provisioning the demo agents: each shard command's deadline (a shard may still be
 * electing its first leader). */
export const demoProvisionDeadlineMs = 30_000;
/** On Ctrl-C the launcher's children get this long to stop before SIGKILL. */
export const launcherStopGraceMs = 5000;

/** A role started by ProcessSet must print its ready line within this long by default. */
export const roleReadyMsDefault = 60_000;
/** ProcessSet.stopAll: SIGTERM, then SIGKILL whatever is left after this long. */
export const stopGraceMsDefault = 3000;
/** Characters of a starting child's stderr kept for the error when it dies unready. */
export const stderrTailCharsMax = 2000;

/** Local clusters' gateways relay RTP on this many ports each, from the base up. */
export const gatewayRtpPortBase = 30000;
export const gatewayRtpPortsPerGateway = 2000;
/** freePorts hands out listening ports from here up to the gateways' RTP ports. */
export const listenPortMin = 20000;
/** A port claim older than this is stale: its role has long bound the port, or never will. */
export const portClaimTtlMs = 10 * 60_000;

/** Each peer gets this long per request; the whole view takes about as long as the slowest. */
export const peerTimeoutMsDefault = 600;
/** Calls and queue entries kept per SIP node in a probe (the dashboard's tables). */
export const sipListItemsMax = 200;
/** Characters of a peer's error text shown in the view. */
export const peerErrorCharsMax = 200;

/** /readyz: each status read it makes (a replica's of its leader, a SIP node's of every
 * replica) gets this long; a peer slower than this counts as unreachable. */
export const readinessProbeTimeoutMs = 500;
/** /readyz of a replica: ready while its applied index is within this many entries of
 * its leader's commit index. A replica further behind is replaying or being sent a
 * snapshot; its reads would be stale by more than a moment. */
export const readinessAppliedLagEntriesMax = 100;

/** V8's old-space limit for a store process (`--max-old-space-size`, MB). A store's live
 * heap is small (45-57 MB at 100 shards and 10,000 agents under load), but V8
 * sizes its heap growth by the limit: with Node's default on this 24 GiB machine (4 GB) it
 * lets the old space grow to 2-4 times what is live before collecting, and a busy store
 * sat at 300-350 MB resident. With the limit at 1 GB the factor is at most 1.6 (V8's
 * heap controller scales it with the limit), and the same load left the stores at
 * 205-214 MB (README, multi-raft stores). A store reaching it would need twenty times
 * the live heap measured, far past the store's log and change-record budgets. */
export const storeOldSpaceMbMax = 1024;
/** V8's young-generation semi-space limit for a store process (`--max-semi-space-size`,
 * MB): Node 20's default on 64-bit, given on every Node version because Node 24's V8
 * defaults to 64 MB (a young generation of up to 128 MB more resident under load). A smaller
 * one cost more than it saved: at 2 MB the 100-shard stores committed 20-30% fewer
 * reservations for 45 MB less. */
export const storeSemiSpaceMbMax = 16;
