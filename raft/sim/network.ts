// The simulated network between stores (or nodes): each packet — a store's coalesced
// frame, or a single message in the parts tests — is lost, delayed, duplicated (and so
// reordered) according to the run's profile, and links can be cut one way or both ways.
// A cut link drops what is sent on it and what was in flight when it was cut. A lost or
// delayed frame loses or delays every group's messages in it together.

import type { NodeId } from '../types.js';
import type { Prng } from './prng.js';
import type { Scheduler } from './scheduler.js';
import { messagesInFlightMax } from './limits.js';

export type NetworkProfile = Readonly<{
  lossP: number;
  duplicateP: number;
  delayMsMin: number;
  delayMsMax: number;
  /** Chance that one message takes a long detour (up to 4× delayMsMax): reordering. */
  slowP: number;
}>;

export type NetworkStats = { sent: number; delivered: number; dropped: number; duplicated: number };

/** Anything addressed from one endpoint to another. */
export type Packet = Readonly<{ from: NodeId; to: NodeId }>;

export class Network<P extends Packet = Packet> {
  private readonly cut = new Set<string>();
  private inFlight = 0;
  readonly stats: NetworkStats = { sent: 0, delivered: 0, dropped: 0, duplicated: 0 };

  constructor(
    private readonly sched: Scheduler,
    private readonly prng: Prng,
    public profile: NetworkProfile,
    private readonly deliver: (m: P) => void,
  ) {}

  send(m: P): void {
    this.stats.sent++;
    if (this.isCut(m.from, m.to) || this.prng.chance(this.profile.lossP) || this.inFlight >= messagesInFlightMax) {
      this.stats.dropped++;
      return;
    }
    this.schedule(m);
    if (this.prng.chance(this.profile.duplicateP)) {
      this.stats.duplicated++;
      this.schedule(m);
    }
  }

  private schedule(m: P): void {
    const p = this.profile;
    let delayMs = p.delayMsMin + this.prng.next() * (p.delayMsMax - p.delayMsMin);
    if (this.prng.chance(p.slowP)) delayMs += this.prng.next() * 3 * p.delayMsMax;
    this.inFlight++;
    this.sched.after(delayMs, () => {
      this.inFlight--;
      if (this.isCut(m.from, m.to)) {
        this.stats.dropped++;
        return;
      }
      this.stats.delivered++;
      this.deliver(m);
    });
  }

  isCut(from: NodeId, to: NodeId): boolean {
    return this.cut.size > 0 && this.cut.has(from + '>' + to);
  }

  cutLink(from: NodeId, to: NodeId): void {
    this.cut.add(from + '>' + to);
  }

  /** Both directions between every node of `side` and every node outside it. */
  isolate(side: readonly NodeId[], all: readonly NodeId[]): void {
    for (const a of side) {
      for (const b of all) {
        if (side.includes(b)) continue;
        this.cutLink(a, b);
        this.cutLink(b, a);
      }
    }
  }

  heal(): void {
    this.cut.clear();
  }

  /** The storm is over: no loss, no duplicates, no detours, delays of a quiet LAN.
   * Liveness is judged under these; safety was judged under the storm's. */
  calm(delayMsMax: number): void {
    const max = Math.min(this.profile.delayMsMax, delayMsMax);
    this.profile = { lossP: 0, duplicateP: 0, slowP: 0, delayMsMin: Math.min(this.profile.delayMsMin, max), delayMsMax: max };
  }

  describeCuts(): string {
    return [...this.cut].sort().join(',');
  }
}
