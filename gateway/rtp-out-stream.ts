// One leg's outgoing RTP stream once the gateway has played media into it: the receiver
// must see ONE stream — one SSRC, sequence numbers +1 per packet, timestamps that advance
// with time — whether a packet is a played prompt frame or the other party's relayed
// audio. Played frames are stamped here; relayed packets are rewritten in place (seq, ts,
// SSRC) with offsets fixed at each switch, the timestamp advanced by the wall-clock time
// since the last packet sent. Pure: time comes in as numbers, the packet as a buffer.
//
// A leg that never played has no OutStream (relay.ts checks for null), so relaying costs
// nothing extra on it.

import assert from 'node:assert';

/** Relayed packets pass (rewritten). */
export const MODE_RELAY = 0;
/** A prompt plays: relayed packets toward this leg are muted. */
export const MODE_PLAY = 1;
/** Playback ended or was stopped: silence frames keep the stream alive until relayed media or another
 * play takes over (a receiver's jitter buffer sees no gap). */
export const MODE_FILL = 2;

const RTP_HEADER_BYTES = 12;
const SAMPLES_PER_MS = 8;

export class RtpOutStream {
  mode = MODE_PLAY;
  readonly ssrc: number;
  /** Sequence number and timestamp of the last packet sent, and when (ms). */
  private seq: number;
  private ts: number;
  private sentMs: number;
  private sentAny = false;
  /** Offsets from the relayed source's numbering to ours, and which source they are for. */
  private seqDelta = 0;
  private tsDelta = 0;
  private relaySsrc = -1;
  /** Relayed packets muted while a prompt played. */
  mutedPackets = 0;
  /** Relayed packets rewritten into this stream. */
  rewrittenPackets = 0;

  constructor(init: Readonly<{ ssrc: number; seq: number; ts: number; nowMs: number }>) {
    this.ssrc = init.ssrc >>> 0;
    this.seq = init.seq & 0xffff;
    this.ts = init.ts >>> 0;
    this.sentMs = init.nowMs;
  }

  /** The timestamp a played run starting now begins at: one frame after the last packet
   * sent, advanced by the time since (so a pause in sending shows as a pause in time). */
  playStartTs(nowMs: number, frameSamples: number): number {
    if (!this.sentAny) return this.ts;
    return (this.ts + Math.max(frameSamples, Math.round((nowMs - this.sentMs) * SAMPLES_PER_MS))) >>> 0;
  }

  /** Writes the RTP header of a played frame into `packet` (12 bytes + payload). */
  stampPlayed(packet: Buffer, payloadType: number, ts: number, marker: boolean, nowMs: number): void {
    assert(packet.length >= RTP_HEADER_BYTES);
    this.seq = this.sentAny ? (this.seq + 1) & 0xffff : this.seq;
    this.sentAny = true;
    this.ts = ts >>> 0;
    this.sentMs = nowMs;
    this.relaySsrc = -1; // the next relayed packet re-derives its offsets
    packet[0] = 0x80;
    packet[1] = (marker ? 0x80 : 0) | (payloadType & 0x7f);
    packet.writeUInt16BE(this.seq, 2);
    packet.writeUInt32BE(this.ts, 4);
    packet.writeUInt32BE(this.ssrc, 8);
  }

  /** A relayed RTP packet toward this leg: rewritten in place and true (send it), or
   * false while a prompt plays (drop it). The first relayed packet after a played one
   * (or from a new source SSRC) fixes the offsets: next sequence number, and a timestamp
   * advanced by the time elapsed since the last packet sent. */
  relayed(msg: Buffer, nowMs: number): boolean {
    if (this.mode === MODE_PLAY) {
      this.mutedPackets++;
      return false;
    }
    this.mode = MODE_RELAY;
    if (msg.length < RTP_HEADER_BYTES || (msg[0]! & 0xc0) !== 0x80) return true; // not RTP v2: pass untouched
    const inSeq = msg.readUInt16BE(2);
    const inTs = msg.readUInt32BE(4);
    const inSsrc = msg.readUInt32BE(8);
    if (inSsrc !== this.relaySsrc) {
      const nextSeq = this.sentAny ? (this.seq + 1) & 0xffff : this.seq;
      const nextTs = this.sentAny ? this.ts + Math.max(1, Math.round((nowMs - this.sentMs) * SAMPLES_PER_MS)) : this.ts;
      this.seqDelta = (nextSeq - inSeq) & 0xffff;
      this.tsDelta = (nextTs - inTs) >>> 0;
      this.relaySsrc = inSsrc;
    }
    const seq = (inSeq + this.seqDelta) & 0xffff;
    const ts = (inTs + this.tsDelta) >>> 0;
    msg.writeUInt16BE(seq, 2);
    msg.writeUInt32BE(ts, 4);
    msg.writeUInt32BE(this.ssrc, 8);
    // Later than the last one sent (a reordered packet keeps its own, older numbers).
    if (!this.sentAny || ((seq - this.seq) & 0xffff) < 0x8000) {
      this.seq = seq;
      this.ts = ts;
      this.sentMs = nowMs;
      this.sentAny = true;
    }
    this.rewrittenPackets++;
    return true;
  }
}
