// Named maxima and defaults of the common plumbing: the admin REST base (admin.ts) and the
// cluster file (config.ts), whose numbers are checked where the file is parsed. An
// operator reads here what a cluster file may say and what it gets when it says nothing.

/** Admin REST request bodies beyond this get 413 before parsing (AdminOptions.bodyLimitBytes). */
export const adminBodyBytesMaxDefault = 64 * 1024;

/** `secret`: the root secret every per-purpose key is derived from (common/keys.ts), at
 * least this many bytes (UTF-8): `openssl rand -hex 32` gives 64. */
export const secretBytesMin = 32;
/** `tokens.read`, `tokens.admin`: the admin REST's bearer tokens, at least this long. */
export const adminTokenCharsMin = 32;
/** A secret or token with fewer distinct characters is a placeholder (`aaaa…`, `0000…`),
 * however long: random hex has 16 of 16 almost surely. */
export const secretDistinctCharsMin = 8;

/** `raft.tickMs`: the Raft groups' logical clock period. */
export const raftTickMsDefault = 10;
export const raftTickMsMin = 1;
export const raftTickMsMax = 1000;
/** `raft.electionTimeoutTicks`. */
export const raftElectionTimeoutTicksDefault = 15;
export const raftElectionTimeoutTicksMin = 3;
export const raftElectionTimeoutTicksMax = 1000;
/** `raft.heartbeatTicks`. */
export const raftHeartbeatTicksDefault = 3;
export const raftHeartbeatTicksMin = 1;
export const raftHeartbeatTicksMax = 100;
/** `raft.snapshotEveryEntries`: applied entries between snapshots. */
export const raftSnapshotEveryEntriesDefault = 10_000;
export const raftSnapshotEveryEntriesMin = 10;
export const raftSnapshotEveryEntriesMax = 10_000_000;

/** `routing.webhook.timeoutMs`: how long the router waits for the routing webhook. */
export const routingWebhookTimeoutMsDefault = 300;
export const routingWebhookTimeoutMsMin = 1;
export const routingWebhookTimeoutMsMax = 10_000;

/** `services[].number`: characters of a dialled service number. */
export const serviceNumberCharsMax = 32;
/** `services[].minLevel`: the skill level an agent needs, 0..this. */
export const serviceMinLevelMax = 100;
/** `services[].priority`: 0 (default) ..this; higher is served first. */
export const servicePriorityMax = 100;
/** `services[].maxWaitMs`: how long a caller may wait in the queue. */
export const serviceMaxWaitMsMin = 1000;
export const serviceMaxWaitMsMax = 3_600_000;
/** `services[].maxQueueLength`: at most this many waiting calls. */
export const serviceMaxQueueLengthMax = 10_000;
/** `services[].wrapUpMs`. */
export const serviceWrapUpMsMax = 3_600_000;
/** `services[].ringTimeoutMs`. */
export const serviceRingTimeoutMsMin = 1000;
export const serviceRingTimeoutMsMax = 300_000;
/** `services[].serviceLevelMs`: the service-level threshold (answered within). */
export const serviceLevelMsDefault = 20_000;
export const serviceLevelMsMin = 1000;
export const serviceLevelMsMax = 3_600_000;
/** `services[].announcements.everyMs`. */
export const announcementEveryMsDefault = 30_000;
export const announcementEveryMsMin = 5000;
export const announcementEveryMsMax = 600_000;

/** `gateways[].ports` when it is absent: the RTP/RTCP port range. */
export const gatewayPortMinDefault = 30000;
export const gatewayPortMaxDefault = 39999;
/** `shards: {count: N}` in the cluster file: at most this many generated shards. */
export const generatedShardsMax = 4096;
