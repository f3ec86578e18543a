// The dialogs the B2BUA is a party to, by Call-ID and our tag: live legs point at their
// call; a leg that is over stays recognised for a while (an EndedLeg, holding no call) so
// that a late BYE still gets its 200 and anything else its 481, and is then forgotten.
// Time comes from the injected TimerService; forgetEnded() is called by the owner's sweep.

import assert from 'node:assert';
import type { TimerService } from '../transport/index.js';
import type { Call } from './call.js';
import type { DialogLeg } from './dialog.js';
import { endedLegsCompactCountMin } from './limits.js';

export type LegSide = 'caller' | 'agent';

/** A dialog we are a party to. `leg` tells an agent leg of the current attempt from one of
 * an earlier attempt of the same call (which is over even if the call is not). */
export type LegRef = Readonly<{ call: Call; side: LegSide; leg: DialogLeg }>;

/** A leg that is over, remembered for endedLegKeepMs so a late BYE still gets its 200
 * and anything else its 481. It holds no call: at 300 calls/s the ended calls that the
 * old 32 s entries kept alive were 11,000 calls and a good part of a 200 MB heap. */
export type EndedLeg = Readonly<{ ended: true; side: LegSide }>;

export function dialogKey(callId: string, localTag: string): string {
  return `${callId}\n${localTag}`;
}

export function legKey(leg: DialogLeg): string {
  return dialogKey(leg.callId, leg.localTag);
}

export class DialogTable {
  private readonly dialogs = new Map<string, LegRef | EndedLeg>();
  /** Ended legs in the order they ended (all wait alike, so the oldest is first). */
  private readonly endedLegs: { key: string; leg: EndedLeg; forgetAtMs: number }[] = [];
  private endedLegsHead = 0;

  constructor(private readonly o: Readonly<{ timers: TimerService; endedLegKeepMs: number }>) {
    assert(o.endedLegKeepMs >= 0, `bad endedLegKeepMs ${o.endedLegKeepMs}`);
  }

  get size(): number {
    return this.dialogs.size;
  }

  get(key: string): LegRef | EndedLeg | undefined {
    return this.dialogs.get(key);
  }

  /** Registers a new live leg. Our tags are fresh for every leg, so a key met twice is a
   * bug (two calls would share one dialog). */
  add(ref: LegRef): void {
    const key = legKey(ref.leg);
    assert(!this.dialogs.has(key), `dialog ${JSON.stringify(key)} registered twice`);
    this.dialogs.set(key, ref);
  }

  /** Replaces a live leg with an EndedLeg, forgotten after endedLegKeepMs. */
  end(key: string, side: LegSide): void {
    if (!this.dialogs.has(key)) return;
    const leg: EndedLeg = { ended: true, side };
    this.dialogs.set(key, leg);
    this.endedLegs.push({ key, leg, forgetAtMs: this.o.timers.now() + this.o.endedLegKeepMs });
  }

  /** Forgets the ended legs that have been kept long enough. */
  forgetEnded(): void {
    const now = this.o.timers.now();
    const q = this.endedLegs;
    while (this.endedLegsHead < q.length && q[this.endedLegsHead]!.forgetAtMs <= now) {
      const { key, leg } = q[this.endedLegsHead++]!;
      if (this.dialogs.get(key) === leg) this.dialogs.delete(key);
    }
    // Drop the consumed head in one splice once it is most of the array.
    if (this.endedLegsHead > endedLegsCompactCountMin && this.endedLegsHead * 2 > q.length) {
      q.splice(0, this.endedLegsHead);
      this.endedLegsHead = 0;
    }
  }
}

export function isEnded(ref: LegRef | EndedLeg): ref is EndedLeg {
  return 'ended' in ref;
}
