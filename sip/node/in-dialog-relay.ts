// In-dialog relay of an answered call: a request on one leg (re-INVITE, UPDATE, INFO, ...)
// is passed to the other leg and its final answer back. An SDP offer (re-INVITE or
// UPDATE) is re-offered to the call's media session first, and the other leg's SDP
// answer goes through the session before it reaches the sender, so hold/resume and
// address changes stay anchored on the gateway. A 2xx to a relayed re-INVITE is resent
// until the sender's ACK (RFC 3261 §13.3.1.4). When the anchoring fails past the point of
// return, the call is hung up through the owner's `hangUp`.

import type { Logger } from '../../common/logger.js';
import { buildResponse, getHeader, parseCSeq } from '../syntax/index.js';
import type { SipRequest, SipResponse } from '../syntax/index.js';
import type { ServerTransaction, TransactionLayer } from '../transaction/index.js';
import type { TimerHandle, TimerService } from '../transport/index.js';
import type { Attempt, Call } from './call.js';
import { inDialogRequest, legTarget, tagOf, type DialogLeg } from './dialog.js';
import { legKey, type LegSide } from './dialog-table.js';
import { SipNodeErrorCode } from './errors.js';
import { delayedOfferOk, isSdp, relayedFinal, relayedHeaders, syntheticResponse } from './leg-messages.js';
import type { LegSender } from './leg-sender.js';
import * as limits from './limits.js';
import type { MediaController } from './media.js';
import type { SipNodeMetrics } from './metrics.js';

/** A 2xx to a relayed re-INVITE, resent until its ACK; `onAck` takes the ACK when it
 * carries the answer to an offer made in that 2xx. */
type PendingOk = { timer: TimerHandle | null; onAck: ((ack: SipRequest) => void) | null };

/** What relaying one in-dialog request needs to know about the call. */
type RelayContext = Readonly<{ call: Call; at: Attempt; from: DialogLeg; other: DialogLeg; offer: boolean; senderTag: string; receiverTag: string }>;

export type InDialogRelayOptions = Readonly<{
  layer: Pick<TransactionLayer, 'sendRequest'>;
  sender: LegSender;
  media: MediaController;
  metrics: SipNodeMetrics;
  log: Logger;
  timers: TimerService;
  /** Ends an answered call from the node's side (BYE both legs, release, CDR). */
  hangUp: (call: Call, at: Attempt, outcome: string) => void;
}>;

export class InDialogRelay {
  /** Keyed by the sender's dialog key + CSeq number of the re-INVITE. */
  private readonly reinviteOks = new Map<string, PendingOk>();

  constructor(private readonly o: InDialogRelayOptions) {}

  /** Takes the ACK of a relayed re-INVITE's 2xx (false: not one of ours). */
  takeAck(dialogKey: string, cseq: number | undefined, ack: SipRequest): boolean {
    const key = `${dialogKey}\n${cseq}`;
    const pending = this.reinviteOks.get(key);
    if (pending === undefined) return false;
    if (pending.timer !== null) this.o.timers.clearTimer(pending.timer);
    this.reinviteOks.delete(key);
    pending.onAck?.(ack);
    return true;
  }

