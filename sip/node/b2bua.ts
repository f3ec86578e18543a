// The B2BUA: the patent's method for one call. A caller's INVITE to a service number
// gets 100 Trying; the router picks a DN; the node reserves that agent on the shard
// owning the DN and waits for the committed grant; only then does it allocate media and
// INVITE the agent's phone (new Call-ID, tags, CSeq). Denials, busy/absent/unanswered
// phones and transport errors release the agent and re-route (excluding agents already
// tried); with no agent free the call waits in the queue (182 Queued) until an agent
// turns READY or the maximum wait runs out (480).
//
// Invariants: the reservation is the only guard against offering one agent two calls;
// every grant ends in confirm→release, release, or the shard's TTL expiry (the node never
// forgets a grant it holds: finishAttempt releases with retries).
//
// The agent leg's 2xx is ACKed at once, not when the caller ACKs: the caller's offer was
// in its INVITE, so the ACK carries no SDP, and ACKing at once stops the phone's 2xx
// retransmissions whatever the caller does. The caller's 200 is retransmitted until it ACKs.

import { randomUUID } from 'node:crypto';
import type { ServiceConfig } from '../../common/config.js';
import type { Logger } from '../../common/logger.js';
import { ShardClientError, type ShardClient } from '../../shards/client/shard-client.js';
import type { ReleaseOutcome } from '../../shards/types.js';
import {
  buildResponse, formatNameAddr, generateCallId, generateTag, getHeader, getHeaders, parseCSeq, parseNameAddr, parseUri,
} from '../syntax/index.js';
import type { SipHeader, SipRequest, SipResponse } from '../syntax/index.js';
import { buildCancel, type ClientEvent, type ServerTransaction, type TransactionLayer } from '../transaction/index.js';
import type { SipSource, SipTarget, SipTransport } from '../transport/index.js';
import type { CdrWriter } from './cdr.js';
import { summarize, type Attempt, type Call, type CallSummary } from './call.js';
import { ackFor2xx, inDialogRequest, legTarget, tagOf, targetOfUri, uriOf, type DialogLeg } from './dialog.js';
import * as limits from './limits.js';
import type { MediaController, MediaLostReason } from './media.js';
import type { SetupPhase, SipNodeMetrics } from './metrics.js';
import { CallQueue } from './queue.js';
import type { AgentView, RouteRequest, Router } from './router.js';
import { vetWebhookDn, type RoutingWebhook, type WebhookResult } from './routing-webhook.js';
import { SipNodeErrorCode } from './errors.js';
import type { Agent } from '../../shards/types.js';

export type B2buaOptions = Readonly<{
  nodeId: string;
  layer: TransactionLayer;
  transports: readonly SipTransport[];
  shards: ShardClient;
  router: Router;
  view: AgentView;
  media: MediaController;
  cdr: CdrWriter;
  metrics: SipNodeMetrics;
  log: Logger;
  services: readonly ServiceConfig[];
  ringTimeoutMs: number;
  /** WRAP_UP hold on an agent whose grant ends because this node died (reserve orphanHoldMs). */
  orphanHoldMs: number;
  queueWaitMs: number;
  /** How long an ended leg is still recognised (default limits.endedDialogKeepMs). */
  endedLegKeepMs?: number;
  /** Resolves once the node has released what it owned before a restart. */
  reconciled: Promise<void>;
  /** The customer's routing engine, asked before the built-in router (none: built-in only). */
  webhook?: RoutingWebhook | null;
}>;

/** A dialog we are a party to. `leg` tells an agent leg of the current attempt from one of
 * an earlier attempt of the same call (which is over even if the call is not). */
type LegRef = Readonly<{ call: Call; side: 'caller' | 'agent'; leg: DialogLeg }>;

/** A leg that is over, remembered for endedDialogKeepMs so a late BYE still gets its 200
 * and anything else its 481. It holds no call: at 300 calls/s the ended calls that the
 * old 32 s entries kept alive were 11,000 calls and a good part of a 200 MB heap. */
type EndedLeg = Readonly<{ ended: true; side: 'caller' | 'agent' }>;

/** A 2xx to a relayed re-INVITE, resent until its ACK (RFC 3261 §13.3.1.4); `onAck`
 * takes the ACK when it carries the answer to an offer made in that 2xx. */
type PendingOk = { timer: NodeJS.Timeout | null; onAck: ((ack: SipRequest) => void) | null };

/** What relaying one in-dialog request needs to know about the call. */
type RelayContext = Readonly<{ call: Call; at: Attempt; from: DialogLeg; other: DialogLeg; offer: boolean; senderTag: string; receiverTag: string }>;

const SDP = 'application/sdp';
const rejectedStatuses = new Set([486, 480, 603, 600]);

export class B2bua {
  private readonly calls = new Map<string, Call>();
  private readonly dialogs = new Map<string, LegRef | EndedLeg>();
  /** Ended legs in the order they ended (all wait alike, so the oldest is first). */
  private readonly endedLegs: { key: string; leg: EndedLeg; forgetAtMs: number }[] = [];
  private endedLegsHead = 0;
  private readonly bySession = new Map<string, Call>();
  /** Keyed by dialog key + CSeq number of the re-INVITE. */
  private readonly reinviteOks = new Map<string, PendingOk>();
  /** Calls the webhook queued (`{"dn":null}`), with when it said so: the sweep re-asks
   * them at most every routingWebhookQueueRetryMs. */
  private readonly webhookQueuedAtMs = new Map<string, number>();
  private readonly warnedAtMs = new Map<string, number>();
  readonly queue = new CallQueue();
  private readonly services: Map<string, ServiceConfig>;
  private closed = false;
  private readonly sweepTimer: NodeJS.Timeout;

  constructor(private readonly o: B2buaOptions) {
    this.services = new Map(o.services.map((s) => [s.number, s]));
    o.media.onLost((session, reason) => this.onMediaLost(session, reason));
    this.sweepTimer = setInterval(() => this.sweepQueue(), limits.queueSweepIntervalMs);
    this.sweepTimer.unref();
  }

  get callCount(): number {
    return this.calls.size;
  }

