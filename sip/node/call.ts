// The state of one call through the B2BUA: the caller's leg (we are its UAS) and the
// current attempt to reach an agent (we are the agent leg's UAC). Plain mutable records
// owned by the B2BUA; every transition is made in b2bua.ts.

import type { ServiceConfig } from '../../common/config.js';
import type { ReleaseOutcome } from '../../shards/types.js';
import type { SipRequest, SipResponse } from '../syntax/index.js';
import type { ClientTransaction, ServerTransaction } from '../transaction/index.js';
import type { SipTarget } from '../transport/index.js';
import type { CdrAttempt } from './cdr.js';
import type { DialogLeg } from './dialog.js';

/** routing: choosing and reserving an agent; queued: waiting for one; ringing: the
 * agent's phone got our INVITE; connecting: it answered, we anchor its media answer;
 * answered: both legs up; ended: torn down (kept only until the maps forget it). */
export type CallPhase = 'routing' | 'queued' | 'ringing' | 'connecting' | 'answered' | 'ended';

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
  ringTimer: NodeJS.Timeout | null;
  cancelGuard: NodeJS.Timeout | null;
  /** performance.now() by which the grant's TTL has certainly run out. */
  readonly grantExpiresAtMs: number;
  /** performance.now() when the INVITE left for the phone. */
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
  readonly service: ServiceConfig;
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
  queueTimer: NodeJS.Timeout | null;
  sent182: boolean;
  answeredAtMs: number | null;
  answeredAt: Date | null;
  /** The 200 to the caller, retransmitted until the caller ACKs (RFC 3261 §13.3.1.4). */
  ok: SipResponse | null;
  okTimer: NodeJS.Timeout | null;
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