  async relay(tx: ServerTransaction, req: SipRequest, call: Call, at: Attempt, side: LegSide): Promise<void> {
    const other = side === 'caller' ? at.leg : call.callerLeg;
    const from = side === 'caller' ? call.callerLeg : at.leg;
    // The media session knows the caller's side by our tag on the agent leg, the agent's
    // side by the phone's tag (media.offer/answer in inviteAgent/connect).
    const agentTag = tagOf(at.leg.remoteHeader) ?? '';
    const senderTag = side === 'caller' ? at.leg.localTag : agentTag;
    const receiverTag = side === 'caller' ? agentTag : at.leg.localTag;
    const offer = (req.method === 'INVITE' || req.method === 'UPDATE') && isSdp(req);
    // A re-INVITE without SDP asks the other leg for an offer (in its 2xx); the answer
    // comes in the sender's ACK, so the other leg's ACK must wait for it.
    const delayedOffer = req.method === 'INVITE' && req.body.length === 0;
    let body = req.body;
    if (offer) {
      try {
        body = Buffer.from(await this.o.media.reoffer(at.mediaSession, senderTag, Buffer.from(req.body).toString('utf8')), 'utf8');
      } catch (err) {
        this.o.metrics.reanchors.inc({ result: 'offer-failed' });
        this.o.log.warn('re-offer not anchored', { code: SipNodeErrorCode.REANCHOR_FAILED, callId: call.callId, error: (err as Error).message });
        return void tx.respond(buildResponse(req, 488, 'Not Acceptable Here'));
      }
      if (call.phase !== 'answered' || call.attempt !== at) return void tx.respond(buildResponse(req, 481, 'Call/Transaction Does Not Exist'));
    }
    const out = inDialogRequest(other, req.method, { body, headers: relayedHeaders(req), contact: req.method === 'INVITE' ? this.o.sender.contactFor(other) : undefined });
    const target = legTarget(other);
    if (target === null) return void tx.respond(buildResponse(req, 502, 'Bad Gateway'));
    const seq = other.localCseq;
    const ctx: RelayContext = { call, at, from, other, offer, senderTag, receiverTag };
    let ackToOther: SipRequest | null = null;
    const ackOther = (answer?: Uint8Array): void => {
      ackToOther = this.o.sender.ackFor(other, seq, answer);
      this.o.sender.sendStateless(ackToOther, legTarget(other));
    };
    try {
      this.o.layer.sendRequest(out, target, (ev) => {
        if (ev.type === 'provisional') return;
        if (ev.type === 'final' && ev.retransmission) {
          // The other leg lost our ACK: the same ACK again (none yet while we wait for
          // the sender's answer to a delayed offer).
          if (ackToOther !== null && ev.response.status < 300) this.o.sender.sendStateless(ackToOther, legTarget(other));
          return;
        }
        const res = ev.response ?? syntheticResponse(ev);
        const ok = req.method === 'INVITE' && res.status >= 200 && res.status < 300;
        if (ok && delayedOffer && isSdp(res)) return void this.relayDelayedOffer(tx, req, res, ctx, ackOther);
        if (ok) ackOther();
        void this.relayFinal(tx, req, res, ctx);
      });
    } catch {
      tx.respond(buildResponse(req, 503, 'Service Unavailable'));
    }
  }

  /** The other leg's final answer to a relayed request, back to the sender. */
  private async relayFinal(tx: ServerTransaction, req: SipRequest, res: SipResponse, c: RelayContext): Promise<void> {
    const ok = res.status >= 200 && res.status < 300;
    let body = res.body;
    if (c.offer && ok && isSdp(res)) {
      try {
        body = Buffer.from(await this.o.media.answer(c.at.mediaSession, c.senderTag, c.receiverTag, Buffer.from(res.body).toString('utf8')), 'utf8');
        this.o.metrics.reanchors.inc({ result: 'anchored' });
      } catch (err) {
        // The other leg already uses its new answer; the anchor does not know it. Media is
        // broken one way at least: end the call rather than leave it half-heard.
        this.o.metrics.reanchors.inc({ result: 'answer-failed' });
        this.o.log.warn('re-answer not anchored; ending call', { code: SipNodeErrorCode.REANCHOR_FAILED, callId: c.call.callId, error: (err as Error).message });
        tx.respond(buildResponse(req, 500, 'Media Unavailable'));
        if (c.call.phase === 'answered' && c.call.attempt === c.at) this.o.hangUp(c.call, c.at, 'media-failed');
        return;
      }
    }
    const final = relayedFinal(req, res, body, this.o.sender.contactFor(c.from));
    tx.respond(final);
    if (req.method === 'INVITE' && ok) this.retransmitReinviteOk(tx, final, c.call, c.from);
  }