  listCalls(): CallSummary[] {
    return [...this.calls.values()].map(summarize);
  }

  listQueue(): { callId: string; skill: string; waitedMs: number }[] {
    const now = performance.now();
    return this.queue.list().map((q) => ({ callId: this.calls.get(q.key)?.callId ?? q.key, skill: q.skill, waitedMs: Math.round(now - q.enqueuedAtMs) }));
  }

  /** An agent changed (from the change feed): a READY agent with a phone takes the
   * longest-waiting queued call it can serve. */
  onAgentChanged(agent: Agent): void {
    if (agent.status.state !== 'READY' || this.queue.length === 0) return;
    if (!agent.contacts.some((c) => c.expiresAtMs > Date.now())) return;
    const q = this.queue.takeFor(agent);
    const call = q === null ? undefined : this.calls.get(q.key);
    if (call === undefined || call.phase !== 'queued') return;
    call.phase = 'routing';
    void this.route(call);
  }

  /** Replaces a live leg with an EndedLeg, forgotten after endedDialogKeepMs. */
  private endLeg(key: string, side: 'caller' | 'agent'): void {
    if (!this.dialogs.has(key)) return;
    const leg: EndedLeg = { ended: true, side };
    this.dialogs.set(key, leg);
    this.endedLegs.push({ key, leg, forgetAtMs: performance.now() + (this.o.endedLegKeepMs ?? limits.endedDialogKeepMs) });
  }

  private forgetEndedLegs(): void {
    const now = performance.now();
    const q = this.endedLegs;
    while (this.endedLegsHead < q.length && q[this.endedLegsHead]!.forgetAtMs <= now) {
      const { key, leg } = q[this.endedLegsHead++]!;
      if (this.dialogs.get(key) === leg) this.dialogs.delete(key);
    }
    // Drop the consumed head in one splice once it is most of the array.
    if (this.endedLegsHead > limits.endedLegsCompactCountMin && this.endedLegsHead * 2 > q.length) {
      q.splice(0, this.endedLegsHead);
      this.endedLegsHead = 0;
    }
  }

  /** Wakes queued calls for which the view shows an eligible agent (a READY change may
   * have arrived while the call was being routed and so missed it); first forgets the
   * ended legs that have been kept long enough. */
  private sweepQueue(): void {
    this.forgetEndedLegs();
    for (const q of [...this.queue.list()]) {
      const call = this.calls.get(q.key);
      if (call === undefined || call.phase !== 'queued') continue;
      const askedAtMs = this.webhookQueuedAtMs.get(q.key);
      if (askedAtMs !== undefined && performance.now() - askedAtMs < limits.routingWebhookQueueRetryMs) continue;
      if (this.o.router.peek({ skill: q.skill, minLevel: q.minLevel, exclude: call.offered, nowMs: Date.now() }) === null) continue;
      this.queue.remove(q.key);
      call.phase = 'routing';
      void this.route(call);
    }
  }

  // ---- requests from the transaction layer ----

  onInvite(tx: ServerTransaction, req: SipRequest): void {
    if (tagOf(getHeader(req, 'To') ?? '') !== undefined) return this.onInDialog(tx, req);
    const user = parseUri(req.uri)?.user;
    const service = user === undefined ? undefined : this.services.get(user);
    if (service === undefined) return void tx.respond(buildResponse(req, 404, 'Not Found'));
    if (this.closed || this.calls.size >= limits.callsMax) {
      return void tx.respond(buildResponse(req, 503, 'Service Unavailable', { headers: [{ name: 'Retry-After', value: String(limits.busyRetryAfterSeconds) }] }));
    }
    if (req.body.length === 0) return void tx.respond(buildResponse(req, 488, 'Offer Required In INVITE'));
    const from = getHeader(req, 'From') ?? '';
    const contact = uriOf(getHeaders(req, 'Contact')[0] ?? '');
    const localTag = generateTag();
    const callerLeg: DialogLeg = {
      callId: getHeader(req, 'Call-ID') ?? '',
      localTag,
      localHeader: `${getHeader(req, 'To') ?? ''};tag=${localTag}`,
      remoteHeader: from,
      remoteTarget: contact ?? '',
      routeSet: getHeaders(req, 'Record-Route').map((v) => uriOf(v)).filter((u): u is string => u !== null),
      localCseq: 0,
    };
    const call: Call = {
      key: tx.id,
      callId: callerLeg.callId,
      inviteTx: tx,
      invite: req,
      service,
      from: uriOf(from) ?? from,
      startedAtMs: performance.now(),
      startedAt: new Date(),
      callerLeg,
      callerTarget: contact === null ? null : legTarget(callerLeg),
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
      sent182: false,
      answeredAtMs: null,
      answeredAt: null,
      ok: null,
      okTimer: null,
      acked: false,
    };
    this.calls.set(call.key, call);
    this.dialogs.set(dialogKey(callerLeg.callId, localTag), { call, side: 'caller', leg: callerLeg });
    this.o.metrics.callsOffered.inc();
    tx.respond(buildResponse(req, 100, 'Trying'));
    void this.route(call);
  }

  onCancel(tx: ServerTransaction, req: SipRequest): void {
    const inviteTx = this.o.layer.findInviteForCancel(req);
    const call = inviteTx === undefined ? undefined : this.calls.get(inviteTx.id);
    if (call === undefined) return void tx.respond(buildResponse(req, 481, 'Call/Transaction Does Not Exist'));
    tx.respond(buildResponse(req, 200, 'OK'));
    if (call.phase === 'answered' || call.phase === 'ended') return;
    this.o.metrics.callsAbandoned.inc();
    const at = call.attempt;
    if (at !== null && at.call !== null) this.cancelAttempt(call, at, 'abandoned');
    this.endCall(call, 'abandoned', 'caller', 487, 'Request Terminated');
  }

