// RTP/RTCP port pairs from a configured range: RTP on an even port, RTCP on the next odd
// one (RFC 3550 §11). Free pairs form a FIFO so a released pair is reused last: late
// packets of an ended call then hit a closed port instead of a new call. Pure and
// allocation-free after construction.

import assert from 'node:assert';
import { GatewayError, GatewayErrorCode } from './errors.js';

export class PortAllocator {
  private readonly queue: Int32Array;
  private head = 0;
  private count = 0;
  private readonly inUse: Uint8Array;
  readonly min: number;
  readonly max: number;

  constructor(range: Readonly<{ min: number; max: number }>) {
    assert(Number.isInteger(range.min) && Number.isInteger(range.max), 'port range must be integers');
    assert(range.min >= 1024 && range.max <= 65535 && range.min < range.max, `bad port range ${range.min}-${range.max}`);
    const first = range.min % 2 === 0 ? range.min : range.min + 1;
    const pairs = Math.floor((range.max - first + 1) / 2);
    assert(pairs > 0, 'port range holds no even/odd pair');
    this.min = first;
    this.max = first + pairs * 2 - 1;
    this.queue = new Int32Array(pairs);
    this.inUse = new Uint8Array(pairs);
    for (let i = 0; i < pairs; i++) this.queue[i] = first + 2 * i;
    this.count = pairs;
  }

  get capacityPairs(): number {
    return this.queue.length;
  }
  get freePairs(): number {
    return this.count;
  }

  /** The RTP (even) port of a free pair; RTCP is that + 1. */
  allocate(): number {
    if (this.count === 0) {
      throw new GatewayError(GatewayErrorCode.PORTS_EXHAUSTED, `no free port pair in ${this.min}-${this.max}`);
    }
    const port = this.queue[this.head]!;
    this.head = (this.head + 1) % this.queue.length;
    this.count--;
    const i = (port - this.min) >> 1;
    if (this.inUse[i] !== 0) assert.fail(`port ${port} handed out twice`);
    this.inUse[i] = 1;
    return port;
  }

  release(rtpPort: number): void {
    const i = (rtpPort - this.min) >> 1;
    if (!(rtpPort % 2 === 0 && i >= 0 && i < this.queue.length)) assert.fail(`port ${rtpPort} not from this range`);
    if (this.inUse[i] !== 1) assert.fail(`port ${rtpPort} released twice`);
    this.inUse[i] = 0;
    this.queue[(this.head + this.count) % this.queue.length] = rtpPort;
    this.count++;
  }
}