  /** A re-INVITE without SDP: the other leg's 2xx carries an offer. It is re-offered to
   * the media session from the other leg's side and sent to the sender in our 2xx; the
   * sender's ACK carries the answer, which goes through the session and then, in our
   * ACK, to the other leg. */
  private async relayDelayedOffer(tx: ServerTransaction, req: SipRequest, res: SipResponse, c: RelayContext, ackOther: (answer?: Uint8Array) => void): Promise<void> {
    let body: Uint8Array;
    try {
      body = Buffer.from(await this.o.media.reoffer(c.at.mediaSession, c.receiverTag, Buffer.from(res.body).toString('utf8')), 'utf8');
    } catch (err) {
      this.o.metrics.reanchors.inc({ result: 'offer-failed' });
      this.o.log.warn('delayed re-offer not anchored; ending call', { code: SipNodeErrorCode.REANCHOR_FAILED, callId: c.call.callId, error: (err as Error).message });
      ackOther();
      tx.respond(buildResponse(req, 500, 'Media Unavailable'));
      if (c.call.phase === 'answered' && c.call.attempt === c.at) this.o.hangUp(c.call, c.at, 'media-failed');
      return;
    }
    const final = delayedOfferOk(req, res, this.o.sender.contactFor(c.from), body);
    tx.respond(final);
    this.retransmitReinviteOk(tx, final, c.call, c.from, (ack) => void this.forwardAnswerInAck(ack, c, ackOther));
  }

  private async forwardAnswerInAck(ack: SipRequest, c: RelayContext, ackOther: (answer?: Uint8Array) => void): Promise<void> {
    if (!isSdp(ack)) return ackOther(); // no answer: the sender broke offer/answer; nothing to pass on
    try {
      const answer = await this.o.media.answer(c.at.mediaSession, c.receiverTag, c.senderTag, Buffer.from(ack.body).toString('utf8'));
      this.o.metrics.reanchors.inc({ result: 'anchored' });
      ackOther(Buffer.from(answer, 'utf8'));
    } catch (err) {
      this.o.metrics.reanchors.inc({ result: 'answer-failed' });
      this.o.log.warn('answer in ACK not anchored; ending call', { code: SipNodeErrorCode.REANCHOR_FAILED, callId: c.call.callId, error: (err as Error).message });
      ackOther();
      if (c.call.phase === 'answered' && c.call.attempt === c.at) this.o.hangUp(c.call, c.at, 'media-failed');
    }
  }

  /** Resends a relayed re-INVITE's 2xx, T1 doubling to T2, until the sender's ACK
   * (takeAck) or 64*T1; with no ACK by then the sender is gone and the call is ended. */
  private retransmitReinviteOk(tx: ServerTransaction, ok: SipResponse, call: Call, from: DialogLeg, onAck: ((ack: SipRequest) => void) | null = null): void {
    const key = `${legKey(from)}\n${parseCSeq(getHeader(ok, 'CSeq') ?? '')?.seq}`;
    const pending: PendingOk = { timer: null, onAck };
    this.reinviteOks.set(key, pending);
    const step = (intervalMs: number, elapsedMs: number): void => {
      pending.timer = this.o.timers.setTimer(intervalMs, () => {
        pending.timer = null;
        if (this.reinviteOks.get(key) !== pending) return;
        if (call.phase !== 'answered' || elapsedMs + intervalMs >= 64 * limits.t1Ms) {
          this.reinviteOks.delete(key);
          const at = call.attempt;
          if (call.phase === 'answered' && at !== null) {
            this.o.log.warn('no ACK for a re-INVITE 2xx; ending call', { callId: call.callId });
            this.o.hangUp(call, at, 'no-ack');
          }
          return;
        }
        tx.respond(ok);
        step(Math.min(intervalMs * 2, limits.t2Ms), elapsedMs + intervalMs);
      });
    };
    step(limits.t1Ms, 0);
  }

  close(): void {
    for (const p of this.reinviteOks.values()) if (p.timer !== null) this.o.timers.clearTimer(p.timer);
    this.reinviteOks.clear();
  }
}
