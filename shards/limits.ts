// Named maxima of the DN shard state machine. Every one is checked where it is enforced:
// command validation (commands.ts), the session table (sessions.ts), the change feed
// (change-feed.ts) and the agent operations (agent-ops.ts). They bound the memory a shard
// replica holds and the size of its snapshot, whatever clients send.

/** A DN is a string of ASCII digits (an extension), 1..dnDigitsMax long. */
export const dnDigitsMax = 20;
export const agentNameCharsMax = 128;
export const skillsPerAgentMax = 64;
export const skillNameCharsMax = 64;
export const skillLevelMax = 100;
export const wrapUpMsMax = 3_600_000;
/** 0 disables the no-answer rule. */
export const maxNoAnswerMax = 100;
/** Agents one shard holds; provisioning beyond this fails with SHARD_ERR_LIMIT. */
export const agentsPerShardMax = 100_000;
export const notReadyReasonCharsMax = 64;

/** SIP contact bindings per agent (REGISTER), like a registrar's per-AOR limit. */
export const contactsPerAgentMax = 8;
export const contactUriCharsMax = 512;
export const sipCallIdCharsMax = 256;
/** Longest registration a binding may carry (one day). */
export const contactExpiresMsMax = 86_400_000;

export const reservationIdCharsMax = 128;
export const ownerCharsMax = 128;
export const reservationTtlMsMax = 600_000;
/** Longest hold a releaseByOwner may put on the agents it frees. */
export const orphanHoldMsMax = 600_000;

export const credentialUserCharsMax = 128;
export const credentialRealmCharsMax = 128;

/** Client sessions (Ongaro thesis §6.3): the table is bounded; the least recently active
 * session is evicted when a new one opens in a full table. */
export const sessionsMax = 1_024;
/** A session idle this long is dropped at the next tick. */
export const sessionIdleMsMax = 3_600_000;
/** Results a session keeps for requests the client has not yet acknowledged; a client
 * with this many outstanding requests gets SHARD_ERR_TOO_MANY_PENDING. */
export const sessionResultsMax = 64;
export const clientIdCharsMax = 128;

/** Change records kept for `changesSince`; older ones are dropped (readers resync). */
export const changeFeedMax = 4_096;

/** Largest encoded command accepted by decodeProposal. */
export const commandBytesMax = 16_384;
