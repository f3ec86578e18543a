// Per-source request-rate limit for the SIP listeners (Kamailio's pike is the model): one
// token bucket per source IP, shared by the UDP and TCP transports of a node. A message
// within the rate passes; above it a request earns a stateless 503 with Retry-After, from
// a second, smaller bucket so that the 503s a flooder gets are bounded too; once both are
// spent the source's messages are dropped unread (silence costs us nothing and gives a
// spoofed source nothing to reflect). Trusted sources (the cluster's own hosts, an SBC in
// front) are never counted.
//
// Pure apart from the injected clock: no sockets, no timers. The table of sources is
// bounded: the least recently seen is forgotten first.

import assert from 'node:assert';
import { BlockList, isIPv4, isIPv6 } from 'node:net';
import {
  sourceBurstDefault,
  sourceRejectBurstDefault,
  sourceRejectsPerSecondDefault,
  sourceRequestsPerSecondDefault,
  sourcesTrackedMax,
} from './limits.js';

export type SourceGateOptions = Readonly<{
  requestsPerSecond?: number;
  burst?: number;
  rejectsPerSecond?: number;
  rejectBurst?: number;
  sourcesMax?: number;
  /** IPs, CIDRs (`10.0.0.0/8`, `2001:db8::/32`) and `loopback`; see parseTrustedSources. */
  trusted?: readonly string[];
  /** Milliseconds, never decreasing (default performance.now). */
  now?: () => number;
}>;

/** What to do with one inbound message from a source. */
export type GateVerdict = 'pass' | 'reject' | 'drop';

type Bucket = { tokens: number; rejectTokens: number; atMs: number };

export class SourceGate {
  readonly requestsPerSecond: number;
  readonly burst: number;
  readonly rejectsPerSecond: number;
  readonly rejectBurst: number;
  private readonly sourcesMax: number;
  private readonly trustedList: BlockList;
  private readonly now: () => number;
  /** Map order is recency: a touched source moves to the end, the front is evicted. */
  private readonly buckets = new Map<string, Bucket>();
  /** trusted() answers by source: the list never changes, and BlockList.check builds a
   * SocketAddress per call (about 5 µs, paid on every datagram). Emptied when full, so a
   * spray of spoofed sources only costs the check again. */
  private readonly trustedOf = new Map<string, boolean>();

  constructor(o: SourceGateOptions = {}) {
    this.requestsPerSecond = o.requestsPerSecond ?? sourceRequestsPerSecondDefault;
    this.burst = o.burst ?? sourceBurstDefault;
    this.rejectsPerSecond = o.rejectsPerSecond ?? sourceRejectsPerSecondDefault;
    this.rejectBurst = o.rejectBurst ?? sourceRejectBurstDefault;
    this.sourcesMax = o.sourcesMax ?? sourcesTrackedMax;
    assert(this.requestsPerSecond > 0 && this.burst >= 1, 'a source gate must let something through');
    assert(this.rejectsPerSecond >= 0 && this.rejectBurst >= 0 && this.sourcesMax >= 1, 'bad source gate limits');
    this.trustedList = parseTrustedSources(o.trusted ?? []);
    this.now = o.now ?? (() => performance.now());
  }

  /** True for a source that is never limited (rate, or TCP connections per source). */
  trusted(ip: string): boolean {
    const known = this.trustedOf.get(ip);
    if (known !== undefined) return known;
    const a = unmapped(ip);
    const yes = isIPv4(a) ? this.trustedList.check(a, 'ipv4') : isIPv6(a) ? this.trustedList.check(a, 'ipv6') : false;
    if (this.trustedOf.size >= this.sourcesMax) this.trustedOf.clear();
    this.trustedOf.set(ip, yes);
    return yes;
  }

  /** Counts one inbound message from `ip` and says what to do with it. */
  admit(ip: string): GateVerdict {
    if (this.trusted(ip)) return 'pass';
    const nowMs = this.now();
    let b = this.buckets.get(ip);
    if (b === undefined) {
      b = { tokens: this.burst, rejectTokens: this.rejectBurst, atMs: nowMs };
      while (this.buckets.size >= this.sourcesMax) this.buckets.delete(this.buckets.keys().next().value as string);
    } else {
      this.buckets.delete(ip);
      const elapsedS = Math.max(0, nowMs - b.atMs) / 1000;
      b.tokens = Math.min(this.burst, b.tokens + elapsedS * this.requestsPerSecond);
      b.rejectTokens = Math.min(this.rejectBurst, b.rejectTokens + elapsedS * this.rejectsPerSecond);
      b.atMs = nowMs;
    }
    this.buckets.set(ip, b);
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 'pass';
    }
    if (b.rejectTokens >= 1) {
      b.rejectTokens -= 1;
      return 'reject';
    }
    return 'drop';
  }

  /** Sources currently remembered (for tests and metrics). */
  get trackedCount(): number {
    return this.buckets.size;
  }
}

/** A BlockList of the trusted entries: an IPv4 or IPv6 address, a CIDR, or `loopback`
 * (127.0.0.0/8 and ::1). Throws an Error naming the first entry it cannot read. */
export function parseTrustedSources(entries: readonly string[]): BlockList {
  const list = new BlockList();
  for (const raw of entries) {
    const entry = raw.trim();
    if (entry === '') continue;
    if (entry === 'loopback') {
      list.addSubnet('127.0.0.0', 8, 'ipv4');
      list.addAddress('::1', 'ipv6');
      continue;
    }
    const [addr = '', bitsText, extra] = entry.split('/');
    const a = unmapped(addr);
    const family = isIPv4(a) ? 'ipv4' : isIPv6(a) ? 'ipv6' : null;
    const bits = bitsText === undefined ? null : Number(bitsText);
    const bitsMax = family === 'ipv4' ? 32 : 128;
    if (family === null || extra !== undefined || (bits !== null && !(Number.isInteger(bits) && bits >= 0 && bits <= bitsMax && /^\d+$/.test(bitsText!)))) {
      throw new Error(`trusted source ${JSON.stringify(entry)} is not an IP address, a CIDR or "loopback"`);
    }
    if (bits === null) list.addAddress(a, family);
    else list.addSubnet(a, bits, family);
  }
  return list;
}

/** `::ffff:192.0.2.1` (an IPv4 peer on a dual-stack socket) → `192.0.2.1`. */
function unmapped(ip: string): string {
  return ip.startsWith('::ffff:') && isIPv4(ip.slice(7)) ? ip.slice(7) : ip;
}
