// Per-leg media statistics kept in typed arrays indexed by leg slot, so the relay's hot
// path updates numbers in place and creates no objects. Loss follows RFC 3550 A.1
// (extended highest sequence number minus base, minus packets received; a large jump is
// believed only when the next packet confirms it); jitter is the RFC 3550 A.8 interarrival
// jitter estimate in RTP timestamp units. Pure: arrival times are passed in.

export const MAX_DROPOUT = 3000;
export const MAX_MISORDER = 100;
const SEQ_MOD = 65536;

/** What a query reports for one direction of one leg (packets the gateway received on it). */
export type LegStatsSnapshot = Readonly<{
  rtpPackets: number;
  rtpBytes: number;
  rtcpPackets: number;
  rtcpBytes: number;
  lostPackets: number;
  jitterTimestampUnits: number;
  jitterMs: number;
  droppedSource: number;
  droppedRate: number;
  droppedUnroutable: number;
  relayedPackets: number;
  relayedBytes: number;
}>;

export class LegStats {
  readonly rtpPackets: Float64Array;
  readonly rtpBytes: Float64Array;
  readonly rtcpPackets: Float64Array;
  readonly rtcpBytes: Float64Array;
  readonly droppedSource: Float64Array;
  readonly droppedRate: Float64Array;
  readonly droppedUnroutable: Float64Array;
  readonly relayedPackets: Float64Array;
  readonly relayedBytes: Float64Array;
  // RFC 3550 A.1 sequence state.
  private readonly seqStarted: Uint8Array;
  private readonly baseSeq: Float64Array;
  private readonly maxSeq: Int32Array;
  private readonly badSeq: Int32Array;
  private readonly cycles: Float64Array;
  private readonly received: Float64Array;
  private readonly lostBefore: Float64Array; // loss carried over a sequence restart
  private readonly ssrc: Float64Array;
  // RFC 3550 A.8 jitter state.
  private readonly clockRateHz: Float64Array;
  private readonly transitPrev: Float64Array;
  private readonly jitter: Float64Array;

  constructor(readonly slots: number) {
    const f = () => new Float64Array(slots);
    this.rtpPackets = f();
    this.rtpBytes = f();
    this.rtcpPackets = f();
    this.rtcpBytes = f();
    this.droppedSource = f();
    this.droppedRate = f();
    this.droppedUnroutable = f();
    this.relayedPackets = f();
    this.relayedBytes = f();
    this.seqStarted = new Uint8Array(slots);
    this.baseSeq = f();
    this.maxSeq = new Int32Array(slots);
    this.badSeq = new Int32Array(slots);
    this.cycles = f();
    this.received = f();
    this.lostBefore = f();
    this.ssrc = f();
    this.clockRateHz = f();
    this.transitPrev = f();
    this.jitter = f();
  }

  reset(slot: number, clockRateHz: number): void {
    this.rtpPackets[slot] = 0;
    this.rtpBytes[slot] = 0;
    this.rtcpPackets[slot] = 0;
    this.rtcpBytes[slot] = 0;
    this.droppedSource[slot] = 0;
    this.droppedRate[slot] = 0;
    this.droppedUnroutable[slot] = 0;
    this.relayedPackets[slot] = 0;
    this.relayedBytes[slot] = 0;
    this.seqStarted[slot] = 0;
    this.lostBefore[slot] = 0;
    this.received[slot] = 0;
    this.cycles[slot] = 0;
    this.jitter[slot] = 0;
    this.clockRateHz[slot] = clockRateHz;
  }

  setClockRate(slot: number, clockRateHz: number): void {
    this.clockRateHz[slot] = clockRateHz;
  }

