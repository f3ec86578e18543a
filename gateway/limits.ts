// Named maxima of the media gateway, each checked where it is enforced.

/** Largest ng control datagram accepted or sent (one UDP datagram, no fragmentation
 * reassembly above it). rtpengine uses the same 64 KiB ceiling. */
export const ngMessageBytesMax = 65_507;
/** Nesting of bencoded lists/dicts; the decoder is recursive, so this bounds its stack. */
export const bencodeDepthMax = 32;
/** Entries in a decoded list or dict. */
export const bencodeItemsMax = 4_096;
/** Bytes of the cookie that opens an ng message (before the first space); a message
 * whose first space is further in is malformed. */
export const ngCookieBytesMax = 128;
/** Commands the control server runs at once; beyond it a command is refused rather than
 * queued. */
export const ngCommandsInFlightMax = 1_024;
/** Commands one source address may have running at once (within the global ceiling), so
 * one node cannot take every slot. */
export const ngCommandsInFlightPerSourceMax = 256;
/** Authenticated commands per second per source address (token bucket), and its depth.
 * A SIP node at 300 calls/s sends about 1,200 (offer, answer, delete, polls). */
export const ngCommandRatePerSourceMax = 5_000;
export const ngCommandBurstPerSourceMax = 5_000;
/** Source addresses tracked for the two per-source bounds above; the least recently seen
 * is forgotten beyond it. Only authenticated sources are tracked. */
export const ngSourcesTrackedMax = 1_024;
/** A signed command's auth-ts may be this far from the gateway's clock. At most half the
 * reply cache TTL: a command first seen at the window's start is still remembered (as
 * run) when its timestamp leaves the window at the other end. */
export const ngAuthTimestampSkewMsMax = 15_000;
/** Cookies of authenticated commands remembered until their timestamp leaves the window,
 * so a replay is refused even after its reply left the cache. Beyond it new commands are
 * refused (a sender this fast is broken): fail closed, never re-run. */
export const ngSeenCookiesMax = 131_072;
/** Call-ids in one `list` reply, in `calls` and again in `timed-out`, unless the command
 * asks for fewer (`limit`); the rest are paged with `offset`. Sized for the longest ids
 * (idCharsMax): 2 × 100 × ~260 bytes stays inside one datagram (ngMessageBytesMax). */
export const ngListCallsMax = 100;
/** ng client: wait per attempt before retransmitting the same datagram. */
export const ngTimeoutMsDefault = 500;
/** ng client: retransmissions after the first attempt. */
export const ngRetriesDefault = 2;
/** Replies remembered by cookie so a retransmitted command is answered, not re-run. */
export const ngReplyCacheEntriesMax = 8_192;
/** How long a cached reply stays valid (rtpengine keeps its cookie cache ~30 s). */
export const ngReplyCacheTtlMs = 30_000;
/** Characters of SDP accepted in one offer/answer. */
export const sdpBytesMax = 16_384;
/** Call-id and tag length. */
export const idCharsMax = 256;

/** Default ceiling on concurrent calls. Each call holds 4 sockets (2 legs × RTP+RTCP),
 * so this is also bounded by the process file-descriptor limit. */
export const sessionsMaxDefault = 2_000;
/** Per-call packet rate ceiling (both legs, RTP+RTCP together), packets per second.
 * 0 disables. 50 pps is one 20 ms stream; 4 streams' worth leaves headroom. */
export const sessionPacketRateMaxDefault = 500;
/** Token-bucket depth, packets: how far a call may burst above its rate. */
export const sessionPacketBurstMaxDefault = 200;
/** A call that relays nothing for this long is flagged timed-out. */
export const mediaTimeoutMsDefault = 60_000;
/** Attempts to bind a fresh port pair before answering "ports exhausted" when ports of
 * the range are taken by other processes. */
export const portBindAttemptsMax = 16;
/** Kernel socket buffer asked for on each media socket. Big enough to ride over a GC
 * pause, small enough that a backlog left by a burst drains in milliseconds. */
export const mediaSocketBufferBytes = 1 << 20;
/** The media-timeout sweep runs every quarter of the media timeout, within these bounds. */
export const sweepIntervalMsMin = 10;
export const sweepIntervalMsMax = 1000;

/** Largest prompt file loaded (a minute of 16-bit 8 kHz audio is 960 KB). */
export const promptBytesMax = 4 * 1024 * 1024;
/** Prompt files loaded from --prompts-dir. */
export const promptsMax = 256;
/** Prompt names in one `play media` (`file`, or Ringfence's `files` list). */
export const playFilesMax = 16;
/** `repeat-times` ceiling; a queue's music is asked for far fewer loops than this. */
export const playRepeatTimesMax = 100_000;
/** RTP packets of one 20 ms frame the player sends at once to catch up after a stall;
 * behind by more, it skips ahead (a jitter buffer would drop them anyway). */
export const playCatchUpPacketsMax = 5;
/** After a playback ends or is stopped, silence frames keep the leg's stream going until
 * relayed media or another play takes over, for at most this long. */
export const playFillMsMax = 5_000;
