// Failed-digest throttling (issue 18), at two scopes:
// - per (source IP, user): after `failuresMax` wrong passwords within `windowMs`, that
//   pair is locked out for `lockoutMs`: its REGISTERs get 403 "Too Many Failed Attempts"
//   without their response being checked, so a guesser learns nothing more, right or
//   wrong, until the lockout ends. Keyed by source as well as user so a guesser elsewhere
//   cannot lock a phone out of its own account.
// - per user, over every source: a guesser with many addresses (a botnet, or a /64 of
//   IPv6) gets `failuresMax - 1` tries from each. After `userFailuresMax` failures for one
//   user within `userWindowMs`, the user is guarded for `userGuardMs`: only the sources
//   that registered it successfully before may try; everyone else gets the same 403
//   unchecked. The agent's own phone, which has registered from its address, carries on;
//   a phone that moves to a new address during an attack waits for the guard to end.
//   (Fail2ban's recidive jail and Kamailio's pike + htable recipes work the same way.)
//
// Pure apart from the injected monotonic clock (a wall clock stepping must neither
// lift nor stretch a lockout): no timers. Both tables are bounded; the least recently
// touched entry is forgotten first. Each SIP node keeps its own tables, so a guesser
// spreading over N nodes gets N times the per-user budget.

import assert from 'node:assert';
import {
  digestFailureWindowMs,
  digestFailuresMax,
  digestKnownSourcesPerUserMax,
  digestLockoutMs,
  digestThrottleTrackedMax,
  digestUserFailureWindowMs,
  digestUserFailuresMax,
  digestUserGuardMs,
} from './limits.js';

export type DigestThrottleOptions = Readonly<{
  failuresMax?: number;
  windowMs?: number;
  lockoutMs?: number;
  trackedMax?: number;
  userFailuresMax?: number;
  userWindowMs?: number;
  userGuardMs?: number;
  knownSourcesPerUserMax?: number;
  /** Milliseconds, never decreasing (default performance.now). */
  now?: () => number;
}>;

type PairEntry = { failures: number; windowStartMs: number; lockedUntilMs: number };
type UserEntry = { failures: number; windowStartMs: number; guardedUntilMs: number; knownSources: string[] };

export class DigestThrottle {
  private readonly failuresMax: number;
  private readonly windowMs: number;
  private readonly lockoutMs: number;
  private readonly trackedMax: number;
  private readonly userFailuresMax: number;
  private readonly userWindowMs: number;
  private readonly userGuardMs: number;
  private readonly knownSourcesPerUserMax: number;
  private readonly pairs = new Map<string, PairEntry>();
  private readonly users = new Map<string, UserEntry>();
  private readonly now: () => number;

  constructor(o: DigestThrottleOptions = {}) {
    this.failuresMax = o.failuresMax ?? digestFailuresMax;
    this.windowMs = o.windowMs ?? digestFailureWindowMs;
    this.lockoutMs = o.lockoutMs ?? digestLockoutMs;
    this.trackedMax = o.trackedMax ?? digestThrottleTrackedMax;
    this.userFailuresMax = o.userFailuresMax ?? digestUserFailuresMax;
    this.userWindowMs = o.userWindowMs ?? digestUserFailureWindowMs;
    this.userGuardMs = o.userGuardMs ?? digestUserGuardMs;
    this.knownSourcesPerUserMax = o.knownSourcesPerUserMax ?? digestKnownSourcesPerUserMax;
    this.now = o.now ?? (() => performance.now());
    assert(this.failuresMax >= 1 && this.windowMs > 0 && this.lockoutMs >= 0 && this.trackedMax >= 1, 'bad digest throttle limits');
    assert(this.userFailuresMax >= 1 && this.userWindowMs > 0 && this.userGuardMs >= 0 && this.knownSourcesPerUserMax >= 0, 'bad per-user digest throttle limits');
  }

  /** Milliseconds before this source may try this user again, 0 when it may try now. */
  lockedForMs(source: string, user: string): number {
    const nowMs = this.now();
    const pair = this.pairs.get(keyOf(source, user));
    const pairMs = pair === undefined ? 0 : Math.max(0, pair.lockedUntilMs - nowMs);
    const u = this.users.get(user);
    const guardMs = u === undefined || u.knownSources.includes(source) ? 0 : Math.max(0, u.guardedUntilMs - nowMs);
    return Math.max(pairMs, guardMs);
  }

  /** Whether this user is guarded now (for logs and metrics). */
  guarded(user: string): boolean {
    const u = this.users.get(user);
    return u !== undefined && u.guardedUntilMs > this.now();
  }

  /** Counts one wrong password: towards the pair's lockout and the user's guard. */
  failed(source: string, user: string): void {
    const nowMs = this.now();
    const key = keyOf(source, user);
    let e = this.pairs.get(key);
    this.pairs.delete(key);
    if (e === undefined || nowMs - e.windowStartMs > this.windowMs) e = { failures: 0, windowStartMs: nowMs, lockedUntilMs: e?.lockedUntilMs ?? 0 };
    e.failures++;
    if (e.failures >= this.failuresMax) {
      e.lockedUntilMs = nowMs + this.lockoutMs;
      e.failures = 0;
      e.windowStartMs = nowMs;
    }
    this.pairs.set(key, e);
    bound(this.pairs, this.trackedMax);

    const u = this.touchUser(user);
    if (nowMs - u.windowStartMs > this.userWindowMs) {
      u.failures = 0;
      u.windowStartMs = nowMs;
    }
    u.failures++;
    if (u.failures >= this.userFailuresMax) {
      u.guardedUntilMs = nowMs + this.userGuardMs;
      u.failures = 0;
      u.windowStartMs = nowMs;
    }
  }

  /** A right password clears the pair's count and makes the source known for the user. */
  succeeded(source: string, user: string): void {
    this.pairs.delete(keyOf(source, user));
    if (this.knownSourcesPerUserMax === 0) return;
    const u = this.touchUser(user);
    u.knownSources = [...u.knownSources.filter((s) => s !== source), source].slice(-this.knownSourcesPerUserMax);
  }

  get trackedCount(): number {
    return this.pairs.size;
  }

  get trackedUsers(): number {
    return this.users.size;
  }

  private touchUser(user: string): UserEntry {
    const u = this.users.get(user) ?? { failures: 0, windowStartMs: this.now(), guardedUntilMs: 0, knownSources: [] };
    this.users.delete(user);
    this.users.set(user, u);
    bound(this.users, this.trackedMax);
    return u;
  }
}

/** Forgets the least recently touched entries (Map keeps insertion order; a touch re-inserts). */
function bound<V>(m: Map<string, V>, max: number): void {
  while (m.size > max) m.delete(m.keys().next().value as string);
}

const keyOf = (source: string, user: string): string => `${source}\n${user}`;
