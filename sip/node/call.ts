// The state of one call through the B2BUA: the caller's leg (we are its UAS) and the
// current attempt to reach an agent (we are the agent leg's UAC). Plain mutable records
// owned by the B2BUA; every phase transition is made in b2bua.ts through moveTo, which
// refuses one from a phase it cannot come from.

import assert from 'node:assert';
import type { ServiceConfig } from '../../common/config.js';
import type { ReleaseOutcome } from '../../shards/types.js';
import type { SipRequest, SipResponse } from '../syntax/index.js';
import type { ClientTransaction, ServerTransaction } from '../transaction/index.js';
import type { SipTarget, TimerHandle, TimerService } from '../transport/index.js';
import type { CdrAttempt, CdrRecord } from './cdr.js';
import type { DialogLeg } from './dialog.js';

/** routing: choosing and reserving an agent; queued: waiting for one; ringing: the
 * agent's phone got our INVITE; connecting: it answered, we anchor its media answer;
 * answered: both legs up; ended: torn down (kept only until the maps forget it). */
export type CallPhase = 'routing' | 'queued' | 'ringing' | 'connecting' | 'answered' | 'ended';

/** The phases each phase may move to. A call is routed again from ringing when its agent
 * leg fails (or is not sent), and from connecting when the agent's media answer fails
 * (the call goes back to its queue); any phase but ended may end. */
const nextPhases: Readonly<Record<CallPhase, readonly CallPhase[]>> = {
  routing: ['queued', 'ringing', 'ended'],
  queued: ['routing', 'ended'],
  ringing: ['routing', 'connecting', 'ended'],
  connecting: ['answered', 'routing', 'ended'],
  answered: ['ended'],
  ended: [],
};

/** Moves a call to its next phase. A move the table does not allow is a bug in the
 * B2BUA (a call answered twice, or revived after it ended): it must not go on silently. */
export function moveTo(call: Call, phase: CallPhase): void {
  assert(nextPhases[call.phase].includes(phase), `call ${call.callId}: ${call.phase} → ${phase}`);
  call.phase = phase;
}

export type Attempt = {
  readonly no: number;
  readonly dn: string;
  readonly reservationId: string;
  readonly leg: DialogLeg;
  readonly target: SipTarget;
  /** Media session id: the agent leg's Call-ID, unique per attempt. */
  readonly mediaSession: string;
  tx: ClientTransaction | null;
  gotProvisional: boolean;
  /** Why we CANCELed (set once); the release outcome when the leg ends. */
  cancel: ReleaseOutcome | null;
  cancelSent: boolean;
  answered: boolean;
  /** The ACK we sent for the agent's 2xx, resent on its retransmissions. */
  ack: SipRequest | null;
  ringTimer: TimerHandle | null;
  cancelGuard: TimerHandle | null;
  /** TimerService time by which the grant's TTL has certainly run out. */
  readonly grantExpiresAtMs: number;
  /** TimerService time when the INVITE left for the phone. */
  invitedAtMs: number;
  /** The confirm in flight (or settled) once the caller got our 200; null before. */
  confirming: Promise<void> | null;
  /** The call this attempt is for, until the attempt is finished (reservation released or
   * being released, media deleted): null then, which is how "finished" is told. The agent's
   * INVITE transaction keeps its event callback (and so this attempt) for Timer M, 32 s
   * after the 2xx: holding the call there kept every call of the last 32 s alive. */
  call: Call | null;
};

export type Call = {
  readonly key: string;
  readonly callId: string;
  readonly inviteTx: ServerTransaction;
  readonly invite: SipRequest;
  /** The service the call is routed and queued by: the dialled one, until an overflow
   * moves the call to another service's queue (service-overflow.ts). */
  service: ServiceConfig;
  readonly from: string;
  readonly startedAtMs: number;
  readonly startedAt: Date;
  readonly callerLeg: DialogLeg;
  readonly callerTarget: SipTarget | null;
  phase: CallPhase;
  /** A final response went to the caller's INVITE. */
  finalSent: boolean;
  /** Agents asked for during the current routing pass (denied ones included); cleared
   * back to `offered` when the call queues, so an agent that was merely busy can be
   * tried again once it frees up. */
  readonly tried: Set<string>;
  /** Agents whose phone was offered this call (or was unreachable): never again. */
  readonly offered: Set<string>;
  readonly attempts: CdrAttempt[];
  attempt: Attempt | null;
  attemptCount: number;
  firstQueuedAtMs: number | null;
  queuedMs: number;
  queueTimer: TimerHandle | null;
  /** The service's maximum wait ran out while an agent was being offered the call: if
   * that fails, the call overflows instead of queueing again. */
  queueWaitOver: boolean;
  /** Overflows so far (bounded: two services overflowing to each other end the call). */
  overflowHops: number;
  sent182: boolean;
  answeredAtMs: number | null;
  answeredAt: Date | null;
  /** The 200 to the caller, retransmitted until the caller ACKs (RFC 3261 §13.3.1.4). */
  ok: SipResponse | null;
  okTimer: TimerHandle | null;
  acked: boolean;
};

