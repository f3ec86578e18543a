// Named maxima, timeouts and defaults of the DN shard area, each checked where it is
// enforced. The first part bounds the state machine: command validation (commands.ts), the
// session table (sessions.ts), the change feed (change-feed.ts) and the agent operations
// (agent-ops.ts), so the memory a replica holds and its snapshot stay bounded whatever
// clients send. Then the client RPC (rpc/), the shard client (client/) and the replica's
// shell (node/): sockets, timeouts and the leader's duties.

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
/** The host of a REGISTER's observed source (an IP address; 45 characters fit any IPv6). */
export const contactHostCharsMax = 64;
export const sipCallIdCharsMax = 256;
/** Longest registration a binding may carry (one day). */
export const contactExpiresMsMax = 86_400_000;

export const reservationIdCharsMax = 128;
export const ownerCharsMax = 128;
export const reservationTtlMsMax = 600_000;
/** Longest hold a releaseByOwner may put on the agents it frees. */
export const orphanHoldMsMax = 600_000;
/** A SIP node's lease on a shard (renewLease ttlMs): long enough to ride out a leader
 * election and a few lost renewals, short enough that a dead node's agents come back. */
export const leaseTtlMsMin = 1000;
export const leaseTtlMsMax = 600_000;
/** Leases one shard holds (one per SIP node); a renewal beyond it fails with SHARD_ERR_LIMIT. */
export const leasesPerShardMax = 1024;
/** Shards a replicated shard map (setShardMap) may list, and the length of one shard id. */
export const shardMapShardsMax = 256;
/** A service number (the queue's key; hashed like a DN to find the queue's shard). */
export const serviceNumberCharsMax = 64;
/** Waiting calls one shard holds across all the queues it owns. */
export const queueEntriesPerShardMax = 10_000;
/** Waiting calls in one service's queue. */
export const queueEntriesPerServiceMax = 1_000;
/** Service definitions one shard holds (putService beyond it: SHARD_ERR_LIMIT). */
export const servicesPerShardMax = 1_000;
/** Agents remembered per queue entry as already offered its call. */
export const queuePassedDnsMax = 16;
/** Longest a claim (an agent offered to a queued call) holds before it lapses. */
export const queueClaimTtlMsMax = 600_000;
export const shardIdCharsMax = 64;
/** A placed member's Raft address (placeMember), "host:port": a DNS name and a port. */
export const raftAddressCharsMax = 262;
/** Members a shard keeps a placement for (placeMember). A shard has 3 to 5 replicas and a
 * removed one's placement stays (the shard does not know whether the id comes back), so
 * this is the number of replicas a shard can gain over its life; past it a placement is
 * refused rather than an old one dropped, which could be a member's. */
export const memberPlacementsMax = 64;
/** Replicas a shard client knows per shard, its topology's and those it learned from a
 * leader hint (a member placed after its cluster file was written) together. */
export const shardClientReplicasMax = 16;

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
/** Change records a store keeps for all the shards it hosts together (each shard's ring
 * gets an equal share, within [changeFeedPerShardMin, changeFeedMax]). A record holds a
 * copy of the agent it changed, about 340 bytes of heap: 100 shards × 4,096 would be
 * 140 MB a store once every ring filled, more than the rest of a store of 10,000 agents.
 * At 32,768 the records were a fifth of a busy store's live heap (11 of 57 MB), and every
 * one of them is promoted to the old space before it is dropped; at 8,192 a store of 100
 * shards under saturating load stayed at 300-307 MB resident instead of 342-354. */
export const storeChangeFeedRecordsMax = 8_192;
/** The least a shard's ring holds on a store hosting many: a reader behind by more
 * re-reads the shard's agents (a hundred or so at 100 shards for 10,000 agents), which is
 * cheaper than holding more records than the shard has agents. */
export const changeFeedPerShardMin = 64;
/** Raft log entries a store holds in memory for all its groups together: a group keeps
 * every entry since its last snapshot (about 500 bytes of heap each), so 100 groups at
 * the default raft.snapshotEveryEntries (10,000) would come to a million entries, several
 * hundred MB, once the log had run long enough. A store's groups share this by how busy
 * each is (raft/group/log-budget.ts, store.ts storeLogBudget), each snapshotting after its
 * share when that is below the file's interval; with every group equally busy, each
 * group's snapshots are small (a shard of 100 agents: 30 KB, 0.45 ms to serialize). Under
 * load V8 lets its heap grow to a few times what is live, so this and the feed budget set a
 * busy store's resident size several times over: at 100,000 entries and 65,536 records a
 * store of 100 shards reached 450 MB after a minute of saturating load, at 30,000 and 32,768
 * 350 MB, and spent 5-13% less CPU per command (README, multi-raft stores); V8's heap
 * limit (cluster/limits.ts storeOldSpaceMbMax) sets the rest. */
