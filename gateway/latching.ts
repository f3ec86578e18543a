// Symmetric RTP latching: each leg's socket learns the real source of its endpoint from
// the first packets (NATs rewrite the address the SDP announced) and from then on accepts
// only that source. Before latching, 'strict' accepts only the SDP's IP address (the port
// may differ behind a port-translating NAT), 'latch-any' lets the first source win.
// Pure: one decision function on numbers and strings, no state of its own.

export type LatchMode = 'strict' | 'latch-any';
export const LATCH_MODES: readonly LatchMode[] = ['strict', 'latch-any'];

/** Decisions, as small integers so the hot path compares numbers. */
export const LATCH_ACCEPT = 0;
export const LATCH_LEARN = 1;
export const LATCH_DROP = 2;
export type LatchDecision = typeof LATCH_ACCEPT | typeof LATCH_LEARN | typeof LATCH_DROP;

/**
 * @param latchedPort 0 while not latched
 * @param sdpIp '' when the SDP gave no usable address (hold, not answered yet)
 */
export function latchDecision(
  strict: boolean,
  latchedIp: string,
  latchedPort: number,
  sdpIp: string,
  srcIp: string,
  srcPort: number,
): LatchDecision {
  if (latchedPort !== 0) return srcPort === latchedPort && srcIp === latchedIp ? LATCH_ACCEPT : LATCH_DROP;
  if (!strict) return LATCH_LEARN;
  return sdpIp !== '' && srcIp === sdpIp ? LATCH_LEARN : LATCH_DROP;
}