export type CallSummary = Readonly<{
  callId: string;
  service: string;
  from: string;
  phase: CallPhase;
  dn: string | null;
  attempts: readonly CdrAttempt[];
  startedAt: string;
  answeredAt: string | null;
}>;

export function summarize(call: Call): CallSummary {
  return {
    callId: call.callId,
    service: call.service.number,
    from: call.from,
    phase: call.phase,
    dn: call.attempt?.dn ?? null,
    attempts: [...call.attempts],
    startedAt: call.startedAt.toISOString(),
    answeredAt: call.answeredAt?.toISOString() ?? null,
  };
}

/** What a new call starts from: the caller's INVITE and its leg; the rest starts empty. */
export type NewCall = Pick<Call, 'inviteTx' | 'invite' | 'service' | 'from' | 'callerLeg' | 'callerTarget' | 'startedAtMs' | 'startedAt'>;

/** A call in its first phase (routing), keyed by its INVITE server transaction. */
export function newCall(c: NewCall): Call {
  return {
    key: c.inviteTx.id,
    callId: c.callerLeg.callId,
    inviteTx: c.inviteTx,
    invite: c.invite,
    service: c.service,
    from: c.from,
    startedAtMs: c.startedAtMs,
    startedAt: c.startedAt,
    callerLeg: c.callerLeg,
    callerTarget: c.callerTarget,
    phase: 'routing',
    finalSent: false,
    tried: new Set(),
    offered: new Set(),
    attempts: [],
    attempt: null,
    attemptCount: 0,
    firstQueuedAtMs: null,
    queuedMs: 0,
    queueTimer: null,
    queueWaitOver: false,
    overflowHops: 0,
    sent182: false,
    answeredAtMs: null,
    answeredAt: null,
    ok: null,
    okTimer: null,
    acked: false,
  };
}

/** Stops every timer a call and its current attempt hold (the node is closing). */
export function clearCallTimers(call: Call, timers: Pick<TimerService, 'clearTimer'>): void {
  for (const timer of [call.queueTimer, call.okTimer, call.attempt?.ringTimer ?? null, call.attempt?.cancelGuard ?? null]) if (timer !== null) timers.clearTimer(timer);
}

export type CallEnd = Readonly<{
  node: string;
  outcome: string;
  endedBy: 'caller' | 'agent' | 'node';
  /** The call was answered when it ended (the agent's DN and Call-ID go in the record). */
  wasAnswered: boolean;
  /** On the clock of startedAtMs/answeredAtMs. */
  endedAtMs: number;
  endedAt: Date;
}>;

/** The CDR line of a call that ends now. */
export function cdrOf(call: Call, e: CallEnd): CdrRecord {
  const at = call.attempt;
  const now = e.endedAtMs;
  return {
    node: e.node,
    callId: call.callId,
    service: call.service.number,
    skill: call.service.skill,
    from: call.from,
    dn: e.wasAnswered ? (at?.dn ?? lastDn(call)) : null,
    agentCallId: e.wasAnswered ? (at?.leg.callId ?? null) : null,
    startedAt: call.startedAt.toISOString(),
    answeredAt: call.answeredAt?.toISOString() ?? null,
    endedAt: e.endedAt.toISOString(),
    setupMs: call.answeredAtMs === null ? null : Math.round(call.answeredAtMs - call.startedAtMs),
    talkMs: call.answeredAtMs === null ? 0 : Math.round(now - call.answeredAtMs),
    queuedMs: call.firstQueuedAtMs === null ? 0 : Math.round((call.answeredAtMs ?? now) - call.firstQueuedAtMs),
    outcome: e.outcome,
    endedBy: e.endedBy,
    attempts: call.attempts,
  };
}

function lastDn(call: Call): string | null {
  return call.attempts[call.attempts.length - 1]?.dn ?? null;
}
