// Named maxima and defaults of the Raft core, in one place (see STYLE.md §8).

/** Default RaftConfig values (defaultRaftConfig). */
export const ELECTION_TIMEOUT_TICKS_DEFAULT = 10;
export const HEARTBEAT_TICKS_DEFAULT = 2;
export const APPEND_ENTRIES_MAX_DEFAULT = 512;
export const APPEND_BYTES_MAX_DEFAULT = 1024 * 1024;
export const INFLIGHT_APPENDS_MAX_DEFAULT = 64;
export const UNCOMMITTED_BYTES_MAX_DEFAULT = 32 * 1024 * 1024;
export const SNAPSHOT_CHUNK_BYTES_DEFAULT = 256 * 1024;

/** Bytes counted per entry on top of its data when sizing append messages and the
 * uncommitted budget, so floods of empty entries are bounded too. */
export const ENTRY_OVERHEAD_BYTES = 32;

/** Read rounds a leader keeps open (queued before its first commit or awaiting quorum
 * acks); beyond this readIndex() fails at once with reason 'dropped'. */
export const READS_PENDING_MAX = 4096;

/** Reads a follower has forwarded to its leader and not yet heard back about. */
export const READS_FORWARDED_MAX = 4096;

/** A learner may be promoted only when its match index is within this many entries of
 * the leader's last index, so the new voter does not stall commits while catching up. */
export const PROMOTE_LAG_ENTRIES_MAX = 64;

/** Largest snapshot a follower accepts for assembly in memory. */
export const SNAPSHOT_BYTES_MAX = 1024 * 1024 * 1024;

/** A follower in replicate state whose in-flight appends get no ack for this many
 * heartbeat intervals is put back into probe (the tail of the pipeline was lost). */
export const REPLICATE_STALL_HEARTBEATS = 2;