export const storeLogEntriesInMemoryMax = 30_000;
/** The shortest snapshot interval that share may give a group. */
export const storeSnapshotEveryEntriesMin = 100;

/** Largest encoded command accepted by decodeProposal. */
export const commandBytesMax = 16_384;

// ---- Client RPC (rpc/connection.ts, node/rpc-server.ts) ----

/** Frames on the RPC are small; a larger one is a bug or an attack. This bounds the
 * answers a client accepts (an agent listing of a full shard); requests are far smaller. */
export const rpcFrameBytesMax = 4 * 1024 * 1024;
/** Largest request frame the server accepts: a propose carries at most commandBytesMax of
 * proposal text, escaped once more inside the request's JSON. */
export const rpcRequestFrameBytesMax = 8 * commandBytesMax;
/** Largest frame before the handshake completes (its messages are ~200 bytes), so a
 * stranger cannot make a replica buffer more than this per connection. */
export const rpcHandshakeFrameBytesMax = 1024;
/** A connection that has not completed the handshake this long after it was accepted
 * (or, on the client, dialled) is closed: an absolute deadline, not an idle timer, so a
 * stranger trickling one byte at a time cannot hold a slot. */
export const rpcHandshakeTimeoutMs = 5000;
/** Connections a replica holds before their handshake completes; more are closed at
 * once, so strangers cannot crowd out the SIP nodes (rpcConnectionsMax bounds them all). */
export const rpcUnauthenticatedConnectionsMax = 64;
/** Requests one connection may have in flight (proposed or reading, not yet answered);
 * at the limit the server stops reading that socket until answers go out. A SIP node's
 * client has at most clientSessionsPerShardMax × clientSessionWindowMax (3072) commands
 * in flight to one shard; to a store (one link, many shards) it may have more, and then
 * waits here for answers, which is backpressure, not a failure. */
export const rpcPendingRequestsPerConnectionMax = 4096;
/** Feed subscriptions one connection may hold: a client follows each shard once, and on
 * a store's listener one link carries every shard the store hosts (hundreds). */
export const rpcFeedsPerConnectionMax = 1024;
/** Unsent answer bytes one connection may queue before the server stops reading it
 * (backpressure), and the bound past which the reader is too slow and is dropped (feed
 * pages are pushed whether or not the client reads them). */
export const rpcSocketPendingBytesMax = 8 * 1024 * 1024;
export const rpcSocketPendingBytesHardMax = 64 * 1024 * 1024;
/** Principals' derived keys a server keeps computed (cleared when full). */
export const rpcPrincipalKeysCachedMax = 1024;
/** Characters of the id in a principal name (`sip:<id>`, `replica:<id>`). */
export const rpcPrincipalIdCharsMax = 128;
/** Characters of a request's `shard` (config shard ids are short: `s1`, `shard-17`). */
export const rpcShardIdCharsMax = 128;
/** Open client connections one replica's RPC server accepts. */
export const rpcConnectionsMax = 1024;
/** Longest per-request timeout a client may ask the server for. */
export const rpcTimeoutMsMax = 60_000;
/** Server-side timeout of a request that names none. */
export const rpcTimeoutMsDefault = 5000;
/** A connect to a replica that takes longer fails with SHARD_ERR_UNAVAILABLE. */
export const rpcConnectTimeoutMsDefault = 1000;
/** Client keepalive (rpc/connection.ts): a connection that has had no answer for this
 * long sends a `ping`. A network partition closes no socket, and TCP retransmits for
 * minutes before it gives up: without this, requests and feeds on a link behind a cut
 * would wait on it until the heal. */
export const rpcKeepaliveIdleMs = 1000;
/** After the ping, how much longer a silent connection is kept before it is destroyed
 * (its requests then fail with SHARD_ERR_UNAVAILABLE and are retried elsewhere): a link
 * behind a cut is left within rpcKeepaliveIdleMs + this (2.5 s). Longer than a loaded
 * store's event-loop stalls, so a busy peer is not mistaken for a dead one. */
export const rpcKeepaliveTimeoutMs = 1500;
/** While requests wait on a link, silence is judged on a shorter scale: a link that has
 * had no answer for this long since requests began to wait on it (or since its last
 * answer, if later) sends a `ping`. A leader behind a partition would otherwise hold every
 * write proposed to it for the attempt timeout (1 s) before the client tried the side that
 * elected a new leader, which takes about 300 ms. A loaded link carries answers far more
 * often than this, so it is never pinged. */
export const rpcBusyKeepaliveIdleMs = 100;
/** How long a ping sent while requests wait may go unanswered before the link is
 * destroyed and its requests retried elsewhere (300 ms of silence in all, like the stores'
 * own liveness: raft/transport/liveness.ts calls a peer store silent after 250 ms). A
 * ping is answered by the listener's event loop, not by Raft: a slow commit does not delay
 * it, a stall of the listener's whole loop for this long does. */
