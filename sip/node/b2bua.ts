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
import type { SipNodeMetrics } from './metrics.js';
import { CallQueue } from './queue.js';
import type { AgentView, Router } from './router.js';
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
  queueWaitMs: number;
  /** Resolves once the node has released what it owned before a restart. */
  reconciled: Promise<void>;
}>;

type LegRef = Readonly<{ call: Call; side: 'caller' | 'agent' }>;

const SDP = 'application/sdp';
const rejectedStatuses = new Set([486, 480, 603, 600]);

export class B2bua {
  private readonly calls = new Map<string, Call>();
  private readonly dialogs = new Map<string, LegRef>();
  private readonly bySession = new Map<string, Call>();
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

  /** Wakes queued calls for which the view shows an eligible agent (a READY change may
   * have arrived while the call was being routed and so missed it). */
  private sweepQueue(): void {
    for (const q of [...this.queue.list()]) {
      const call = this.calls.get(q.key);
      if (call === undefined || call.phase !== 'queued') continue;
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
      return void tx.respond(buildResponse(req, 503, 'Service Unavailable', { headers: [{ name: 'Retry-After', value: '5' }] }));
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
    this.dialogs.set(dialogKey(callerLeg.callId, localTag), { call, side: 'caller' });
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
    if (at !== null && !at.done) this.cancelAttempt(call, at, 'abandoned');
    this.endCall(call, 'abandoned', 'caller', 487, 'Request Terminated');
  }

  onAck(ack: SipRequest): void {
    const ref = this.dialogs.get(dialogKey(getHeader(ack, 'Call-ID') ?? '', tagOf(getHeader(ack, 'To') ?? '') ?? ''));
    if (ref === undefined || ref.side !== 'caller') return;
    const cseq = parseCSeq(getHeader(ack, 'CSeq') ?? '')?.seq;
    const inviteSeq = parseCSeq(getHeader(ref.call.invite, 'CSeq') ?? '')?.seq;
    if (cseq !== inviteSeq) return; // the ACK of a relayed re-INVITE: we ACKed the other side already
    ref.call.acked = true;
    if (ref.call.okTimer !== null) clearTimeout(ref.call.okTimer);
    ref.call.okTimer = null;
  }

  /** BYE, re-INVITE, INFO, UPDATE, ... inside one of our dialogs. */
  onInDialog(tx: ServerTransaction, req: SipRequest): void {
    const ref = this.dialogs.get(dialogKey(getHeader(req, 'Call-ID') ?? '', tagOf(getHeader(req, 'To') ?? '') ?? ''));
    if (ref === undefined) return void tx.respond(buildResponse(req, 481, 'Call/Transaction Does Not Exist'));
    const { call, side } = ref;
    if (req.method === 'BYE') return this.onBye(tx, req, call, side);
    const at = call.attempt;
    if (call.phase !== 'answered' || at === null) return void tx.respond(buildResponse(req, 491, 'Request Pending'));
    const other = side === 'caller' ? at.leg : call.callerLeg;
    this.relay(tx, req, other);
  }

  private onBye(tx: ServerTransaction, req: SipRequest, call: Call, side: 'caller' | 'agent'): void {
    tx.respond(buildResponse(req, 200, 'OK'));
    const at = call.attempt;
    if (call.phase !== 'answered' || at === null) {
      // A BYE before the answer (an early-dialog BYE from the caller) abandons the call.
      if (side === 'caller' && call.phase !== 'ended') {
        this.o.metrics.callsAbandoned.inc();
        if (at !== null && !at.done) this.cancelAttempt(call, at, 'abandoned');
        this.endCall(call, 'abandoned', 'caller', 487, 'Request Terminated');
      }
      return;
    }
    this.sendBye(side === 'caller' ? at.leg : call.callerLeg);
    this.finishAttempt(call, at, 'completed');
    this.endCall(call, 'completed', side);
  }

  /** Passes an in-dialog request to the other leg and its final answer back. */
  private relay(tx: ServerTransaction, req: SipRequest, other: DialogLeg): void {
    const headers: SipHeader[] = [];
    for (const name of ['Content-Type', 'Content-Disposition', 'Event', 'Subscription-State', 'Info-Package']) {
      const v = getHeader(req, name);
      if (v !== undefined) headers.push({ name, value: v });
    }
    const out = inDialogRequest(other, req.method, { body: req.body, headers, contact: req.method === 'INVITE' ? this.contactFor(other) : undefined });
    const target = legTarget(other);
    if (target === null) return void tx.respond(buildResponse(req, 502, 'Bad Gateway'));
    const seq = other.localCseq;
    try {
      this.o.layer.sendRequest(out, target, (ev) => {
        if (ev.type === 'provisional') return;
        const res = ev.response ?? synthetic(ev);
        if (ev.type === 'final' && ev.retransmission) return;
        if (req.method === 'INVITE' && res.status >= 200 && res.status < 300) this.sendAck(other, seq);
        const extra: SipHeader[] = [];
        const ct = getHeader(res, 'Content-Type');
        if (ct !== undefined) extra.push({ name: 'Content-Type', value: ct });
        if (req.method === 'INVITE' && res.status < 300) extra.push({ name: 'Contact', value: this.contactFor(other) });
        tx.respond(buildResponse(req, res.status, res.reason, { headers: extra, body: res.body }));
      });
    } catch {
      tx.respond(buildResponse(req, 503, 'Service Unavailable'));
    }
  }

  // ---- routing ----

  private async route(call: Call): Promise<void> {
    await this.o.reconciled;
    for (;;) {
      if (call.phase !== 'routing') return;
      if (call.attemptCount >= limits.routeAttemptsMax || call.offered.size >= limits.routeAttemptsMax) return this.endCall(call, 'no-agent', 'node', 480, 'Temporarily Unavailable');
      const req = { skill: call.service.skill, minLevel: call.service.minLevel, exclude: call.tried, nowMs: Date.now() };
      const dn = this.o.router.pick(req);
      if (dn === null) return this.enqueue(call);
      call.tried.add(dn);
      call.attemptCount++;
      const reservationId = randomUUID();
      const ttlMs = Math.min(this.o.ringTimeoutMs + limits.reservationTtlMarginMs, 600_000);
      let res;
      try {
        res = await this.o.shards.command(dn, { type: 'reserve', dn, reservationId, callId: call.callId, owner: this.o.nodeId, ttlMs }, { deadlineMs: limits.shardCommandDeadlineMs });
      } catch (err) {
        this.o.metrics.reservations.inc({ result: 'error' });
        this.o.log.warn('reserve failed', { dn, callId: call.callId, error: (err as Error).message });
        // The grant may exist: release it by id (a no-op if it never happened).
        if (err instanceof ShardClientError && err.maybeApplied) void this.release(dn, reservationId, 'failed');
        call.attempts.push({ dn, outcome: 'reserve-error' });
        this.o.metrics.reroutes.inc({ reason: 'reserve-error' });
        continue;
      }
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
      if (await this.inviteAgent(call, dn, reservationId, contact.uri, target)) return;
    }
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
  private async inviteAgent(call: Call, dn: string, reservationId: string, contactUri: string, target: SipTarget): Promise<boolean> {
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
      gotProvisional: false, cancel: null, cancelSent: false, answered: false, done: false, ack: null, ringTimer: null, cancelGuard: null,
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
    if (call.phase !== 'routing' || at.done) {
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
    this.dialogs.set(dialogKey(agentCallId, localTag), { call, side: 'agent' });
    this.bySession.set(at.mediaSession, call);
    call.phase = 'ringing';
    try {
      at.tx = this.o.layer.sendRequest(invite, target, (ev) => this.onAgentEvent(call, at, ev));
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

  private onAgentEvent(call: Call, at: Attempt, ev: ClientEvent): void {
    if (ev.type === 'provisional') {
      at.gotProvisional = true;
      if (at.cancel !== null && !at.cancelSent) return this.sendCancel(at);
      if (ev.response.status > 100 && at.cancel === null && call.attempt === at && call.phase === 'ringing') void this.relayProvisional(call, at, ev.response);
      return;
    }
    const res = ev.response ?? synthetic(ev);
    if (res.status >= 200 && res.status < 300) return this.onAgentOk(call, at, res, ev.type === 'final' && ev.retransmission);
    if (ev.type === 'final' && ev.retransmission) return;
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

  private onAgentOk(call: Call, at: Attempt, res: SipResponse, retransmission: boolean): void {
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
    if (at.done || at.cancel !== null || call.phase === 'ended' || call.attempt !== at) {
      // Answered after we gave up on it (CANCEL crossed the 200): hang up that leg.
      this.sendBye(at.leg);
      const wasDone = at.done;
      this.finishAttempt(call, at, at.cancel ?? 'abandoned');
      if (!wasDone && at.cancel === 'no-answer' && call.phase === 'ringing' && call.attempt === null) {
        call.phase = 'routing';
        void this.route(call);
      }
      return;
    }
    call.phase = 'connecting';
    void this.connect(call, at, res);
  }

  /** The agent answered: rewrite its SDP, confirm on the shard, then answer the caller. */
  private async connect(call: Call, at: Attempt, res: SipResponse): Promise<void> {
    let sdp: string;
    try {
      sdp = await this.o.media.answer(at.mediaSession, at.leg.localTag, tagOf(at.leg.remoteHeader) ?? '', Buffer.from(res.body).toString('utf8'));
    } catch (err) {
      this.o.log.warn('media answer failed', { callId: call.callId, error: (err as Error).message });
      this.sendBye(at.leg);
      this.finishAttempt(call, at, 'failed');
      return this.endCall(call, 'failed', 'node', 503, 'Media Unavailable');
    }
    let confirmed = false;
    try {
      const r = await this.o.shards.command(at.dn, { type: 'confirm', dn: at.dn, reservationId: at.reservationId }, { deadlineMs: limits.shardCommandDeadlineMs });
      confirmed = r.ok;
      if (!r.ok) this.o.log.warn('confirm refused', { dn: at.dn, code: r.code });
    } catch (err) {
      this.o.log.warn('confirm failed', { dn: at.dn, error: (err as Error).message });
    }
    if (!confirmed) {
      // The grant is gone (expired) or unknown: the agent may already be offered another
      // call, so this leg must not go on.
      this.sendBye(at.leg);
      this.finishAttempt(call, at, 'failed');
      if (call.phase === 'connecting') {
        call.phase = 'routing';
        this.o.metrics.reroutes.inc({ reason: 'confirm-failed' });
        void this.route(call);
      }
      return;
    }
    if (call.phase !== 'connecting') {
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
    this.retransmitOk(call, limits.t1Ms, 0);
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
    if (at.done || at.cancel !== null) return;
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
    if (at.done) return false;
    at.done = true;
    if (at.ringTimer !== null) clearTimeout(at.ringTimer);
    if (at.cancelGuard !== null) clearTimeout(at.cancelGuard);
    at.ringTimer = at.cancelGuard = null;
    this.bySession.delete(at.mediaSession);
    void this.o.media.delete(at.mediaSession);
    void this.release(at.dn, at.reservationId, outcome);
    call.attempts.push({ dn: at.dn, outcome });
    if (call.attempt === at) call.attempt = null;
    // Keep the dialog a little so a late 200/BYE from the phone is still matched.
    setTimeout(() => this.dialogs.delete(dialogKey(at.leg.callId, at.leg.localTag)), 32_000).unref();
    return true;
  }

  /** Releases a grant, retrying while the outcome is unknown; a stale answer means the
   * shard already ended it (TTL expiry), which is just as good. */
  private async release(dn: string, reservationId: string, outcome: ReleaseOutcome): Promise<void> {
    for (let i = 0; i < 10; i++) {
      try {
        await this.o.shards.command(dn, { type: 'release', dn, reservationId, outcome }, { deadlineMs: limits.shardCommandDeadlineMs });
        return;
      } catch (err) {
        if (this.closed) return;
        this.o.log.warn('release failed; retrying', { dn, reservationId, error: (err as Error).message });
        await new Promise((r) => setTimeout(r, Math.min(2000, 100 * 2 ** i)));
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
    setTimeout(() => this.dialogs.delete(dialogKey(call.callerLeg.callId, call.callerLeg.localTag)), 32_000).unref();
  }

  private onMediaLost(session: string, reason: MediaLostReason): void {
    const call = this.bySession.get(session);
    const at = call?.attempt;
    if (call === undefined || at === null || at === undefined || at.mediaSession !== session) return;
    this.o.log.warn('media lost; ending call', { callId: call.callId, reason });
    if (call.phase === 'answered') {
      this.sendBye(call.callerLeg);
      this.sendBye(at.leg);
      this.finishAttempt(call, at, 'completed');
      return this.endCall(call, reason, 'node');
    }
    this.cancelAttempt(call, at, 'failed');
    this.endCall(call, reason, 'node', 503, 'Media Unavailable');
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

  private sendAck(leg: DialogLeg, cseq: number): void {
    const target = legTarget(leg);
    if (target === null) return;
    this.sendStateless(ackFor2xx(leg, cseq, { protocol: target.protocol, ...this.transportFor(target).sentBy }), target);
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
    for (const call of this.calls.values()) {
      if (call.queueTimer !== null) clearTimeout(call.queueTimer);
      if (call.okTimer !== null) clearTimeout(call.okTimer);
      const at = call.attempt;
      if (at?.ringTimer) clearTimeout(at.ringTimer);
      if (at?.cancelGuard) clearTimeout(at.cancelGuard);
    }
  }
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
