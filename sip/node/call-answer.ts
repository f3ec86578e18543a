// An agent answered a call: its SDP goes through the call's media session (or the caller
// keeps the answer its early media already got), the caller gets its 200, resent until
// it ACKs (RFC 3261 §13.3.1.4), and the grant is confirmed on the shard (RESERVED → BUSY).
// The committed grant already makes the agent ours (DESIGN.md: 200 relayed → ACK →
// confirm), so the confirm commit stays off the caller's setup path; until it lands the
// grant's TTL still runs, and a release waits for it (b2bua.ts finishAttempt). A confirm
// the shard refuses, or that comes after the grant's TTL, ends the call: the agent may
// already be offered another one.

import { serviceDefinition } from '../../common/config.js';
import type { Logger } from '../../common/logger.js';
import type { ReleaseOutcome } from '../../shards/types.js';
import type { SipResponse } from '../syntax/index.js';
import type { TimerService } from '../transport/index.js';
import { moveTo, type Attempt, type Call } from './call.js';
import type { WallClock } from './clock.js';
import type { CallEvent } from './events.js';
import { tagOf } from './dialog.js';
import type { LegSide } from './dialog-table.js';
import type { Grant, Grants } from './grants.js';
import { callerOk } from './leg-messages.js';
import type { LegSender } from './leg-sender.js';
import * as limits from './limits.js';
import type { MediaController } from './media.js';
import type { SetupPhase, SipNodeMetrics } from './metrics.js';
import type { QueueMedia } from './queue-media.js';
import type { QueuedCalls } from './queued-calls.js';

export type CallAnswerOptions = Readonly<{
  media: MediaController;
  queueMedia: Pick<QueueMedia, 'sessionOf' | 'onBridged'>;
  queued: Pick<QueuedCalls, 'leave'>;
  sender: LegSender;
  grants: Grants;
  metrics: SipNodeMetrics;
  log: Logger;
  timers: TimerService;
  now: WallClock;
  closed: () => boolean;
  emit: (ev: CallEvent) => void;
  /** The call owner's attempt and call endings (b2bua.ts). */
  finishAttempt: (call: Call, at: Attempt, outcome: ReleaseOutcome) => boolean;
  endCall: (call: Call, outcome: string, endedBy: LegSide | 'node') => void;
  /** The media answer failed: the call goes back to its place in the queue. */
  afterMediaFailure: (call: Call, dn: string) => void;
}>;

export class CallAnswer {
  constructor(private readonly o: CallAnswerOptions) {}

  /** The agent's 200 arrived at `agentOkAtMs`: connect the agent to the caller. */
  async connect(call: Call, at: Attempt, res: SipResponse, agentOkAtMs: number): Promise<void> {
    const { o } = this;
    let sdp: string;
    try {
      sdp = await o.media.answer(at.mediaSession, at.leg.localTag, tagOf(at.leg.remoteHeader) ?? '', Buffer.from(res.body).toString('utf8'));
    } catch (err) {
      o.log.warn('media answer failed', { callId: call.callId, error: (err as Error).message });
      o.sender.sendBye(at.leg);
      o.finishAttempt(call, at, 'failed');
      return o.afterMediaFailure(call, at.dn);
    }
    if (call.phase !== 'connecting' || at.call === null) {
      o.sender.sendBye(at.leg);
      o.finishAttempt(call, at, 'abandoned');
      return;
    }
    const early = o.queueMedia.sessionOf(call);
    if (early !== null) {
      sdp = early.callerSdp; // the 183's answer again (RFC 3264: one answer per offer)
      o.queueMedia.onBridged(call);
    }
    at.answered = true;
    moveTo(call, 'answered');
    call.answeredAtMs = o.timers.now();
    call.answeredAt = new Date(o.now());
    o.metrics.callsAnswered.inc();
    o.metrics.setupSeconds.observe((call.answeredAtMs - call.startedAtMs) / 1000);
    const waitMs = Math.round(call.answeredAtMs - call.startedAtMs);
    o.emit({ type: 'call.answered', callId: call.callId, service: call.service.number, dn: at.dn, waitMs, withinServiceLevel: waitMs <= serviceDefinition(call.service).serviceLevelMs });
    if (call.queueTimer !== null) o.timers.clearTimer(call.queueTimer);
    o.queued.leave(call.key, 'answered');
    call.ok = callerOk(call.invite, call.callerLeg, o.sender.contactFor(call.callerLeg), Buffer.from(sdp, 'utf8'));
    call.finalSent = true;
    call.inviteTx.respond(call.ok);
    this.observePhase('answer', agentOkAtMs);
    this.retransmitOk(call, limits.t1Ms, 0);
    at.confirming = this.confirm(call, at);
  }

  observePhase(phase: SetupPhase, sinceMs: number): void {
    this.o.metrics.setupPhaseSeconds[phase].observe((this.o.timers.now() - sinceMs) / 1000);
  }

  /** Turns the grant into a call on the shard, retried while its outcome is unknown
   * (grants.ts). If the shard refuses it, or the grant's TTL passes first, the grant is
   * gone — expired, or released by reconciliation — so both legs are hung up. */
  private async confirm(call: Call, at: Attempt): Promise<void> {
    const { o } = this;
    const startMs = o.timers.now();
    const grant: Grant = { dn: at.dn, reservationId: at.reservationId, expiresAtMs: at.grantExpiresAtMs };
    const confirmed = await o.grants.confirm(grant, call.callId, () => at.call !== null && call.phase === 'answered');
    this.observePhase('confirm', startMs);
    if (o.closed()) return;
    if (confirmed || at.call === null || call.attempt !== at || call.phase !== 'answered') return;
    o.metrics.callsFailed.inc({ reason: 'confirm-failed' });
    o.sender.sendBye(call.callerLeg);
    o.sender.sendBye(at.leg);
    o.finishAttempt(call, at, 'failed');
    o.endCall(call, 'confirm-failed', 'node');
  }

  /** Resends our 200 to the caller, T1 doubling to T2, until its ACK (b2bua.ts onAck);
   * with no ACK by 64*T1 the caller is gone and the call is ended. */
  private retransmitOk(call: Call, intervalMs: number, elapsedMs: number): void {
    const { o } = this;
    call.okTimer = o.timers.setTimer(intervalMs, () => {
      call.okTimer = null;
      if (call.acked || call.phase !== 'answered' || call.ok === null) return;
      if (elapsedMs + intervalMs >= 64 * limits.t1Ms) {
        const at = call.attempt;
        o.sender.sendBye(call.callerLeg);
        if (at !== null) {
          o.sender.sendBye(at.leg);
          o.finishAttempt(call, at, 'completed');
        }
        return o.endCall(call, 'no-ack', 'node');
      }
      call.inviteTx.respond(call.ok);
      this.retransmitOk(call, Math.min(intervalMs * 2, limits.t2Ms), elapsedMs + intervalMs);
    });
  }
}