export const rpcBusyKeepaliveTimeoutMs = 200;
/** The server sends an idle feed (no page since the last beat) a heartbeat page this
 * often: empty, at the feed's index, saying whether the replica hears its shard's leader,
 * so a follower can leave a replica that is connected but cut off from its quorum. */
export const rpcFeedHeartbeatMs = 1000;

// ---- Shard client (client/shard-client.ts) ----

/** Times one ShardClient.command follows a WRONG_SHARD / MAP_VERSION refusal to another
 * shard before it returns the refusal (shards whose own maps disagree would bounce it). */
export const clientMapRedirectsMax = 3;
/** DNs whose owning shard the client remembers. */
export const clientOwnerCacheEntriesMax = 100_000;
/** One attempt against one replica. */
export const clientAttemptTimeoutMsDefault = 1000;
/** Overall deadline of a call, retries included. */
export const clientDeadlineMsDefault = 5000;
/** One replica's own status (replicaStatus, leaderStatus). */
export const clientStatusTimeoutMsDefault = 1000;
/** Requests a session may have between its oldest unanswered one and its newest: the
 * shard keeps at most sessionResultsMax (64) unacknowledged results per session and
 * refuses more, so a busy client spreads over several sessions instead. */
export const clientSessionWindowMax = 48;
/** Sessions one client opens on one shard. */
export const clientSessionsPerShardMax = 64;
/** How long a replica whose link failed is skipped when choosing where to go next. */
export const clientReplicaDownMs = 1000;
/** A followed replica whose heartbeats say it hears no leader over this long is left for
 * another (ShardClient.follow). Just under one rpcFeedHeartbeatMs: the second leaderless
 * heartbeat in a row leaves, about a second after the first; an election (150 ms at the
 * default timing) seldom spans two beats, and leaving during one costs only a resubscribe. */
export const clientFeedLeaderlessMsMax = 900;
/** A feed that gets no page at all (not even a heartbeat) this long is left for another
 * replica: three missed beats, while the link itself may stay open (a store's link is
 * shared by every shard it hosts, and its keepalive answers for the store, not the feed). */
export const clientFeedSilenceMsMax = 3000;

// ---- Replica shell (node/shard-node.ts, node/admin-routes.ts) ----

/** How often the leader looks for expired reservations and due timers while any may be
 * due (the resolution of every deadline), and while its duties have work under way. */
export const leaderDutyIntervalMs = 50;
/** The longest a leader's duties sleep when nothing is due sooner (node/duty-timer.ts):
 * a guard only, for every deadline they know of wakes them on time. */
export const leaderDutyIdleMaxMs = 1000;
/** Groups a store opens at once (node/store.ts): each open is a few reads of the shared
 * LevelDB; this many overlap their round trips without queueing all of them at once. */
export const storeOpenConcurrencyMax = 16;
/** Timeout of the leader's own expire and tick proposals. */
export const leaderDutyProposalTimeoutMs = 5000;
/** How long the preferred leader must stay caught up before an elected leader hands over.
 * A handoff refuses writes until the new leader is elected (~5 ms in the tests here; the
 * shard client retries them there), so a replica that keeps crashing soon after it starts
 * must not pull leadership back each time; after a clean restart the load is back on its
 * intended host within a few seconds. */
export const preferredLeaderSettleMs = 3000;
/** Longest a handoff may take before it is given up and retried after another settle. */
export const preferredHandoffTimeoutMs = 2000;
/** How far behind the leader's log the preferred leader may be and still count as caught
 * up: under load a follower is always a few in-flight entries behind, and the transfer
 * itself brings it level before it campaigns. */
export const preferredLagEntriesMax = 64;
/** The leader's `recentActive` flag for a peer restarts false at every election timeout
 * and turns true on the peer's next answer, so one sample can miss a live peer: it counts
 * as reachable if the flag was seen true within this long. */
export const preferredSilenceMsMax = 1000;
/** Admin REST: a read's ReadIndex round (or a stale read) on this replica. */
export const adminReadTimeoutMs = 3000;
/** Admin REST: deadline of a write sent through the shard client. */
export const adminCommandDeadlineMs = 5000;
/** Admin REST: how long POST /v1/members waits for a new learner to catch up before
 * promoting it, and the pause between attempts of a membership step (a promotion before
 * its learner caught up, any step while leadership is being handed over). */
export const adminPromoteDeadlineMs = 60_000;
export const adminMembershipRetryMs = 200;
/** Admin REST: a request forwarded to the leader's admin endpoint. */
export const adminForwardTimeoutMs = 10_000;