  onAck(ack: SipRequest): void {
    const key = dialogKey(getHeader(ack, 'Call-ID') ?? '', tagOf(getHeader(ack, 'To') ?? '') ?? '');
    const ref = this.dialogs.get(key);
    if (ref === undefined) return;
    const cseq = parseCSeq(getHeader(ack, 'CSeq') ?? '')?.seq;
    const pending = this.reinviteOks.get(`${key}\n${cseq}`);
    if (pending !== undefined) {
      if (pending.timer !== null) clearTimeout(pending.timer);
      this.reinviteOks.delete(`${key}\n${cseq}`);
      pending.onAck?.(ack);
      return;
    }
    if ('ended' in ref || ref.side !== 'caller') return;
    const inviteSeq = parseCSeq(getHeader(ref.call.invite, 'CSeq') ?? '')?.seq;
    if (cseq !== inviteSeq) return; // the ACK of a relayed re-INVITE: we ACKed the other side already
    ref.call.acked = true;
    if (ref.call.okTimer !== null) clearTimeout(ref.call.okTimer);
    ref.call.okTimer = null;
  }

  /** BYE, re-INVITE, OPTIONS, INFO, UPDATE, ... inside one of our dialogs. A dialog we
   * do not know (never ours, or forgotten in a restart) gets 481, which is how a phone
   * probing its dialog with OPTIONS learns that its call is orphaned. */
  onInDialog(tx: ServerTransaction, req: SipRequest): void {
    const ref = this.dialogs.get(dialogKey(getHeader(req, 'Call-ID') ?? '', tagOf(getHeader(req, 'To') ?? '') ?? ''));
    if (ref === undefined) return void tx.respond(buildResponse(req, 481, 'Call/Transaction Does Not Exist'));
    if ('ended' in ref) {
      if (req.method === 'BYE') return void tx.respond(buildResponse(req, 200, 'OK'));
      return void tx.respond(buildResponse(req, 481, 'Call/Transaction Does Not Exist'));
    }
    const { call, side } = ref;
    const at = call.attempt;
    // An agent leg of an earlier attempt (answered after we gave up on it, then BYEd) is
    // over even though the call goes on with another agent: never relay it into the call.
    const current = side === 'caller' || (at !== null && at.leg === ref.leg && at.call !== null);
    if (req.method === 'BYE') {
      if (!current) return void tx.respond(buildResponse(req, 200, 'OK'));
      return this.onBye(tx, req, call, side);
    }
    if (!current || call.phase === 'ended') return void tx.respond(buildResponse(req, 481, 'Call/Transaction Does Not Exist'));
    // Keep-alive probes are answered here: the dialog is ours, and the other leg's phone
    // has no business learning of (or being woken by) this leg's probes.
    if (req.method === 'OPTIONS') return void tx.respond(buildResponse(req, 200, 'OK', { headers: optionsHeaders }));
    if (call.phase !== 'answered' || at === null) return void tx.respond(buildResponse(req, 491, 'Request Pending'));
    void this.relay(tx, req, call, at, side);
  }

  private onBye(tx: ServerTransaction, req: SipRequest, call: Call, side: 'caller' | 'agent'): void {
    tx.respond(buildResponse(req, 200, 'OK'));
    const at = call.attempt;
    if (call.phase !== 'answered' || at === null) {
      // A BYE before the answer (an early-dialog BYE from the caller) abandons the call.
      if (side === 'caller' && call.phase !== 'ended') {
        this.o.metrics.callsAbandoned.inc();
        if (at !== null && at.call !== null) this.cancelAttempt(call, at, 'abandoned');
        this.endCall(call, 'abandoned', 'caller', 487, 'Request Terminated');
      }
      return;
    }
    this.sendBye(side === 'caller' ? at.leg : call.callerLeg);
    this.finishAttempt(call, at, 'completed');
    this.endCall(call, 'completed', side);
  }

