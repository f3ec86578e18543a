// Symmetric RTP latching: which source a leg's socket accepts packets from, and where the
// other leg's packets are sent back to (the latched source, else the SDP address).
//
// 'strict' (the default; rtpengine's strict-source with SDP-first learning): the peer is
// the address the leg's SDP announced. A packet from exactly that IP and port is always
// accepted and (re)latches the leg, so the expected peer reclaims a leg whatever else was
// heard first. Before the SDP peer has sent, a packet from the SDP's IP on another port
// (a port-translating NAT) may latch; once latched, every other source is dropped and
// counted — so once the expected peer is sending, a stranger's packets never pass.
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
  if (strict && srcPort === sdpPort && srcIp === sdpIp && sdpIp !== '' && sdpPort !== 0) return LATCH_LEARN;
  if (latchedPort !== 0) return LATCH_DROP;
  if (!strict) return LATCH_LEARN;
  return sdpIp !== '' && srcIp === sdpIp ? LATCH_LEARN : LATCH_DROP;
}
