// Symmetric RTP latching: which source a leg's socket accepts packets from, and where the
// other leg's packets are sent back to (the latched source, else the SDP address).
//
// 'strict' (the default; rtpengine's strict-source, with the peer learnt from the SDP
// rather than from whoever sends first): a leg accepts packets only from the exact IP and
// port its SDP announced; every other source is dropped and counted, whether it sent
// before the peer or alongside it. A new SDP (re-INVITE) moves the expected peer.
// 'latch-any' (explicit, for NATed peers whose SDP shows a private address): the first
// source wins and is kept; later sources are dropped.
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
 * @param sdpPort the SDP's port for this component (0 when unknown)
 */
export function latchDecision(
  strict: boolean,
  latchedIp: string,
  latchedPort: number,
  sdpIp: string,
  sdpPort: number,
  srcIp: string,
  srcPort: number,
): LatchDecision {
  if (latchedPort !== 0 && srcPort === latchedPort && srcIp === latchedIp) return LATCH_ACCEPT;
  if (strict) return srcPort === sdpPort && srcIp === sdpIp && sdpIp !== '' && sdpPort !== 0 ? LATCH_LEARN : LATCH_DROP;
  return latchedPort === 0 ? LATCH_LEARN : LATCH_DROP;
}
