// The transitions of one agent, as pure functions of (agent, command, time, index). The
// state machine settles the agent's timers first (settle), then runs one op. An op returns
// the new agent (or null: deprovisioned) with its result, or a typed failure that leaves
// the agent untouched. Time is always the entry's time; nothing here reads a clock.
//
// State rules (DESIGN.md, shards/):
//   login: LOGGED_OUT → NOT_READY('login'). ready: NOT_READY | WRAP_UP → READY.
//   notReady: READY | NOT_READY | WRAP_UP → NOT_READY(reason). logout: any but
//   RESERVED | BUSY → LOGGED_OUT. reserve: READY → RESERVED, else denied by state.
//   confirm: RESERVED → BUSY. release after a call (BUSY) → WRAP_UP for wrapUpMs, then
//   READY at wrapUpEndsMs. A reservation that ends without a call (RESERVED) goes READY at
//   once, keeping the agent's place in the longest-idle order — except 'rejected' (back of
//   the order, a missed offer) and 'no-answer', which
//   counts a missed offer, puts the agent at the back (readySinceMs = now), and at
//   maxNoAnswer consecutive misses makes it NOT_READY('max-no-answer'). expire: like a
//   release without a call, only once the TTL has run out and only while unanswered.

import { shardFailure, type ShardFailure, type ShardStateErrorCode } from './errors.js';
import * as limits from './limits.js';
import type { Agent, AgentStatus, Command, ContactBinding, DenyReason, ReleaseOutcome, Reservation, ShardSuccess } from './types.js';

export type OpResult = Readonly<{ agent: Agent | null; result: ShardSuccess; changed: boolean }> | ShardFailure;

type AgentCommand<T extends Command['type']> = Extract<Command, { type: T }>;

const stateErrors: Readonly<Record<AgentStatus['state'], ShardStateErrorCode>> = {
  LOGGED_OUT: 'SHARD_ERR_AGENT_LOGGED_OUT',
  NOT_READY: 'SHARD_ERR_AGENT_NOT_READY',
  READY: 'SHARD_ERR_AGENT_NOT_READY', // never used as an error: READY is what ops want
  RESERVED: 'SHARD_ERR_AGENT_RESERVED',
  BUSY: 'SHARD_ERR_AGENT_BUSY',
  WRAP_UP: 'SHARD_ERR_AGENT_WRAP_UP',
};

/** The reserve denial reason a router acts on, from a failure code (null: not a denial). */
export function denyReasonOf(code: ShardStateErrorCode): DenyReason | null {
  const reasons: Partial<Record<ShardStateErrorCode, DenyReason>> = {
    SHARD_ERR_UNKNOWN_DN: 'UNKNOWN_DN',
    SHARD_ERR_AGENT_LOGGED_OUT: 'LOGGED_OUT',
    SHARD_ERR_AGENT_NOT_READY: 'NOT_READY',
    SHARD_ERR_AGENT_RESERVED: 'RESERVED',
    SHARD_ERR_AGENT_BUSY: 'BUSY',
    SHARD_ERR_AGENT_WRAP_UP: 'WRAP_UP',
  };
  return reasons[code] ?? null;
}

function stateFailure(agent: Agent, action: string): ShardFailure {
  return shardFailure(stateErrors[agent.status.state], `agent ${agent.dn} is ${agent.status.state}; cannot ${action}`);
}

function changedAgent(agent: Agent, patch: Partial<Agent>, index: number): OpResult {
  const next: Agent = { ...agent, ...patch, version: index };
  return { agent: next, result: { ok: true, type: 'agent', agent: next }, changed: true };
}

function unchanged(agent: Agent): OpResult {
  return { agent, result: { ok: true, type: 'agent', agent }, changed: false };
}

/** Applies timers due at `nowMs`: WRAP_UP ends (READY since the wrap-up end), expired
 * contact bindings go. Returns the kinds of change made (empty: agent returned as is). */
export function settle(agent: Agent, nowMs: number, index: number): { agent: Agent; kinds: ('wrapUpEnded' | 'contactsExpired')[] } {
  const kinds: ('wrapUpEnded' | 'contactsExpired')[] = [];
  let next = agent;
  if (next.status.state === 'WRAP_UP' && nowMs >= next.status.wrapUpEndsMs) {
    next = { ...next, status: { state: 'READY', readySinceMs: next.status.wrapUpEndsMs }, version: index };
    kinds.push('wrapUpEnded');
  }
  const live = next.contacts.filter((c) => c.expiresAtMs > nowMs);
  if (live.length !== next.contacts.length) {
    next = { ...next, contacts: live, version: index };
    kinds.push('contactsExpired');
  }
  return { agent: next, kinds };
}

export function provision(agent: Agent | null, c: AgentCommand<'provision'>, index: number): OpResult {
  const profile = { name: c.name, skills: c.skills, wrapUpMs: c.wrapUpMs, maxNoAnswer: c.maxNoAnswer, credentials: c.credentials };
  if (agent) return changedAgent(agent, profile, index);
  const created: Agent = {
    dn: c.dn,
    ...profile,
    status: { state: 'LOGGED_OUT' },
    contacts: [],
    counters: { callsAnswered: 0, talkTimeMs: 0, missedOffers: 0, consecutiveNoAnswers: 0, lastCallEndMs: null },
    version: index,
  };
  return { agent: created, result: { ok: true, type: 'agent', agent: created }, changed: true };
}