  /** Accounts one RTP packet of `len` bytes that arrived at `arrivalMs` (any monotonic
   * millisecond clock). Packets too short to be RTP count only as bytes. */
  onRtp(slot: number, buf: Uint8Array, len: number, arrivalMs: number): void {
    this.rtpPackets[slot]!++;
    this.rtpBytes[slot]! += len;
    if (len < 12 || (buf[0]! & 0xc0) !== 0x80) return;
    const seq = (buf[2]! << 8) | buf[3]!;
    const ts = ((buf[4]! << 24) | (buf[5]! << 16) | (buf[6]! << 8) | buf[7]!) >>> 0;
    const ssrc = ((buf[8]! << 24) | (buf[9]! << 16) | (buf[10]! << 8) | buf[11]!) >>> 0;
    if (this.seqStarted[slot] === 0 || ssrc !== this.ssrc[slot]) {
      if (this.seqStarted[slot] !== 0) this.lostBefore[slot] = this.lostPackets(slot);
      this.initSeq(slot, seq, ssrc);
    } else if (!this.updateSeq(slot, seq)) {
      return;
    }
    this.received[slot]!++;
    this.updateJitter(slot, ts, arrivalMs);
  }

  onRtcp(slot: number, len: number): void {
    this.rtcpPackets[slot]!++;
    this.rtcpBytes[slot]! += len;
  }

  private initSeq(slot: number, seq: number, ssrc: number): void {
    this.seqStarted[slot] = 1;
    this.ssrc[slot] = ssrc;
    this.baseSeq[slot] = seq;
    this.maxSeq[slot] = seq;
    this.badSeq[slot] = SEQ_MOD + 1;
    this.cycles[slot] = 0;
    this.received[slot] = 0;
    this.transitPrev[slot] = NaN;
  }

  /** RFC 3550 A.1 update_seq; false when the packet is set aside as a possible restart. */
  private updateSeq(slot: number, seq: number): boolean {
    const maxSeq = this.maxSeq[slot]!;
    const udelta = (seq - maxSeq + SEQ_MOD) % SEQ_MOD;
    if (udelta < MAX_DROPOUT) {
      if (seq < maxSeq) this.cycles[slot]! += SEQ_MOD;
      this.maxSeq[slot] = seq;
    } else if (udelta <= SEQ_MOD - MAX_MISORDER) {
      if (seq === this.badSeq[slot]) {
        // Two sequential packets after a big jump: the source restarted its numbering.
        this.lostBefore[slot] = this.lostPackets(slot);
        this.initSeq(slot, seq, this.ssrc[slot]!);
      } else {
        this.badSeq[slot] = (seq + 1) % SEQ_MOD;
        return false;
      }
    }
    // else: duplicate or reordered packet, counted as received (as A.1 does).
    return true;
  }

  private updateJitter(slot: number, ts: number, arrivalMs: number): void {
    const arrivalUnits = (arrivalMs * this.clockRateHz[slot]!) / 1000;
    const transit = arrivalUnits - ts;
    const prev = this.transitPrev[slot]!;
    this.transitPrev[slot] = transit;
    if (prev !== prev) return; // NaN: first packet of the stream
    let d = transit - prev;
    if (d > 2147483648) d -= 4294967296; // RTP timestamp wrapped
    else if (d < -2147483648) d += 4294967296;
    if (d < 0) d = -d;
    this.jitter[slot]! += (d - this.jitter[slot]!) / 16;
  }

  lostPackets(slot: number): number {
    if (this.seqStarted[slot] === 0) return this.lostBefore[slot]!;
    const expected = this.cycles[slot]! + this.maxSeq[slot]! - this.baseSeq[slot]! + 1;
    const lost = expected - this.received[slot]!;
    return this.lostBefore[slot]! + (lost > 0 ? lost : 0);
  }

  snapshot(slot: number): LegStatsSnapshot {
    const jitterUnits = this.jitter[slot]!;
    const rate = this.clockRateHz[slot]!;
    return {
      rtpPackets: this.rtpPackets[slot]!,
      rtpBytes: this.rtpBytes[slot]!,
      rtcpPackets: this.rtcpPackets[slot]!,
      rtcpBytes: this.rtcpBytes[slot]!,
      lostPackets: this.lostPackets(slot),
      jitterTimestampUnits: Math.round(jitterUnits),
      jitterMs: rate > 0 ? Math.round((jitterUnits * 1000 * 1000) / rate) / 1000 : 0,
      droppedSource: this.droppedSource[slot]!,
      droppedRate: this.droppedRate[slot]!,
      droppedUnroutable: this.droppedUnroutable[slot]!,
      relayedPackets: this.relayedPackets[slot]!,
      relayedBytes: this.relayedBytes[slot]!,
    };
  }
}
