// Named maxima and defaults for the agent phones (`ringfence phones`). One place to read
// the envelope a phones process works in.

/** Phones one process plays; each has an RTP socket, so this bounds file descriptors. */
export const phonesMax = 2000;
/** Binding lifetime asked for in REGISTER (seconds). */
export const registerExpiresSDefault = 300;
/** `--expires-s` accepts this range. */
export const registerExpiresSMin = 10;
export const registerExpiresSMax = 86_400;
/** Shortest delay before a REGISTER refresh, however short the granted lifetime. */
export const registerRefreshMsMin = 200;
/** Refresh this long before a binding would expire (capped at half its lifetime). */
export const registerRefreshMarginMs = 30_000;
/** Back-off after a failed REGISTER, doubling up to the maximum. */
export const registerRetryMsMin = 500;
export const registerRetryMsMax = 30_000;
/** Ring time before 200 OK for phones that answer. */
export const answerAfterMsDefault = 500;
/** `--answer-after-ms` accepts 0..this. */
export const answerAfterMsMax = 600_000;
/** At shutdown, how long each phone's unREGISTER may take before the process moves on. */
export const unregisterTimeoutMs = 2000;
/** RFC 3261 §13.3.1.4: a UAS that gets no ACK for its 2xx within 64*T1 ends the call with BYE. */
export const ackWaitMs = 32_000;
/** 2xx retransmission: T1 doubling up to T2 (RFC 3261 §13.3.1.4). */
export const t1Ms = 500;
export const t2Ms = 4_000;
/** Largest RTP datagram echoed; anything longer is not audio and is dropped. */
export const rtpPacketBytesMax = 1500;
/** In-dialog OPTIONS interval on answered calls (RFC 5057 §5.1 probing); 0 turns it off. */
export const dialogProbeMsDefault = 30_000;
export const dialogProbeMsMax = 3_600_000;
/** Probes of one call awaiting an answer at once (a silent peer's oldest probe times out). */
export const dialogProbesInFlightMax = 8;