export function deprovision(agent: Agent): OpResult {
  if (agent.status.state === 'RESERVED' || agent.status.state === 'BUSY') return stateFailure(agent, 'deprovision');
  return { agent: null, result: { ok: true, type: 'deprovisioned', dn: agent.dn }, changed: true };
}

export function login(agent: Agent, index: number): OpResult {
  if (agent.status.state !== 'LOGGED_OUT') return unchanged(agent);
  return changedAgent(agent, { status: { state: 'NOT_READY', reason: 'login' } }, index);
}

export function ready(agent: Agent, nowMs: number, index: number): OpResult {
  const { state } = agent.status;
  if (state === 'READY') return unchanged(agent);
  if (state !== 'NOT_READY' && state !== 'WRAP_UP') return stateFailure(agent, 'go READY');
  const counters = { ...agent.counters, consecutiveNoAnswers: 0 };
  return changedAgent(agent, { status: { state: 'READY', readySinceMs: nowMs }, counters }, index);
}

export function notReady(agent: Agent, reason: string, index: number): OpResult {
  const { status } = agent;
  if (status.state === 'NOT_READY' && status.reason === reason) return unchanged(agent);
  if (status.state !== 'READY' && status.state !== 'NOT_READY' && status.state !== 'WRAP_UP') {
    return stateFailure(agent, 'go NOT_READY');
  }
  return changedAgent(agent, { status: { state: 'NOT_READY', reason } }, index);
}

export function logout(agent: Agent, index: number): OpResult {
  const { state } = agent.status;
  if (state === 'LOGGED_OUT') return unchanged(agent);
  if (state === 'RESERVED' || state === 'BUSY') return stateFailure(agent, 'log out');
  return changedAgent(agent, { status: { state: 'LOGGED_OUT' } }, index);
}

/** Contacts are kept sorted by preference (q descending), then URI, so the order is the
 * same on every replica and the first is the one to ring. */
function sortContacts(contacts: ContactBinding[]): ContactBinding[] {
  return contacts.sort((a, b) => b.q - a.q || (a.uri < b.uri ? -1 : a.uri > b.uri ? 1 : 0));
}

export function register(agent: Agent, c: AgentCommand<'register'>, nowMs: number, index: number): OpResult {
  const existing = agent.contacts.find((b) => b.uri === c.uri);
  if (existing && existing.callId === c.callId && c.cseq <= existing.cseq) {
    return shardFailure('SHARD_ERR_STALE_REGISTRATION', `CSeq ${c.cseq} is not above ${existing.cseq} for ${c.uri}`);
  }
  const others = agent.contacts.filter((b) => b.uri !== c.uri);
  if (c.expiresMs === 0) return existing ? changedAgent(agent, { contacts: others }, index) : unchanged(agent);
  if (!existing && others.length >= limits.contactsPerAgentMax) {
    return shardFailure('SHARD_ERR_LIMIT', `agent ${agent.dn} already has ${limits.contactsPerAgentMax} contacts`);
  }
  // `received` only when set: a binding without it is the same bytes as before it existed.
  const binding: ContactBinding = {
    uri: c.uri, expiresAtMs: nowMs + c.expiresMs, q: c.q, callId: c.callId, cseq: c.cseq,
    ...(c.received !== undefined && c.received !== null ? { received: c.received } : {}),
  };
  return changedAgent(agent, { contacts: sortContacts([...others, binding]) }, index);
}

export function unregister(agent: Agent, uri: string | null, index: number): OpResult {
  const kept = uri === null ? [] : agent.contacts.filter((b) => b.uri !== uri);
  if (kept.length === agent.contacts.length) return unchanged(agent);
  return changedAgent(agent, { contacts: kept }, index);
}

export function reserve(agent: Agent, c: AgentCommand<'reserve'>, nowMs: number, index: number): OpResult {
  const { status } = agent;
  if (status.state !== 'READY') return stateFailure(agent, 'be reserved');
  const base = { reservationId: c.reservationId, callId: c.callId, owner: c.owner, grantedAtMs: nowMs, expiresAtMs: nowMs + c.ttlMs };
  // Only stored when set, so grants without a hold keep their old shape (and snapshot bytes).
  const held: Reservation = c.orphanHoldMs !== undefined && c.orphanHoldMs > 0 ? { ...base, orphanHoldMs: c.orphanHoldMs } : base;
  const reservation: Reservation = c.wrapUpMs !== undefined && c.wrapUpMs !== null ? { ...held, wrapUpMs: c.wrapUpMs } : held;
  const next: Agent = { ...agent, status: { state: 'RESERVED', reservation, readySinceMs: status.readySinceMs }, version: index };
  return { agent: next, result: { ok: true, type: 'reserved', agent: next, reservation }, changed: true };
}

