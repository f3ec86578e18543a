// Client sessions for exactly-once commands (Ongaro's thesis §6.3). A client opens a
// session (the shard names it after the opening entry's index, so an id is never reused),
// numbers its requests, and says which answers it has received (`ackedSeq`). The shard
// keeps each unacknowledged result: a retried request gets the first result back and is
// never applied twice. The table is bounded: a full table evicts the least recently active
// session (ties by id), and sessions idle past sessionIdleMsMax go at the next tick. A
// request from a session no longer here, or below its acknowledged window, gets
// SHARD_ERR_SESSION_EXPIRED: its result is gone, so it can be neither re-run nor answered.
// Everything is driven by entry time, so every replica evicts the same sessions.

import assert from 'node:assert';
import { shardFailure } from './errors.js';
import * as limits from './limits.js';
import type { SessionRef, ShardResult } from './types.js';

type Session = { lastActiveMs: number; ackedSeq: number; results: Map<number, ShardResult> };

export type SessionLimits = Readonly<{ sessionsMax: number; sessionResultsMax: number; sessionIdleMsMax: number }>;

export const defaultSessionLimits: SessionLimits = {
  sessionsMax: limits.sessionsMax,
  sessionResultsMax: limits.sessionResultsMax,
  sessionIdleMsMax: limits.sessionIdleMsMax,
};

/** Snapshot form: [clientId, lastActiveMs, ackedSeq, [[seq, result], ...]] sorted by id and seq. */
export type SessionsData = readonly (readonly [string, number, number, readonly (readonly [number, ShardResult])[]])[];

/** What to do with a request: run it (then `remember` its result), or answer at once. */
export type SessionVerdict = Readonly<{ run: true }> | Readonly<{ run: false; result: ShardResult }>;

export class SessionTable {
  readonly #limits: SessionLimits;
  #sessions = new Map<string, Session>();

  constructor(sessionLimits: SessionLimits = defaultSessionLimits) {
    assert(sessionLimits.sessionsMax >= 1 && sessionLimits.sessionResultsMax >= 1);
    this.#limits = sessionLimits;
  }

  get size(): number {
    return this.#sessions.size;
  }

  has(clientId: string): boolean {
    return this.#sessions.has(clientId);
  }

  /** Opens a session, evicting the least recently active ones if the table is full. */
  open(clientId: string, nowMs: number): void {
    assert(!this.#sessions.has(clientId), `session ${clientId} opened twice`);
    while (this.#sessions.size >= this.#limits.sessionsMax) this.#evictOldest();
    this.#sessions.set(clientId, { lastActiveMs: nowMs, ackedSeq: 0, results: new Map() });
  }

  /** Marks activity, forgets acknowledged results, and decides whether the request runs. */
  check(ref: SessionRef, nowMs: number): SessionVerdict {
    const session = this.#sessions.get(ref.clientId);
    if (!session) {
      return { run: false, result: shardFailure('SHARD_ERR_SESSION_EXPIRED', `no session ${ref.clientId} (never opened or evicted)`) };
    }
    session.lastActiveMs = nowMs;
    if (ref.ackedSeq > session.ackedSeq) {
      session.ackedSeq = ref.ackedSeq;
      for (const seq of session.results.keys()) if (seq <= ref.ackedSeq) session.results.delete(seq);
    }
    const cached = session.results.get(ref.requestSeq);
    if (cached) return { run: false, result: cached };
    if (ref.requestSeq <= session.ackedSeq) {
      const reason = `request ${ref.requestSeq} is at or below acknowledged ${session.ackedSeq}; its result was discarded`;
      return { run: false, result: shardFailure('SHARD_ERR_SESSION_EXPIRED', reason) };
    }
    if (session.results.size >= this.#limits.sessionResultsMax) {
      const reason = `session ${ref.clientId} has ${session.results.size} unacknowledged results`;
      return { run: false, result: shardFailure('SHARD_ERR_TOO_MANY_PENDING', reason) };
    }
    return { run: true };
  }

  /** Stores the result of a request that `check` allowed to run. */
  remember(ref: SessionRef, result: ShardResult): void {
    const session = this.#sessions.get(ref.clientId);
    assert(session && !session.results.has(ref.requestSeq), 'remember() without a matching check()');
    session.results.set(ref.requestSeq, result);
  }

  /** Drops sessions idle longer than sessionIdleMsMax; returns how many. */
  dropIdle(nowMs: number): number {
    let dropped = 0;
    for (const [clientId, session] of this.#sessions) {
      if (nowMs - session.lastActiveMs > this.#limits.sessionIdleMsMax) {
        this.#sessions.delete(clientId);
        dropped += 1;
      }
    }
    return dropped;
  }

  #evictOldest(): void {
    let oldest: [string, number] | null = null;
    for (const [clientId, session] of this.#sessions) {
      const older =
        oldest === null ||
        session.lastActiveMs < oldest[1] ||
        (session.lastActiveMs === oldest[1] && clientId < oldest[0]);
      if (older) oldest = [clientId, session.lastActiveMs];
    }
    assert(oldest !== null);
    this.#sessions.delete(oldest[0]);
  }

  toData(): SessionsData {
    return [...this.#sessions.keys()].sort().map((clientId) => {
      const s = this.#sessions.get(clientId)!;
      const results = [...s.results.entries()].sort((a, b) => a[0] - b[0]);
      return [clientId, s.lastActiveMs, s.ackedSeq, results] as const;
    });
  }

  static fromData(data: SessionsData, sessionLimits: SessionLimits = defaultSessionLimits): SessionTable {
    assert(Array.isArray(data), 'sessions must be an array');
    const table = new SessionTable(sessionLimits);
    for (const [clientId, lastActiveMs, ackedSeq, results] of data) {
      assert(typeof clientId === 'string' && Number.isFinite(lastActiveMs) && Number.isSafeInteger(ackedSeq));
      table.#sessions.set(clientId, { lastActiveMs, ackedSeq, results: new Map(results) });
    }
    return table;
  }
}
