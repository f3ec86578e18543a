// Service-level figures of this node's calls, per service, made from the B2BUA's call
// events (events.ts). Definitions (README "Service-level figures"):
//   offered          calls that arrived for the service (an INVITE accepted for routing)
//   answered         calls an agent answered
//   abandoned        calls the caller hung up (CANCEL, or BYE in the early dialog) before
//                    an answer; abandonedQueued: those of them that were waiting in the queue
//   answeredWithinSl answered within the service's serviceLevelMs of arriving
//   asaMs            average speed of answer: mean of arrival → answer (the caller's INVITE
//                    to the agent's 200, monotonic clock) over the calls answered
//   longestWaitMs    the longest arrival → answer or → abandon among the calls of the window
//   waitingNow, longestWaitingNowMs  the calls of the service still unanswered on this node
//                    now, and how long the oldest of them has waited (not windowed)
// Window: since the node started (exact counters), or `since` a wall-clock time, counted
// from a bounded ring of the latest records; `complete` is false when the ring no longer
// reaches back that far. A call counts in the window by the time of the event (its
// arrival, answer or abandonment). Pure: clocks are given.

import type { CallEvent, CallEventSink } from './events.js';

/** Outcome records kept for `since` queries (about 50 bytes each). */
export const serviceStatsRecordsMax = 100_000;

export type ServiceFigures = {
  offered: number;
  answered: number;
  abandoned: number;
  abandonedQueued: number;
  answeredWithinSl: number;
  /** Sum of arrival → answer over `answered` (asaMs = waitSumMs / answered). */
  answerWaitSumMs: number;
  asaMs: number | null;
  longestWaitMs: number;
  waitingNow: number;
  longestWaitingNowMs: number;
};

type Kind = 'offered' | 'answered' | 'abandoned';
type Rec = { atMs: number; service: string; kind: Kind; waitMs: number; withinSl: boolean; queued: boolean };

export function emptyFigures(): ServiceFigures {
  return { offered: 0, answered: 0, abandoned: 0, abandonedQueued: 0, answeredWithinSl: 0, answerWaitSumMs: 0, asaMs: null, longestWaitMs: 0, waitingNow: 0, longestWaitingNowMs: 0 };
}

/** Adds `b` into `a` (a cluster figure is the sum over its nodes; longest waits the max). */
export function addFigures(a: ServiceFigures, b: ServiceFigures): ServiceFigures {
  const answered = a.answered + b.answered;
  const answerWaitSumMs = a.answerWaitSumMs + b.answerWaitSumMs;
  return {
    offered: a.offered + b.offered,
    answered,
    abandoned: a.abandoned + b.abandoned,
    abandonedQueued: a.abandonedQueued + b.abandonedQueued,
    answeredWithinSl: a.answeredWithinSl + b.answeredWithinSl,
    answerWaitSumMs,
    asaMs: answered === 0 ? null : Math.round(answerWaitSumMs / answered),
    longestWaitMs: Math.max(a.longestWaitMs, b.longestWaitMs),
    waitingNow: a.waitingNow + b.waitingNow,
    longestWaitingNowMs: Math.max(a.longestWaitingNowMs, b.longestWaitingNowMs),
  };
}

export class ServiceStats implements CallEventSink {
  readonly startedAtMs: number;
  readonly #totals = new Map<string, ServiceFigures>();
  readonly #ring: Rec[] = [];
  #ringHead = 0;
  /** Wall time of the newest record the ring dropped (−∞: none dropped yet). */
  #droppedUpToMs = -Infinity;
  /** Unanswered calls: callId → service and monotonic arrival time. */
  readonly #waiting = new Map<string, { service: string; sinceMs: number }>();

  constructor(private readonly o: { now: () => number; monotonicNow: () => number; recordsMax?: number }) {
    this.startedAtMs = o.now();
  }

  call(ev: CallEvent): void {
    switch (ev.type) {
      case 'call.arrived':
        this.#waiting.set(ev.callId, { service: ev.service, sinceMs: this.o.monotonicNow() });
        return this.#record({ service: ev.service, kind: 'offered', waitMs: 0, withinSl: false, queued: false });
      case 'call.answered':
        this.#waiting.delete(ev.callId);
        return this.#record({ service: ev.service, kind: 'answered', waitMs: ev.waitMs ?? 0, withinSl: ev.withinServiceLevel === true, queued: false });
      case 'call.abandoned':
        this.#waiting.delete(ev.callId);
        return this.#record({ service: ev.service, kind: 'abandoned', waitMs: ev.waitMs ?? 0, withinSl: false, queued: ev.whileQueued === true });
      case 'call.ended':
        this.#waiting.delete(ev.callId);
        return;
      default:
        return;
    }
  }

  /** The services with any figure on this node. */
  services(): string[] {
    return [...new Set([...this.#totals.keys(), ...[...this.#waiting.values()].map((w) => w.service)])];
  }

  /** Since the node started (sinceMs absent), or since a wall-clock time. */
  figures(service: string, sinceMs?: number): { figures: ServiceFigures; complete: boolean } {
    let f: ServiceFigures;
    let complete = true;
    if (sinceMs === undefined || (sinceMs <= this.startedAtMs && this.#droppedUpToMs === -Infinity)) {
      f = { ...(this.#totals.get(service) ?? emptyFigures()) };
    } else {
      f = emptyFigures();
      complete = sinceMs > this.#droppedUpToMs;
      for (const r of this.#ring) if (r.service === service && r.atMs >= sinceMs) add(f, r);
    }
    f.asaMs = f.answered === 0 ? null : Math.round(f.answerWaitSumMs / f.answered);
    const now = this.o.monotonicNow();
    f.waitingNow = 0;
    f.longestWaitingNowMs = 0;
    for (const w of this.#waiting.values()) {
      if (w.service !== service) continue;
      f.waitingNow++;
      f.longestWaitingNowMs = Math.max(f.longestWaitingNowMs, Math.round(now - w.sinceMs));
    }
    return { figures: f, complete };
  }

  #record(r: Omit<Rec, 'atMs'>): void {
    const rec: Rec = { ...r, atMs: this.o.now() };
    let t = this.#totals.get(rec.service);
    if (t === undefined) this.#totals.set(rec.service, (t = emptyFigures()));
    add(t, rec);
    const max = this.o.recordsMax ?? serviceStatsRecordsMax;
    if (this.#ring.length < max) this.#ring.push(rec);
    else {
      this.#droppedUpToMs = this.#ring[this.#ringHead]!.atMs;
      this.#ring[this.#ringHead] = rec;
      this.#ringHead = (this.#ringHead + 1) % max;
    }
  }
}

function add(f: ServiceFigures, r: Rec): void {
  if (r.kind === 'offered') f.offered++;
  else if (r.kind === 'answered') {
    f.answered++;
    f.answerWaitSumMs += r.waitMs;
    if (r.withinSl) f.answeredWithinSl++;
    f.longestWaitMs = Math.max(f.longestWaitMs, r.waitMs);
  } else {
    f.abandoned++;
    if (r.queued) f.abandonedQueued++;
    f.longestWaitMs = Math.max(f.longestWaitMs, r.waitMs);
  }
}