function heldReservationId(agent: Agent): string | null {
  const { status } = agent;
  return status.state === 'RESERVED' || status.state === 'BUSY' ? status.reservation.reservationId : null;
}

function staleFailure(agent: Agent, reservationId: string): ShardFailure {
  const held = heldReservationId(agent);
  const holding = held === null ? `holds no reservation (${agent.status.state})` : `holds ${held}`;
  return shardFailure('SHARD_ERR_STALE_RESERVATION', `agent ${agent.dn} ${holding}, not ${reservationId}`);
}

export function confirm(agent: Agent, reservationId: string, nowMs: number, index: number): OpResult {
  const { status } = agent;
  if (heldReservationId(agent) !== reservationId) return staleFailure(agent, reservationId);
  if (status.state === 'BUSY') return unchanged(agent);
  if (status.state !== 'RESERVED') return staleFailure(agent, reservationId);
  return changedAgent(agent, { status: { state: 'BUSY', reservation: status.reservation, answeredAtMs: nowMs } }, index);
}

/** Ends the agent's reservation or call (release, expire, releaseByOwner). `holdMs` > 0
 * (the grant's orphanHoldMs, when it ends because its owner is gone) sends the agent to
 * WRAP_UP for at least that long whatever the outcome: its phone may still be ringing or
 * holding the dead call. */
export function endReservation(agent: Agent, outcome: ReleaseOutcome, nowMs: number, index: number, holdMs = 0): OpResult {
  const ended = endReservationNow(agent, outcome, nowMs, index);
  if (holdMs <= 0 || !('changed' in ended) || !ended.changed || ended.agent === null) return ended;
  const { status } = ended.agent;
  if (status.state === 'NOT_READY') return ended;
  const wrapUpEndsMs = Math.max(nowMs + holdMs, status.state === 'WRAP_UP' ? status.wrapUpEndsMs : 0);
  return changedAgent(ended.agent, { status: { state: 'WRAP_UP', wrapUpEndsMs } }, index);
}

function endReservationNow(agent: Agent, outcome: ReleaseOutcome, nowMs: number, index: number): OpResult {
  const { status, counters } = agent;
  if (status.state === 'BUSY') {
    const talkTimeMs = counters.talkTimeMs + Math.max(0, nowMs - status.answeredAtMs);
    const after = { callsAnswered: counters.callsAnswered + 1, talkTimeMs, lastCallEndMs: nowMs, consecutiveNoAnswers: 0 };
    // The call's service may set its own wrap-up (carried on the grant since the reserve).
    const wrapUpMs = status.reservation.wrapUpMs ?? agent.wrapUpMs;
    const next: AgentStatus = wrapUpMs > 0 ? { state: 'WRAP_UP', wrapUpEndsMs: nowMs + wrapUpMs } : { state: 'READY', readySinceMs: nowMs };
    return changedAgent(agent, { status: next, counters: { ...counters, ...after } }, index);
  }
  if (status.state !== 'RESERVED') return staleFailure(agent, '(any)');
  // A phone that declined the offer (486/603) goes to the back of the longest-idle order
  // and counts a missed offer, so the router does not pick the same busy phone again at
  // once; unlike no-answer it does not count toward max-no-answer (the phone is alive).
  if (outcome === 'rejected') {
    return changedAgent(agent, { status: { state: 'READY', readySinceMs: nowMs }, counters: { ...counters, missedOffers: counters.missedOffers + 1 } }, index);
  }
  if (outcome !== 'no-answer') return changedAgent(agent, { status: { state: 'READY', readySinceMs: status.readySinceMs } }, index);
  const missed = { missedOffers: counters.missedOffers + 1, consecutiveNoAnswers: counters.consecutiveNoAnswers + 1 };
  const tooMany = agent.maxNoAnswer > 0 && missed.consecutiveNoAnswers >= agent.maxNoAnswer;
  const next: AgentStatus = tooMany ? { state: 'NOT_READY', reason: 'max-no-answer' } : { state: 'READY', readySinceMs: nowMs };
  return changedAgent(agent, { status: next, counters: { ...counters, ...missed } }, index);
}

export function release(agent: Agent, c: AgentCommand<'release'>, nowMs: number, index: number): OpResult {
  if (heldReservationId(agent) !== c.reservationId) return staleFailure(agent, c.reservationId);
  return endReservation(agent, c.outcome, nowMs, index);
}

export function expire(agent: Agent, reservationId: string, nowMs: number, index: number): OpResult {
  const { status } = agent;
  if (heldReservationId(agent) !== reservationId) return staleFailure(agent, reservationId);
  if (status.state !== 'RESERVED') return shardFailure('SHARD_ERR_NOT_EXPIRED', `reservation ${reservationId} was answered`);
  if (nowMs < status.reservation.expiresAtMs) {
    return shardFailure('SHARD_ERR_NOT_EXPIRED', `reservation ${reservationId} expires at ${status.reservation.expiresAtMs}, now ${nowMs}`);
  }
  return endReservation(agent, 'abandoned', nowMs, index, status.reservation.orphanHoldMs ?? 0);
}
