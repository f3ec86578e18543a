// Named maxima and defaults of the Raft core and its codec, in one place (see STYLE.md §8).

/** Default RaftConfig values (defaultRaftConfig). */
export const electionTimeoutTicksDefault = 10;
export const heartbeatTicksDefault = 2;
export const appendEntriesMaxDefault = 512;
export const appendBytesMaxDefault = 1024 * 1024;
export const inflightAppendsMaxDefault = 64;
export const uncommittedBytesMaxDefault = 32 * 1024 * 1024;
export const snapshotChunkBytesDefault = 256 * 1024;

/** Bytes counted per entry on top of its data when sizing append messages and the
 * uncommitted budget, so floods of empty entries are bounded too. */
export const entryOverheadBytes = 32;

/** Read rounds a leader keeps open (queued before its first commit or awaiting quorum
 * acks); beyond this readIndex() fails at once with reason 'dropped'. */
export const readsPendingMax = 4096;

/** Reads a follower has forwarded to its leader and not yet heard back about. */
export const readsForwardedMax = 4096;

/** A learner may be promoted only when its match index is within this many entries of
 * the leader's last index, so the new voter does not stall commits while catching up. */
export const promoteLagEntriesMax = 64;

/** Largest snapshot a follower accepts for assembly in memory. */
export const snapshotBytesMax = 1024 * 1024 * 1024;

/** A follower in replicate state whose in-flight appends get no ack for this many
 * heartbeat intervals is put back into probe (the tail of the pipeline was lost). */
export const replicateStallHeartbeats = 2;

/** Under RaftConfig.heartbeatsSkipBusy, heartbeat rounds an append stands in for: the
 * round after it too, so a group with an entry every interval or two sends no heartbeats
 * (at 100 busy shards a third of a store's Raft messages were heartbeats and their
 * answers), while a follower still hears its leader at least every two intervals (60 ms
 * at the cluster's timing; elections wait 150-300 ms). */
export const heartbeatSkipRounds = 2;

/** Longest varint the codec reads or writes: 8 groups of 7 bits cover 2^53; a ninth byte
 * can only mean garbage. */
export const varintBytesMax = 8;
