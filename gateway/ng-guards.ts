// Bounds the ng control server keeps per source and per cookie. Pure: time comes in.
//
// SourceBounds: per source address, a token bucket of commands per second and a count of
// commands running, so that one sender (a broken or compromised node) cannot take the
// whole server. Sources are forgotten least-recently-seen first beyond a ceiling; a
// source with commands running is never forgotten (its count must come back to zero).
//
// SeenCookies: cookies of authenticated commands that were run, each kept until its
// auth-ts leaves the freshness window. A replay inside the window is caught here even if
// its reply has left the reply cache; one outside it is refused by the clock check.

import assert from 'node:assert';
import { ngAuthTimestampSkewMsMax, ngCommandBurstPerSourceMax, ngCommandRatePerSourceMax, ngCommandsInFlightPerSourceMax, ngSeenCookiesMax, ngSourcesTrackedMax } from './limits.js';

type Source = { tokens: number; refilledMs: number; running: number };

export type Admission = 'ok' | 'rate-limited' | 'busy';

export class SourceBounds {
  private readonly sources = new Map<string, Source>();
  constructor(
    private readonly ratePerSecond = ngCommandRatePerSourceMax,
    private readonly burst = ngCommandBurstPerSourceMax,
    private readonly runningMax = ngCommandsInFlightPerSourceMax,
    private readonly sourcesMax = ngSourcesTrackedMax,
  ) {
    assert(ratePerSecond > 0 && burst >= 1 && runningMax >= 1 && sourcesMax >= 1);
  }

  /** Takes a token and a running slot for one command from `source`, or says why not. */
  admit(source: string, nowMs: number): Admission {
    const s = this.touch(source, nowMs);
    s.tokens = Math.min(this.burst, s.tokens + ((nowMs - s.refilledMs) * this.ratePerSecond) / 1000);
    s.refilledMs = nowMs;
    if (s.tokens < 1) return 'rate-limited';
    if (s.running >= this.runningMax) return 'busy';
    s.tokens -= 1;
    s.running++;
    return 'ok';
  }

  /** The command admitted for `source` finished. */
  done(source: string): void {
    const s = this.sources.get(source);
    assert(s !== undefined && s.running > 0, 'done() without a matching admit()');
    s.running--;
  }

  get size(): number {
    return this.sources.size;
  }

  private touch(source: string, nowMs: number): Source {
    let s = this.sources.get(source);
    if (s !== undefined) {
      this.sources.delete(source); // re-insert: Map order is recency order
    } else {
      s = { tokens: this.burst, refilledMs: nowMs, running: 0 };
      this.evict();
    }
    this.sources.set(source, s);
    return s;
  }

  private evict(): void {
    if (this.sources.size < this.sourcesMax) return;
    for (const [k, v] of this.sources) {
      if (v.running === 0) {
        this.sources.delete(k);
        return;
      }
    }
    // Every tracked source has a command running: at most ngCommandsInFlightMax of them,
    // so the map overshoots its ceiling by a bounded amount.
  }
}

export class SeenCookies {
  private readonly expiry = new Map<string, number>();
  constructor(
    private readonly entriesMax = ngSeenCookiesMax,
    private readonly windowMs = ngAuthTimestampSkewMsMax,
  ) {}

  has(cookie: string, nowMs: number): boolean {
    const e = this.expiry.get(cookie);
    return e !== undefined && e >= nowMs;
  }

  /** Remembers a cookie whose command carried `stampMs`; false when full of live entries
   * (the caller refuses the command rather than forget one that could be replayed). */
  add(cookie: string, stampMs: number, nowMs: number): boolean {
    this.prune(nowMs);
    if (this.expiry.size >= this.entriesMax) return false;
    this.expiry.set(cookie, stampMs + this.windowMs);
    return true;
  }

  get size(): number {
    return this.expiry.size;
  }

  /** Drops expired entries from the oldest end. Entries arrive roughly in stamp order,
   * so this stops at the first live one; a straggler is dropped on a later call. */
  private prune(nowMs: number): void {
    for (const [k, e] of this.expiry) {
      if (e >= nowMs) return;
      this.expiry.delete(k);
    }
  }
}