  /** Passes an in-dialog request to the other leg and its final answer back. An SDP offer
   * (re-INVITE or UPDATE) is re-offered to the call's media session first, and the
   * other leg's SDP answer goes through the session before it reaches the sender, so
   * hold/resume and address changes stay anchored on the gateway. */
  private async relay(tx: ServerTransaction, req: SipRequest, call: Call, at: Attempt, side: 'caller' | 'agent'): Promise<void> {
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
    const headers: SipHeader[] = [];
    for (const name of ['Content-Type', 'Content-Disposition', 'Event', 'Subscription-State', 'Info-Package']) {
      const v = getHeader(req, name);
      if (v !== undefined) headers.push({ name, value: v });
    }
    const out = inDialogRequest(other, req.method, { body, headers, contact: req.method === 'INVITE' ? this.contactFor(other) : undefined });
    const target = legTarget(other);
    if (target === null) return void tx.respond(buildResponse(req, 502, 'Bad Gateway'));
    const seq = other.localCseq;
    const ctx: RelayContext = { call, at, from, other, offer, senderTag, receiverTag };
    let ackToOther: SipRequest | null = null;
    const ackOther = (answer?: Uint8Array): void => {
      ackToOther = this.ackFor(other, seq, answer);
      this.sendStateless(ackToOther, legTarget(other));
    };
    try {
      this.o.layer.sendRequest(out, target, (ev) => {
        if (ev.type === 'provisional') return;
        if (ev.type === 'final' && ev.retransmission) {
          // The other leg lost our ACK: the same ACK again (none yet while we wait for
          // the sender's answer to a delayed offer).
          if (ackToOther !== null && ev.response.status < 300) this.sendStateless(ackToOther, legTarget(other));
          return;
        }
        const res = ev.response ?? synthetic(ev);
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
        if (c.call.phase === 'answered' && c.call.attempt === c.at) this.hangUp(c.call, c.at, 'media-failed');
        return;
      }
    }
    const extra: SipHeader[] = [];
    const ct = getHeader(res, 'Content-Type');
    if (ct !== undefined && body.length > 0) extra.push({ name: 'Content-Type', value: ct });
    if (req.method === 'INVITE' && res.status < 300) extra.push({ name: 'Contact', value: this.contactFor(c.from) });
    const final = buildResponse(req, res.status, res.reason, { headers: extra, body });
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
      if (c.call.phase === 'answered' && c.call.attempt === c.at) this.hangUp(c.call, c.at, 'media-failed');
      return;
    }
    const final = buildResponse(req, res.status, res.reason, { headers: [{ name: 'Contact', value: this.contactFor(c.from) }, { name: 'Content-Type', value: SDP }], body });
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
      if (c.call.phase === 'answered' && c.call.attempt === c.at) this.hangUp(c.call, c.at, 'media-failed');
    }
  }

  /** Resends a relayed re-INVITE's 2xx, T1 doubling to T2, until the sender's ACK
   * (onAck) or 64*T1; with no ACK by then the sender is gone and the call is ended. */
  private retransmitReinviteOk(tx: ServerTransaction, ok: SipResponse, call: Call, from: DialogLeg, onAck: ((ack: SipRequest) => void) | null = null): void {
    const key = `${dialogKey(from.callId, from.localTag)}\n${parseCSeq(getHeader(ok, 'CSeq') ?? '')?.seq}`;
    const pending: PendingOk = { timer: null, onAck };
    this.reinviteOks.set(key, pending);
    const step = (intervalMs: number, elapsedMs: number): void => {
      pending.timer = setTimeout(() => {
        pending.timer = null;
        if (this.reinviteOks.get(key) !== pending) return;
        if (call.phase !== 'answered' || elapsedMs + intervalMs >= 64 * limits.t1Ms) {
          this.reinviteOks.delete(key);
          const at = call.attempt;
          if (call.phase === 'answered' && at !== null) {
            this.o.log.warn('no ACK for a re-INVITE 2xx; ending call', { callId: call.callId });
            this.hangUp(call, at, 'no-ack');
          }
          return;
        }
        tx.respond(ok);
        step(Math.min(intervalMs * 2, limits.t2Ms), elapsedMs + intervalMs);
      }, intervalMs);
    };
    step(limits.t1Ms, 0);
  }

  // ---- routing ----

  private async route(call: Call): Promise<void> {
    await this.o.reconciled;
    for (;;) {
      const routeStartMs = performance.now();
      if (call.phase !== 'routing') return;
      if (call.attemptCount >= limits.routeAttemptsMax || call.offered.size >= limits.routeAttemptsMax) return this.endCall(call, 'no-agent', 'node', 480, 'Temporarily Unavailable');
      const req = { skill: call.service.skill, minLevel: call.service.minLevel, exclude: call.tried, nowMs: Date.now() };
      const dn = await this.pickDn(call, req);
      if (call.phase !== 'routing') return;
      if (dn === null) return this.enqueue(call);
      call.tried.add(dn);
      call.attemptCount++;
      const reservationId = randomUUID();
      const ttlMs = Math.min(this.o.ringTimeoutMs + limits.reservationTtlMarginMs, limits.reservationTtlMsMax);
      let res;
      this.observePhase('route', routeStartMs);
      const reserveStartMs = performance.now();
      try {
        // If this node dies before the answer is confirmed, the grant expires; the agent then
        // waits out the orphan hold too, as its phone may hold the call (see node.ts).
        res = await this.o.shards.command(dn, { type: 'reserve', dn, reservationId, callId: call.callId, owner: this.o.nodeId, ttlMs, orphanHoldMs: this.o.orphanHoldMs }, { deadlineMs: limits.shardCommandDeadlineMs });
      } catch (err) {
        this.observePhase('reserve', reserveStartMs);
        this.o.metrics.reservations.inc({ result: 'error' });
        this.o.log.warn('reserve failed', { dn, callId: call.callId, error: (err as Error).message });
        // The grant may exist: release it by id (a no-op if it never happened).
        if (err instanceof ShardClientError && err.maybeApplied) void this.release(dn, reservationId, 'failed');
        call.attempts.push({ dn, outcome: 'reserve-error' });
        this.o.metrics.reroutes.inc({ reason: 'reserve-error' });
        continue;
      }
      this.observePhase('reserve', reserveStartMs);
      if (!res.ok || res.type !== 'reserved') {
        this.o.metrics.reservations.inc({ result: 'denied' });
        call.attempts.push({ dn, outcome: `denied:${res.ok ? res.type : res.code}` });
        this.o.metrics.reroutes.inc({ reason: 'denied' });
        continue;
      }
      this.o.metrics.reservations.inc({ result: 'granted' });
      if (call.phase !== 'routing') {
        // The caller hung up while the grant was committing.
        void this.release(dn, reservationId, 'abandoned');
        call.attempts.push({ dn, outcome: 'abandoned' });
        return;
      }
      const now = Date.now();
      const contact = res.agent.contacts.find((c) => c.expiresAtMs > now);
      const target = contact === undefined ? null : targetOfUri(contact.uri);
      call.offered.add(dn);
      if (contact === undefined || target === null) {
        void this.release(dn, reservationId, 'failed');
        call.attempts.push({ dn, outcome: 'no-contact' });
        this.o.metrics.reroutes.inc({ reason: 'no-contact' });
        continue;
      }
      // The grant's TTL ran from the shard's commit; counting it from before the reserve
      // was sent keeps this node's idea of it on the safe side.
      if (await this.inviteAgent(call, dn, reservationId, contact.uri, target, reserveStartMs + ttlMs)) return;
    }
  }

  /** The DN to reserve next (null: queue the call). The webhook, when configured, is
   * asked first; whatever it cannot answer usefully the built-in router decides. */
  private async pickDn(call: Call, req: RouteRequest): Promise<string | null> {
    const hook = this.o.webhook;
    if (hook === undefined || hook === null) return this.o.router.pick(req);
    const answer = await hook.ask({
      callId: call.callId,
      from: call.from,
      to: uriOf(getHeader(call.invite, 'To') ?? '') ?? '',
      service: call.service.number,
      skill: req.skill,
      minLevel: req.minLevel,
      exclude: [...req.exclude],
      attempt: call.attempts.length + 1,
      node: this.o.nodeId,
    });
    let result: WebhookResult;
    if (answer.result === 'queue') {
      this.o.metrics.routingWebhook.inc({ result: 'queue' });
      this.webhookQueuedAtMs.set(call.key, performance.now());
      return null;
    }
    if (answer.result === 'dn') {
      const verdict = vetWebhookDn(answer.dn, req, this.o.view.get(answer.dn));
      if (verdict === 'ok') {
        this.o.metrics.routingWebhook.inc({ result: 'accepted' });
        this.webhookQueuedAtMs.delete(call.key);
        return answer.dn;
      }
      result = verdict;
      this.warnOnce(result, 'routing webhook chose an unusable DN; built-in router decides', { dn: answer.dn, callId: call.callId });
    } else {
      result = answer.result;
      this.warnOnce(result, 'routing webhook gave no usable answer; built-in router decides', { detail: answer.detail, callId: call.callId });
    }
    this.o.metrics.routingWebhook.inc({ result });
    this.webhookQueuedAtMs.delete(call.key);
    return this.o.router.pick({ ...req, nowMs: Date.now() });
  }

  /** A warning at most once a second per kind: a dead webhook must not flood the log
   * (the metric counts every case). */
  private warnOnce(kind: string, msg: string, fields: Record<string, unknown>): void {
    const now = performance.now();
    if (now - (this.warnedAtMs.get(kind) ?? -Infinity) < limits.routingWebhookWarnIntervalMs) return;
    this.warnedAtMs.set(kind, now);
    this.o.log.warn(msg, { code: SipNodeErrorCode.ROUTING_WEBHOOK, result: kind, ...fields });
  }

  private enqueue(call: Call): void {
    const now = performance.now();
    if (call.firstQueuedAtMs === null) {
      call.firstQueuedAtMs = now;
      call.queueTimer = setTimeout(() => {
        call.queueTimer = null;
        if (call.phase === 'queued' || call.phase === 'routing') this.endCall(call, 'queue-timeout', 'node', 480, 'Temporarily Unavailable');
      }, this.o.queueWaitMs);
    }
    // Agents that only denied the reservation (busy with another call) may take it later.
    call.tried.clear();
    for (const dn of call.offered) call.tried.add(dn);
    call.attemptCount = 0;
    const added = this.queue.add({ key: call.key, skill: call.service.skill, minLevel: call.service.minLevel, enqueuedAtMs: call.firstQueuedAtMs, tried: call.offered });
    if (!added) return this.endCall(call, 'queue-full', 'node', 503, 'Service Unavailable');
    call.phase = 'queued';
    if (!call.sent182 && !call.finalSent) {
      call.sent182 = true;
      call.inviteTx.respond(buildResponse(call.invite, 182, 'Queued', { toTag: call.callerLeg.localTag }));
    }
  }

  /** Allocates media and INVITEs the agent; false when the attempt failed at once and
   * routing should go on. */
  private async inviteAgent(call: Call, dn: string, reservationId: string, contactUri: string, target: SipTarget, grantExpiresAtMs: number): Promise<boolean> {
    const agentCallId = generateCallId(this.transportFor(target).sentBy.host);
    const localTag = generateTag();
    const fromNa = parseNameAddr(call.callerLeg.remoteHeader);
    const localHeader = formatNameAddr({ ...(fromNa?.displayName !== undefined ? { displayName: fromNa.displayName } : {}), uri: fromNa?.uri ?? 'sip:anonymous@anonymous.invalid', params: { tag: localTag } });
    const leg: DialogLeg = {
      callId: agentCallId,
      localTag,
      localHeader,
      remoteHeader: `<sip:${dn}@${target.host}>`,
      remoteTarget: contactUri,
      routeSet: [],
      localCseq: 1,
    };
    const at: Attempt = {
      no: call.attemptCount, dn, reservationId, leg, target, mediaSession: agentCallId, tx: null,
      gotProvisional: false, cancel: null, cancelSent: false, answered: false, ack: null, ringTimer: null, cancelGuard: null, confirming: null, invitedAtMs: 0, grantExpiresAtMs, call,
    };
    call.attempt = at;
    let sdp: string;
    try {
      sdp = (await this.o.media.offer(at.mediaSession, localTag, Buffer.from(call.invite.body).toString('utf8'))).sdp;
    } catch (err) {
      this.o.log.warn('media offer failed', { callId: call.callId, error: (err as Error).message });
      this.finishAttempt(call, at, 'failed');
      this.endCall(call, 'failed', 'node', 503, 'Media Unavailable');
      return true;
    }
    if (call.phase !== 'routing' || at.call === null) {
      this.finishAttempt(call, at, 'abandoned');
      return true;
    }
    const body = Buffer.from(sdp, 'utf8');
    const headers: SipHeader[] = [
      { name: 'Max-Forwards', value: '70' },
      { name: 'From', value: leg.localHeader },
      { name: 'To', value: leg.remoteHeader },
      { name: 'Call-ID', value: agentCallId },
      { name: 'CSeq', value: '1 INVITE' },
      { name: 'Contact', value: this.contactFor(leg) },
      { name: 'Allow', value: 'INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE' },
      { name: 'Content-Type', value: SDP },
      { name: 'Content-Length', value: String(body.length) },
    ];
    const invite: SipRequest = { kind: 'request', method: 'INVITE', uri: contactUri, headers, body };
    this.dialogs.set(dialogKey(agentCallId, localTag), { call, side: 'agent', leg });
    this.bySession.set(at.mediaSession, call);
    call.phase = 'ringing';
    try {
      at.invitedAtMs = performance.now();
      at.tx = this.o.layer.sendRequest(invite, target, this.agentListener(at));
    } catch (err) {
      this.o.log.warn('agent INVITE not sent', { dn, error: (err as Error).message });
      this.finishAttempt(call, at, 'failed');
      call.phase = 'routing';
      return false;
    }
    at.ringTimer = setTimeout(() => {
      at.ringTimer = null;
      this.o.metrics.reroutes.inc({ reason: 'no-answer' });
      this.cancelAttempt(call, at, 'no-answer');
    }, this.o.ringTimeoutMs);
    return true;
  }

  /** Made outside inviteAgent: V8 gives all closures of one scope one shared context, so
   * an arrow made there would hold `call` (which the ring timer's closure captures) for
   * as long as the transaction keeps its callback. */
  private agentListener(at: Attempt): (ev: ClientEvent) => void {
    return (ev) => this.onAgentEvent(at, ev);
  }

  /** Events of the agent's INVITE. Once the attempt is done (`at.call` null) only what the
   * phone is still owed happens: the CANCEL, or an ACK and a BYE for a late 2xx. */
  private onAgentEvent(at: Attempt, ev: ClientEvent): void {
    const call = at.call;
    if (ev.type === 'provisional') {
      at.gotProvisional = true;
      if (at.cancel !== null && !at.cancelSent) return this.sendCancel(at);
      if (call !== null && ev.response.status > 100 && at.cancel === null && call.attempt === at && call.phase === 'ringing') void this.relayProvisional(call, at, ev.response);
      return;
    }
    const res = ev.response ?? synthetic(ev);
    if (res.status >= 200 && res.status < 300) return this.onAgentOk(call, at, res, ev.type === 'final' && ev.retransmission);
    if ((ev.type === 'final' && ev.retransmission) || call === null) return;
    const outcome: ReleaseOutcome = at.cancel ?? (rejectedStatuses.has(res.status) ? 'rejected' : 'failed');
    const finished = this.finishAttempt(call, at, outcome);
    if (!finished || call.phase === 'ended' || at.cancel === 'abandoned') return;
    if (at.cancel === null) this.o.metrics.reroutes.inc({ reason: outcome === 'rejected' ? `rejected-${res.status}` : 'failed' });
    call.phase = 'routing';
    void this.route(call);
  }

  private async relayProvisional(call: Call, at: Attempt, res: SipResponse): Promise<void> {
    let body = new Uint8Array(0);
    if (res.body.length > 0) {
      try {
        body = Buffer.from(await this.o.media.answer(at.mediaSession, at.leg.localTag, tagOf(getHeader(res, 'To') ?? '') ?? '', Buffer.from(res.body).toString('utf8')));
      } catch {
        body = new Uint8Array(0); // early media lost; the ringing still goes through
      }
    }
    if (call.finalSent || call.attempt !== at || at.cancel !== null) return;
    const headers: SipHeader[] = [{ name: 'Contact', value: this.contactFor(call.callerLeg) }];
    if (body.length > 0) headers.push({ name: 'Content-Type', value: SDP });
    call.inviteTx.respond(buildResponse(call.invite, res.status, res.reason, { toTag: call.callerLeg.localTag, headers, body }));
  }

  private onAgentOk(call: Call | null, at: Attempt, res: SipResponse, retransmission: boolean): void {
    if (retransmission || at.ack !== null) {
      if (at.ack !== null) this.sendStateless(at.ack, legTarget(at.leg));
      return;
    }
    at.leg.remoteHeader = getHeader(res, 'To') ?? at.leg.remoteHeader;
    at.leg.remoteTarget = uriOf(getHeaders(res, 'Contact')[0] ?? '') ?? at.leg.remoteTarget;
    at.leg.routeSet = getHeaders(res, 'Record-Route').map((v) => uriOf(v)).filter((u): u is string => u !== null).reverse();
    const target = legTarget(at.leg);
    at.ack = ackFor2xx(at.leg, 1, { protocol: (target ?? at.target).protocol, ...this.transportFor(target ?? at.target).sentBy });
    this.sendStateless(at.ack, target);
    if (at.ringTimer !== null) clearTimeout(at.ringTimer);
    at.ringTimer = null;
    if (call === null || at.cancel !== null || call.phase === 'ended' || call.attempt !== at) {
      // Answered after we gave up on it (CANCEL crossed the 200): hang up that leg.
      this.sendBye(at.leg);
      if (call === null) return;
      this.finishAttempt(call, at, at.cancel ?? 'abandoned');
      if (at.cancel === 'no-answer' && call.phase === 'ringing' && call.attempt === null) {
        call.phase = 'routing';
        void this.route(call);
      }
      return;
    }
    call.phase = 'connecting';
    this.observePhase('agent', at.invitedAtMs);
    void this.connect(call, at, res, performance.now());
  }

  /** The agent answered: rewrite its SDP, answer the caller, and confirm on the shard.
   * The committed grant already makes the agent ours (DESIGN.md: 200 relayed → ACK →
   * confirm), so the confirm commit stays off the caller's setup path; until it lands the
   * grant's TTL still runs, and a release waits for it (see finishAttempt). */
  private async connect(call: Call, at: Attempt, res: SipResponse, agentOkAtMs: number): Promise<void> {
    let sdp: string;
    try {
      sdp = await this.o.media.answer(at.mediaSession, at.leg.localTag, tagOf(at.leg.remoteHeader) ?? '', Buffer.from(res.body).toString('utf8'));
    } catch (err) {
      this.o.log.warn('media answer failed', { callId: call.callId, error: (err as Error).message });
      this.sendBye(at.leg);
      this.finishAttempt(call, at, 'failed');
      return this.endCall(call, 'failed', 'node', 503, 'Media Unavailable');
    }
    if (call.phase !== 'connecting' || at.call === null) {
      this.sendBye(at.leg);
      this.finishAttempt(call, at, 'abandoned');
      return;
    }
    at.answered = true;
    call.phase = 'answered';
    call.answeredAtMs = performance.now();
    call.answeredAt = new Date();
    this.o.metrics.callsAnswered.inc();
    this.o.metrics.setupSeconds.observe((call.answeredAtMs - call.startedAtMs) / 1000);
    if (call.queueTimer !== null) clearTimeout(call.queueTimer);
    const body = Buffer.from(sdp, 'utf8');
    call.ok = buildResponse(call.invite, 200, 'OK', {
      toTag: call.callerLeg.localTag,
      headers: [{ name: 'Contact', value: this.contactFor(call.callerLeg) }, { name: 'Content-Type', value: SDP }],
      body,
    });
    call.finalSent = true;
    call.inviteTx.respond(call.ok);
    this.observePhase('answer', agentOkAtMs);
    this.retransmitOk(call, limits.t1Ms, 0);
    at.confirming = this.confirm(call, at);
  }

  /** Turns the grant into a call on the shard (RESERVED → BUSY). A confirm is idempotent,
   * so an unknown outcome (no leader, a timeout) is retried while the grant can still be
   * alive. If the shard refuses it, or the grant's TTL passes first, the grant is gone —
   * expired, or released by reconciliation — and the agent may be offered another call,
   * so this call must not go on: both legs are hung up. */
  private async confirm(call: Call, at: Attempt): Promise<void> {
    let confirmed = false;
    const startMs = performance.now();
    for (let attempt = 0; ; attempt++) {
      const leftMs = at.grantExpiresAtMs - performance.now();
      if (leftMs <= 0 || this.closed) break;
      try {
        const r = await this.o.shards.command(at.dn, { type: 'confirm', dn: at.dn, reservationId: at.reservationId }, { deadlineMs: Math.min(limits.shardCommandDeadlineMs, leftMs) });
        confirmed = r.ok;
        if (!r.ok) this.o.log.warn('confirm refused', { dn: at.dn, callId: call.callId, code: r.code });
        break;
      } catch (err) {
        this.o.log.warn('confirm outcome unknown; retrying', { dn: at.dn, callId: call.callId, attempt, error: (err as Error).message });
        if (at.call === null || call.phase !== 'answered') break;
        await new Promise((r) => setTimeout(r, Math.min(limits.confirmRetryBackoffMsMax, limits.confirmRetryBackoffMsMin * 2 ** attempt)));
      }
    }
    this.observePhase('confirm', startMs);
    if (this.closed) return;
    if (confirmed || at.call === null || call.attempt !== at || call.phase !== 'answered') return;
    this.o.metrics.callsFailed.inc({ reason: 'confirm-failed' });
    this.sendBye(call.callerLeg);
    this.sendBye(at.leg);
    this.finishAttempt(call, at, 'failed');
    this.endCall(call, 'confirm-failed', 'node');
  }

  private observePhase(phase: SetupPhase, sinceMs: number): void {
    this.o.metrics.setupPhaseSeconds[phase].observe((performance.now() - sinceMs) / 1000);
  }

  private retransmitOk(call: Call, intervalMs: number, elapsedMs: number): void {
    call.okTimer = setTimeout(() => {
      call.okTimer = null;
      if (call.acked || call.phase !== 'answered' || call.ok === null) return;
      if (elapsedMs + intervalMs >= 64 * limits.t1Ms) {
        // No ACK: the caller is gone (RFC 3261 §13.3.1.4): end the call.
        const at = call.attempt;
        this.sendBye(call.callerLeg);
        if (at !== null) {
          this.sendBye(at.leg);
          this.finishAttempt(call, at, 'completed');
        }
        return this.endCall(call, 'no-ack', 'node');
      }
      call.inviteTx.respond(call.ok);
      this.retransmitOk(call, Math.min(intervalMs * 2, limits.t2Ms), elapsedMs + intervalMs);
    }, intervalMs);
  }

  // ---- ending things ----

  /** CANCELs the agent leg (once). The reservation is released when the leg's final
   * response arrives, or after cancelFinalWaitMs at the latest. */
  private cancelAttempt(call: Call, at: Attempt, reason: ReleaseOutcome): void {
    if (at.call === null || at.cancel !== null) return;
    at.cancel = reason;
    if (at.ringTimer !== null) clearTimeout(at.ringTimer);
    at.ringTimer = null;
    if (at.gotProvisional) this.sendCancel(at);
    at.cancelGuard = setTimeout(() => {
      at.cancelGuard = null;
      if (!this.finishAttempt(call, at, reason)) return;
      if (reason === 'no-answer' && call.phase === 'ringing') {
        call.phase = 'routing';
        void this.route(call);
      }
    }, limits.cancelFinalWaitMs);
  }

  private sendCancel(at: Attempt): void {
    if (at.tx === null || at.cancelSent) return;
    at.cancelSent = true;
    try {
      this.o.layer.sendRequest(buildCancel(at.tx.request), at.target, () => undefined);
    } catch (err) {
      this.o.log.warn('CANCEL not sent', { dn: at.dn, error: (err as Error).message });
    }
  }

  /** Ends an attempt once: timers stopped, media deleted, reservation released. Returns
   * false when it had already ended. */
  private finishAttempt(call: Call, at: Attempt, outcome: ReleaseOutcome): boolean {
    if (at.call === null) return false;
    at.call = null;
    if (at.ringTimer !== null) clearTimeout(at.ringTimer);
    if (at.cancelGuard !== null) clearTimeout(at.cancelGuard);
    at.ringTimer = at.cancelGuard = null;
    this.bySession.delete(at.mediaSession);
    void this.o.media.delete(at.mediaSession);
    // A release overtaking the confirm would end a RESERVED grant as if never answered
    // (no wrap-up, no call counted) and the confirm would then be refused: wait for it.
    void this.release(at.dn, at.reservationId, outcome, at.confirming);
    call.attempts.push({ dn: at.dn, outcome });
    if (call.attempt === at) call.attempt = null;
    this.endLeg(dialogKey(at.leg.callId, at.leg.localTag), 'agent');
    return true;
  }

  /** Releases a grant, retrying while the outcome is unknown; a stale answer means the
   * shard already ended it (TTL expiry), which is just as good. */
  private async release(dn: string, reservationId: string, outcome: ReleaseOutcome, after: Promise<void> | null = null): Promise<void> {
    if (after !== null) await after;
    for (let i = 0; i < limits.releaseTriesMax; i++) {
      try {
        await this.o.shards.command(dn, { type: 'release', dn, reservationId, outcome }, { deadlineMs: limits.shardCommandDeadlineMs });
        return;
      } catch (err) {
        if (this.closed) return;
        this.o.log.warn('release failed; retrying', { dn, reservationId, error: (err as Error).message });
        await new Promise((r) => setTimeout(r, Math.min(limits.releaseRetryBackoffMsMax, limits.releaseRetryBackoffMsMin * 2 ** i)));
      }
    }
    this.o.log.error('release gave up; the reservation TTL will end it', { dn, reservationId });
  }

  private endCall(call: Call, outcome: string, endedBy: 'caller' | 'agent' | 'node', status?: number, reason?: string): void {
    if (call.phase === 'ended') return;
    const wasAnswered = call.phase === 'answered';
    call.phase = 'ended';
    this.queue.remove(call.key);
    if (call.queueTimer !== null) clearTimeout(call.queueTimer);
    if (call.okTimer !== null) clearTimeout(call.okTimer);
    call.queueTimer = call.okTimer = null;
    if (!call.finalSent && status !== undefined) {
      call.finalSent = true;
      call.inviteTx.respond(buildResponse(call.invite, status, reason ?? 'Error', { toTag: call.callerLeg.localTag }));
      if (outcome !== 'abandoned') this.o.metrics.callsFailed.inc({ reason: outcome });
    }
    const now = performance.now();
    const at = call.attempt;
    this.o.cdr.write({
      node: this.o.nodeId,
      callId: call.callId,
      service: call.service.number,
      skill: call.service.skill,
      from: call.from,
      dn: wasAnswered ? (at?.dn ?? lastDn(call)) : null,
      agentCallId: wasAnswered ? (at?.leg.callId ?? null) : null,
      startedAt: call.startedAt.toISOString(),
      answeredAt: call.answeredAt?.toISOString() ?? null,
      endedAt: new Date().toISOString(),
      setupMs: call.answeredAtMs === null ? null : Math.round(call.answeredAtMs - call.startedAtMs),
      talkMs: call.answeredAtMs === null ? 0 : Math.round(now - call.answeredAtMs),
      queuedMs: call.firstQueuedAtMs === null ? 0 : Math.round((call.answeredAtMs ?? now) - call.firstQueuedAtMs),
      outcome,
      endedBy,
      attempts: call.attempts,
    });
    this.calls.delete(call.key);
    this.webhookQueuedAtMs.delete(call.key);
    this.endLeg(dialogKey(call.callerLeg.callId, call.callerLeg.localTag), 'caller');
  }

  private onMediaLost(session: string, reason: MediaLostReason): void {
    const call = this.bySession.get(session);
    const at = call?.attempt;
    if (call === undefined || at === null || at === undefined || at.mediaSession !== session) return;
    this.o.log.warn('media lost; ending call', { callId: call.callId, reason });
    if (call.phase === 'answered') return this.hangUp(call, at, reason);
    this.cancelAttempt(call, at, 'failed');
    this.endCall(call, reason, 'node', 503, 'Media Unavailable');
  }

  /** The node ends an answered call: BYE on both legs, agent released, CDR written. */
  private hangUp(call: Call, at: Attempt, outcome: string): void {
    this.sendBye(call.callerLeg);
    this.sendBye(at.leg);
    this.finishAttempt(call, at, 'completed');
    this.endCall(call, outcome, 'node');
  }

  // ---- sending ----

  private sendBye(leg: DialogLeg): void {
    const target = legTarget(leg);
    if (target === null) return;
    try {
      this.o.layer.sendRequest(inDialogRequest(leg, 'BYE'), target, () => undefined);
    } catch (err) {
      this.o.log.warn('BYE not sent', { callId: leg.callId, error: (err as Error).message });
    }
  }

  /** The ACK for a leg's 2xx to our INVITE numbered `cseq`, with an SDP answer when
   * the 2xx carried the offer. */
  private ackFor(leg: DialogLeg, cseq: number, answer?: Uint8Array): SipRequest {
    const target = legTarget(leg);
    const t = target === null ? this.o.transports[0]! : this.transportFor(target);
    const ack = ackFor2xx(leg, cseq, { protocol: t.protocol, ...t.sentBy });
    if (answer === undefined || answer.length === 0) return ack;
    const headers = ack.headers.filter((h) => h.name.toLowerCase() !== 'content-length');
    return { ...ack, headers: [...headers, { name: 'Content-Type', value: SDP }, { name: 'Content-Length', value: String(answer.length) }], body: answer };
  }

  private sendStateless(msg: SipRequest, target: SipTarget | null): void {
    if (target === null) return;
    this.o.layer.sendStateless(msg, target).catch(() => undefined);
  }

  private transportFor(target: SipTarget): SipTransport {
    return this.o.transports.find((t) => t.protocol === target.protocol) ?? this.o.transports[0]!;
  }

  /** Our Contact for a leg: the transport that leg uses. */
  private contactFor(leg: DialogLeg): string {
    const target = legTarget(leg);
    const t = target === null ? this.o.transports[0]! : this.transportFor(target);
    const host = t.sentBy.host.includes(':') ? `[${t.sentBy.host}]` : t.sentBy.host;
    return `<sip:ringfence@${host}:${t.sentBy.port}${t.protocol === 'TCP' ? ';transport=tcp' : ''}>`;
  }

  close(): void {
    this.closed = true;
    clearInterval(this.sweepTimer);
    for (const p of this.reinviteOks.values()) if (p.timer !== null) clearTimeout(p.timer);
    this.reinviteOks.clear();
    for (const call of this.calls.values()) {
      if (call.queueTimer !== null) clearTimeout(call.queueTimer);
      if (call.okTimer !== null) clearTimeout(call.okTimer);
      const at = call.attempt;
      if (at?.ringTimer) clearTimeout(at.ringTimer);
      if (at?.cancelGuard) clearTimeout(at.cancelGuard);
    }
  }
}

const optionsHeaders: readonly SipHeader[] = [
  { name: 'Allow', value: 'INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE' },
  { name: 'Accept', value: SDP },
];

function isSdp(msg: SipRequest | SipResponse): boolean {
  return msg.body.length > 0 && (getHeader(msg, 'Content-Type') ?? '').split(';')[0]!.trim().toLowerCase() === SDP;
}

function dialogKey(callId: string, localTag: string): string {
  return `${callId}\n${localTag}`;
}

function lastDn(call: Call): string | null {
  return call.attempts[call.attempts.length - 1]?.dn ?? null;
}

/** A transaction timeout or transport error with no response attached: a local 408/503. */
function synthetic(ev: ClientEvent): SipResponse {
  const status = ev.type === 'timeout' ? 408 : 503;
  return { kind: 'response', status, reason: status === 408 ? 'Request Timeout' : 'Service Unavailable', headers: [], body: new Uint8Array(0) };
}

export type { SipSource };
