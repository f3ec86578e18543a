// The call table: which calls exist, their two legs (tags, gateway ports, the endpoint
// each leg's SDP announced) and their media-timeout state. Pure bookkeeping: the shell
// (gateway.ts) binds sockets and feeds in packet counts and times.
//
// A call's legs: leg A (index 0) is the side that sent the first offer (the caller),
// leg B (index 1) the side that answered (the agent). A call index c maps to relay leg
// slots 2c and 2c+1.

import assert from 'node:assert';
import { GatewayError, GatewayErrorCode } from './errors.js';
import type { SdpEndpoint } from './sdp-rewrite.js';

export type Leg = {
  /** SIP tag of this side; null for leg B until the answer names it. */
  tag: string | null;
  /** Gateway's RTP port for this leg (RTCP = +1). */
  localRtpPort: number;
  /** What this side's latest SDP said; null before its SDP arrives. */
  endpoint: SdpEndpoint | null;
};

export type Call = {
  readonly callId: string;
  readonly index: number;
  readonly createdMs: number;
  readonly legs: readonly [Leg, Leg];
  lastSignalMs: number;
  /** Media-timeout bookkeeping: the packet count last observed and when it last moved. */
  packetsSeen: number;
  lastActiveMs: number;
  /** Sticky: once a call has gone `mediaTimeoutMs` without a packet it stays flagged
   * until deleted, so a poller cannot miss it. */
  timedOut: boolean;
};

export class CallTable {
  private readonly calls = new Map<string, Call>();
  private readonly freeIndexes: number[] = [];

  constructor(readonly callsMax: number) {
    assert(Number.isInteger(callsMax) && callsMax > 0, 'callsMax must be a positive integer');
    for (let i = callsMax - 1; i >= 0; i--) this.freeIndexes.push(i);
  }

  get size(): number {
    return this.calls.size;
  }

  get(callId: string): Call | undefined {
    return this.calls.get(callId);
  }

  require(callId: string): Call {
    const c = this.calls.get(callId);
    if (c === undefined) throw new GatewayError(GatewayErrorCode.UNKNOWN_CALL, 'Unknown call-id');
    return c;
  }

  /** Reserves a call index, throwing MAX_SESSIONS when the table is full. The call only
   * becomes visible with `insert`, after its ports are bound. */
  reserveIndex(): number {
    const i = this.freeIndexes.pop();
    if (i === undefined) throw new GatewayError(GatewayErrorCode.MAX_SESSIONS, 'Maximum number of sessions reached');
    return i;
  }

  unreserveIndex(index: number): void {
    this.freeIndexes.push(index);
  }

  insert(call: Call): void {
    assert(!this.calls.has(call.callId), `call ${call.callId} inserted twice`);
    this.calls.set(call.callId, call);
  }

  remove(callId: string): Call {
    const c = this.require(callId);
    this.calls.delete(callId);
    this.freeIndexes.push(c.index);
    return c;
  }

  /** The leg whose tag is `tag`; null when neither matches. */
  legIndexOf(call: Call, tag: string): 0 | 1 | null {
    if (call.legs[0].tag === tag) return 0;
    if (call.legs[1].tag === tag) return 1;
    return null;
  }

  /** Updates media-timeout state from the current packet counts; returns the calls that
   * became timed-out in this sweep. */
  sweep(nowMs: number, mediaTimeoutMs: number, packetsSeen: (index: number) => number): string[] {
    const newly: string[] = [];
    for (const c of this.calls.values()) {
      const seen = packetsSeen(c.index);
      if (seen !== c.packetsSeen) {
        c.packetsSeen = seen;
        c.lastActiveMs = nowMs;
      } else if (!c.timedOut && nowMs - c.lastActiveMs >= mediaTimeoutMs) {
        c.timedOut = true;
        newly.push(c.callId);
      }
    }
    return newly;
  }

  /** The calls in the table (for metrics, read at scrape time). */
  values(): IterableIterator<Call> {
    return this.calls.values();
  }

  ids(): string[] {
    return [...this.calls.keys()];
  }

  timedOutIds(): string[] {
    const out: string[] = [];
    for (const c of this.calls.values()) if (c.timedOut) out.push(c.callId);
    return out;
  }
}
