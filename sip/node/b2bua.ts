// The B2BUA: the patent's method for one call. A caller's INVITE to a service number
// gets 100 Trying; the router picks a DN; the node reserves that agent on the shard
// owning the DN and waits for the committed grant; only then does it allocate media and
// INVITE the agent's phone (new Call-ID, tags, CSeq). Denials, busy/absent/unanswered
// phones and transport errors release the agent and re-route (excluding agents already
// tried); with no agent free, or no media gateway alive, the call waits in its service's
// cluster-wide queue (182 Queued; queued-calls.ts) until the queue's shard claims an agent
// for it or the maximum wait runs out (480); a failed media offer or answer puts it back
// at its place there (call-queueing.ts afterMediaFailure). A call that has queued is only
// ever offered agents claimed for it, and a new call joins the queue while others wait,
// so no call overtakes an older one.
//
// This file is the call control on top; below it: agent acquisition (pick → reserve →
// re-route, agent-acquisition.ts), connecting an answering agent to the caller
// (call-answer.ts), the grant's confirm and release (grants.ts), the leg
// messages (leg-messages.ts, pure) and their sending (leg-sender.ts), the dialog table
// (dialog-table.ts) and the in-dialog relay (in-dialog-relay.ts). Time and timers are
// injected (a TimerService and a wall clock), as in the transaction layer.
//
// Invariants: the reservation is the only guard against offering one agent two calls;
// every grant ends in confirm→release, release, or the shard's TTL expiry (the node never
// forgets a grant it holds: finishAttempt releases with retries).
//
// The agent leg's 2xx is ACKed at once, not when the caller ACKs: the caller's offer was
// in its INVITE, so the ACK carries no SDP, and ACKing at once stops the phone's 2xx
// retransmissions whatever the caller does. The caller's 200 is retransmitted until it ACKs.

import assert from 'node:assert';
import { serviceDefinition } from '../../common/config.js';
import type { Logger } from '../../common/logger.js';
import type { ShardClient } from '../../shards/client/shard-client.js';
import type { Agent, ReleaseOutcome } from '../../shards/types.js';
import { buildResponse, generateCallId, generateTag, getHeader, getHeaders, parseCSeq, parseUri } from '../syntax/index.js';
import type { SipRequest, SipResponse } from '../syntax/index.js';
import type { ClientEvent, ServerTransaction, TransactionLayer } from '../transaction/index.js';
import type { SipTarget, SipTransport, TimerService } from '../transport/index.js';
import { AgentAcquisition } from './agent-acquisition.js';
import { CallAnswer } from './call-answer.js';
import type { CdrWriter } from './cdr.js';
import { cdrOf, clearCallTimers, moveTo, newCall, summarize, type Attempt, type Call, type CallSummary } from './call.js';
import { every, type WallClock } from './clock.js';
import type { CallEvent, CallEventSink } from './events.js';
import { ackFor2xx, learnFrom2xx, legTarget, tagOf, uriOf } from './dialog.js';
import { dialogKey, DialogTable, isEnded, legKey, type LegSide } from './dialog-table.js';
import { Grants, type Grant } from './grants.js';
import { InDialogRelay } from './in-dialog-relay.js';
import {
  agentInvite, agentLegOf, busyResponse, callerAnswer, callerLegOf, callerProvisional, inDialogOptionsHeaders, syntheticResponse,
} from './leg-messages.js';
import { LegSender } from './leg-sender.js';
import * as limits from './limits.js';
import { mediaAvailable, type MediaController, type MediaLostReason } from './media.js';
import type { SipNodeMetrics } from './metrics.js';
import type { QueueView } from './queue.js';
import { CallQueueing } from './call-queueing.js';
import { QueueCheck } from './queue-check.js';
import { QueueMedia } from './queue-media.js';
import type { QueuedCalls } from './queued-calls.js';
import type { AgentView, Router } from './router.js';
import type { RoutingWebhook } from './routing-webhook.js';
import type { ServiceDirectory } from './service-directory.js';

export type B2buaOptions = Readonly<{
  nodeId: string;
  layer: TransactionLayer;
  transports: readonly SipTransport[];
  shards: ShardClient;
  router: Router;
  view: AgentView;
  /** The cluster-wide queues as the change feeds show them. */
  queues: QueueView;
  media: MediaController;
  cdr: CdrWriter;
  metrics: SipNodeMetrics;
  log: Logger;
  /** The service definitions in force (replicated; the cluster file's until seen). */
  services: ServiceDirectory;
  /** The node's ring timeout and maximum wait, for services that set none. */
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
  /** Monotonic time and timers (SystemTimerService in production). */
  timers: TimerService;
  /** Wall-clock epoch ms (Date.now in production): contact expiries, router, CDR times. */
  now: WallClock;
  /** Hears call arrived/queued/offered/answered/abandoned/ended (events.ts; none: unheard). */
  events?: CallEventSink;
  /** How long ago a shard's change feed last showed its replica current
   * (AgentFeed.liveAgoMs): past limits.queueViewStaleMs a new call asks its queue's shard
   * whether calls wait before it takes an agent (queue-check.ts). None: the view is
   * trusted as it is. */
  feedLiveAgoMs?: (shardId: string) => number;
  /** Past this feed age a new call asks the queue's shard (default limits.queueViewStaleMs). */
  queueViewStaleMs?: number;
}>;

const rejectedStatuses = new Set([486, 480, 603, 600]);

export class B2bua {
  private readonly calls = new Map<string, Call>();
  private readonly dialogs: DialogTable;
  private readonly bySession = new Map<string, Call>();
  private readonly queueing: CallQueueing;
  readonly queued: QueuedCalls;
  readonly queueMedia: QueueMedia;
  private readonly timers: TimerService;
  private readonly sender: LegSender;
  private readonly grants: Grants;
  private readonly acquisition: AgentAcquisition;
  private readonly relay: InDialogRelay;
  private readonly queueCheck: QueueCheck | null;
  private readonly answer: CallAnswer;
  private closed = false;
  private readonly stopSweep: () => void;

  constructor(private readonly o: B2buaOptions) {
    assert(o.transports.length > 0, 'a B2BUA needs a transport');
    this.timers = o.timers;
    this.dialogs = new DialogTable({ timers: o.timers, endedLegKeepMs: o.endedLegKeepMs ?? limits.endedDialogKeepMs });
    this.sender = new LegSender({ layer: o.layer, transports: o.transports, log: o.log });
    this.grants = new Grants({ shards: o.shards, log: o.log, timers: o.timers, closed: () => this.closed });
    this.acquisition = new AgentAcquisition({
      nodeId: o.nodeId, shards: o.shards, router: o.router, view: o.view, webhook: o.webhook ?? null, grants: this.grants,
      metrics: o.metrics, log: o.log, timers: o.timers, now: o.now, ringTimeoutMs: o.ringTimeoutMs, orphanHoldMs: o.orphanHoldMs, services: o.services,
    });
    this.queueCheck = o.feedLiveAgoMs === undefined ? null : new QueueCheck({
      shards: o.shards, liveAgoMs: o.feedLiveAgoMs, log: o.log, onCheck: (outcome) => o.metrics.queueChecks.inc({ outcome }),
      ...(o.queueViewStaleMs !== undefined ? { staleMs: o.queueViewStaleMs } : {}),
    });
    this.relay = new InDialogRelay({
      layer: o.layer, sender: this.sender, media: o.media, metrics: o.metrics, log: o.log, timers: o.timers,
      hangUp: (call, at, outcome) => this.hangUp(call, at, outcome),
    });
    this.queueMedia = new QueueMedia({
      nodeId: o.nodeId, media: o.media, queues: o.queues, timers: o.timers, log: o.log,
      // The one place a queued call's announcement settings are looked up (live services swap it).
      announcementsOf: (call) => (this.o.services.get(call.service.number) ?? serviceDefinition(call.service)).announcements,
      contactFor: (call) => this.sender.contactFor(call.callerLeg),
      endCall: (call, reason) => this.endCall(call, reason, 'node', 503, 'Media Unavailable'),
    });
    this.queueing = new CallQueueing({
      nodeId: o.nodeId, shards: o.shards, view: o.view, queues: o.queues, log: o.log, now: o.now, timers: o.timers,
      queueWaitMs: o.queueWaitMs, ringTimeoutMs: o.ringTimeoutMs, services: o.services, strategy: o.router.strategy, calls: this.calls, acquisition: this.acquisition,
      closed: () => this.closed,
      events: o.events ?? null, queueAbandoned: o.metrics.queueAbandoned, mediaRequeued: o.metrics.queueMediaRequeued, mediaAvailable: () => mediaAvailable(o.media),
      endCall: (call, outcome, status, reason) => this.endCall(call, outcome, 'node', status, reason),
      inviteAgent: (call, next) => this.inviteAgent(call, next.grant, next.contactUri, next.target, next.viaSource),
      onQueued: (call) => this.queueMedia.onQueued(call),
    });
    this.queued = this.queueing.queued;
    this.answer = new CallAnswer({
      media: o.media, queueMedia: this.queueMedia, queued: this.queued, sender: this.sender, grants: this.grants, metrics: o.metrics, log: o.log,
      timers: o.timers, now: o.now, closed: () => this.closed, emit: (ev) => this.emit(ev),
      finishAttempt: (call, at, outcome) => this.finishAttempt(call, at, outcome),
      endCall: (call, outcome, endedBy) => this.endCall(call, outcome, endedBy),
      afterMediaFailure: (call, dn) => this.queueing.afterMediaFailure(call, dn),
    });
    o.media.onLost((session, reason) => this.onMediaLost(session, reason));
    // Forgets the ended legs kept long enough, then proposes claims the queue may still owe.
    this.stopSweep = every(o.timers, limits.queueSweepIntervalMs, () => {
      this.dialogs.forgetEnded();
      this.queueing.sweep();
    });
  }

  get callCount(): number {
    return this.calls.size;
  }

  listCalls(): CallSummary[] {
    return [...this.calls.values()].map(summarize);
  }

  listQueue(): { callId: string; skill: string; waitedMs: number }[] {
    return this.queueing.list();
  }

  /** An agent changed (from the change feed): a READY agent with a phone is claimed for
   * the oldest queued call it can take, whichever node holds that call. */
  onAgentChanged(agent: Agent): void {
    this.queued.onAgent(agent);
  }

  onInvite(tx: ServerTransaction, req: SipRequest): void {
    if (tagOf(getHeader(req, 'To') ?? '') !== undefined) return this.onInDialog(tx, req);
    const user = parseUri(req.uri)?.user;
    const service = user === undefined ? undefined : this.o.services.get(user);
    if (service === undefined) return void tx.respond(buildResponse(req, 404, 'Not Found'));
    if (this.closed || this.calls.size >= limits.callsMax) return void tx.respond(busyResponse(req));
    if (req.body.length === 0) return void tx.respond(buildResponse(req, 488, 'Offer Required In INVITE'));
    const from = getHeader(req, 'From') ?? '';
    const contact = uriOf(getHeaders(req, 'Contact')[0] ?? '');
    const callerLeg = callerLegOf(req, generateTag());
    const call = newCall({
      inviteTx: tx, invite: req, service, from: uriOf(from) ?? from, callerLeg,
      callerTarget: contact === null ? null : legTarget(callerLeg), startedAtMs: this.timers.now(), startedAt: new Date(this.o.now()),
    });
    assert(!this.calls.has(call.key), `call ${call.key} started twice`);
    this.calls.set(call.key, call);
    this.dialogs.add({ call, side: 'caller', leg: callerLeg });
    this.o.metrics.callsOffered.inc();
    this.emit({ type: 'call.arrived', callId: call.callId, service: service.number, from: call.from });
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
    if (this.relay.takeAck(key, cseq, ack)) return;
    if (isEnded(ref) || ref.side !== 'caller') return;
    const inviteSeq = parseCSeq(getHeader(ref.call.invite, 'CSeq') ?? '')?.seq;
    if (cseq !== inviteSeq) return; // the ACK of a relayed re-INVITE: we ACKed the other side already
    ref.call.acked = true;
    if (ref.call.okTimer !== null) this.timers.clearTimer(ref.call.okTimer);
    ref.call.okTimer = null;
  }

  /** BYE, re-INVITE, OPTIONS, INFO, UPDATE, ... inside one of our dialogs. A dialog we
   * do not know (never ours, or forgotten in a restart) gets 481, which is how a phone
   * probing its dialog with OPTIONS learns that its call is orphaned. */
  onInDialog(tx: ServerTransaction, req: SipRequest): void {
    const ref = this.dialogs.get(dialogKey(getHeader(req, 'Call-ID') ?? '', tagOf(getHeader(req, 'To') ?? '') ?? ''));
    if (ref === undefined) return void tx.respond(buildResponse(req, 481, 'Call/Transaction Does Not Exist'));
    if (isEnded(ref)) {
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
    if (req.method === 'OPTIONS') return void tx.respond(buildResponse(req, 200, 'OK', { headers: inDialogOptionsHeaders }));
    if (call.phase !== 'answered' || at === null) return void tx.respond(buildResponse(req, 491, 'Request Pending'));
    void this.relay.relay(tx, req, call, at, side);
  }

  private onBye(tx: ServerTransaction, req: SipRequest, call: Call, side: LegSide): void {
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
    this.sender.sendBye(side === 'caller' ? at.leg : call.callerLeg);
    this.finishAttempt(call, at, 'completed');
    this.endCall(call, 'completed', side);
  }

  // ---- routing ----

  /** Routes until an agent's phone rings, the call queues, or it ends. */
  private async route(call: Call): Promise<void> {
    await this.o.reconciled;
    // Once queued, a call takes only agents claimed for it (it goes back to its place);
    // a new call joins the queue while others wait for its service, or while no gateway
    // could anchor its media (it is served when one answers again).
    if (this.queued.has(call.key) || this.queued.waiting(call.service.number) || !mediaAvailable(this.o.media)) return this.queueing.enqueue(call);
    const staleShard = this.queueCheck?.staleShard(call.service.number) ?? null;
    if (staleShard !== null && (await this.queueCheck!.waitingOnShard(staleShard, call.service.number))) return this.queueing.enqueue(call);
    for (;;) {
      const next = await this.acquisition.acquire(call);
      switch (next.type) {
        case 'stopped':
          return;
        case 'give-up':
          return this.endCall(call, 'no-agent', 'node', 480, 'Temporarily Unavailable');
        case 'queue':
          return this.queueing.enqueue(call);
        case 'grant':
          if (await this.inviteAgent(call, next.grant, next.contactUri, next.target, next.viaSource)) return;
      }
    }
  }

  /** Allocates media and INVITEs the agent; false when the attempt failed at once and
   * routing should go on. */
  private async inviteAgent(call: Call, grant: Grant, contactUri: string, target: SipTarget, viaSource: boolean): Promise<boolean> {
    const agentCallId = generateCallId(this.sender.transportFor(target).sentBy.host);
    // A call with early media (queue-media.ts) keeps its one media session across attempts.
    const early = this.queueMedia.sessionOf(call);
    const localTag = early?.tag ?? generateTag();
    const leg = agentLegOf({ callerLeg: call.callerLeg, dn: grant.dn, target, contactUri, callId: agentCallId, localTag, viaSource });
    const at: Attempt = {
      no: call.attemptCount, dn: grant.dn, reservationId: grant.reservationId, leg, target, mediaSession: early?.sessionId ?? agentCallId, tx: null,
      gotProvisional: false, cancel: null, cancelSent: false, answered: false, ack: null, ringTimer: null, cancelGuard: null, confirming: null,
      invitedAtMs: 0, grantExpiresAtMs: grant.expiresAtMs, call,
    };
    call.attempt = at;
    let sdp: string;
    try {
      sdp = early !== null ? early.agentSdp : (await this.o.media.offer(at.mediaSession, localTag, Buffer.from(call.invite.body).toString('utf8'))).sdp;
    } catch (err) {
      this.o.log.warn('media offer failed', { callId: call.callId, error: (err as Error).message });
      this.finishAttempt(call, at, 'failed');
      this.queueing.afterMediaFailure(call, grant.dn);
      return true;
    }
    if (call.phase !== 'routing' || at.call === null) {
      this.finishAttempt(call, at, 'abandoned');
      return true;
    }
    const invite = agentInvite(leg, this.sender.contactFor(leg), Buffer.from(sdp, 'utf8'));
    this.dialogs.add({ call, side: 'agent', leg });
    this.bySession.set(at.mediaSession, call);
    moveTo(call, 'ringing');
    try {
      at.invitedAtMs = this.timers.now();
      at.tx = this.o.layer.sendRequest(invite, target, this.agentListener(at));
    } catch (err) {
      this.o.log.warn('agent INVITE not sent', { dn: grant.dn, error: (err as Error).message });
      this.finishAttempt(call, at, 'failed');
      moveTo(call, 'routing');
      return false;
    }
    at.ringTimer = this.timers.setTimer(this.o.services.ringTimeoutMsOf(call.service.number, this.o.ringTimeoutMs), () => {
      at.ringTimer = null;
      this.o.metrics.reroutes.inc({ reason: 'no-answer' });
      this.cancelAttempt(call, at, 'no-answer');
    });
    this.emit({ type: 'call.offered', callId: call.callId, service: call.service.number, dn: grant.dn });
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
      if (at.cancel !== null && !at.cancelSent) return this.sender.sendCancel(at);
      if (call !== null && ev.response.status > 100 && at.cancel === null && call.attempt === at && call.phase === 'ringing') void this.relayProvisional(call, at, ev.response);
      return;
    }
    const res = ev.response ?? syntheticResponse(ev);
    if (res.status >= 200 && res.status < 300) return this.onAgentOk(call, at, res, ev.type === 'final' && ev.retransmission);
    if ((ev.type === 'final' && ev.retransmission) || call === null) return;
    const outcome: ReleaseOutcome = at.cancel ?? (rejectedStatuses.has(res.status) ? 'rejected' : 'failed');
    const finished = this.finishAttempt(call, at, outcome);
    if (!finished || call.phase === 'ended' || at.cancel === 'abandoned') return;
    if (at.cancel === null) this.o.metrics.reroutes.inc({ reason: outcome === 'rejected' ? `rejected-${res.status}` : 'failed' });
    moveTo(call, 'routing');
    void this.route(call);
  }

  private async relayProvisional(call: Call, at: Attempt, res: SipResponse): Promise<void> {
    if (this.queueMedia.sessionOf(call) !== null) return; // the caller hears its music until the answer
    let body = new Uint8Array(0);
    if (res.body.length > 0) {
      try {
        body = Buffer.from(await this.o.media.answer(at.mediaSession, at.leg.localTag, tagOf(getHeader(res, 'To') ?? '') ?? '', Buffer.from(res.body).toString('utf8')));
      } catch {
        body = new Uint8Array(0); // early media lost; the ringing still goes through
      }
    }
    if (call.finalSent || call.attempt !== at || at.cancel !== null) return;
    call.inviteTx.respond(callerProvisional(call.invite, call.callerLeg, res, this.sender.contactFor(call.callerLeg), body));
  }

  private onAgentOk(call: Call | null, at: Attempt, res: SipResponse, retransmission: boolean): void {
    if (retransmission || at.ack !== null) {
      if (at.ack !== null) this.sender.sendStateless(at.ack, legTarget(at.leg));
      return;
    }
    learnFrom2xx(at.leg, res);
    const target = legTarget(at.leg);
    at.ack = ackFor2xx(at.leg, 1, { protocol: (target ?? at.target).protocol, ...this.sender.transportFor(target ?? at.target).sentBy });
    this.sender.sendStateless(at.ack, target);
    if (at.ringTimer !== null) this.timers.clearTimer(at.ringTimer);
    at.ringTimer = null;
    if (call === null || at.cancel !== null || call.phase === 'ended' || call.attempt !== at) {
      // Answered after we gave up on it (CANCEL crossed the 200): hang up that leg.
      this.sender.sendBye(at.leg);
      if (call === null) return;
      this.finishAttempt(call, at, at.cancel ?? 'abandoned');
      if (at.cancel === 'no-answer' && call.phase === 'ringing' && call.attempt === null) {
        moveTo(call, 'routing');
        void this.route(call);
      }
      return;
    }
    moveTo(call, 'connecting');
    this.answer.observePhase('agent', at.invitedAtMs);
    void this.answer.connect(call, at, res, this.timers.now());
  }

  // ---- ending things ----

  /** CANCELs the agent leg (once). The reservation is released when the leg's final
   * response arrives, or after cancelFinalWaitMs at the latest. */
  private cancelAttempt(call: Call, at: Attempt, reason: ReleaseOutcome): void {
    if (at.call === null || at.cancel !== null) return;
    at.cancel = reason;
    if (at.ringTimer !== null) this.timers.clearTimer(at.ringTimer);
    at.ringTimer = null;
    if (at.gotProvisional) this.sender.sendCancel(at);
    at.cancelGuard = this.timers.setTimer(limits.cancelFinalWaitMs, () => {
      at.cancelGuard = null;
      if (!this.finishAttempt(call, at, reason)) return;
      if ((reason === 'no-answer' || reason === 'failed') && call.phase === 'ringing') {
        moveTo(call, 'routing');
        void this.route(call);
      }
    });
  }

  /** Ends an attempt once: timers stopped, media deleted, reservation released. Returns
   * false when it had already ended. */
  private finishAttempt(call: Call, at: Attempt, outcome: ReleaseOutcome): boolean {
    if (at.call === null) return false;
    assert(at.call === call, `attempt on ${at.dn} finished for another call`);
    at.call = null;
    if (at.ringTimer !== null) this.timers.clearTimer(at.ringTimer);
    if (at.cancelGuard !== null) this.timers.clearTimer(at.cancelGuard);
    at.ringTimer = at.cancelGuard = null;
    this.bySession.delete(at.mediaSession);
    if (!this.queueMedia.owns(at.mediaSession)) void this.o.media.delete(at.mediaSession);
    // A release overtaking the confirm would end a RESERVED grant as if never answered
    // (no wrap-up, no call counted) and the confirm would then be refused: wait for it.
    void this.grants.release(at.dn, at.reservationId, outcome, at.confirming);
    call.attempts.push({ dn: at.dn, outcome });
    if (call.attempt === at) call.attempt = null;
    this.dialogs.end(legKey(at.leg), 'agent');
    return true;
  }

  private endCall(call: Call, outcome: string, endedBy: LegSide | 'node', status?: number, reason?: string): void {
    if (call.phase === 'ended') return;
    const wasAnswered = call.phase === 'answered';
    moveTo(call, 'ended');
    const endedAtMs = this.timers.now();
    this.queueing.onCallEnded(call, outcome, endedAtMs);
    if (call.okTimer !== null) this.timers.clearTimer(call.okTimer);
    call.okTimer = null;
    if (!call.finalSent && status !== undefined) {
      call.finalSent = true;
      call.inviteTx.respond(callerAnswer(call.invite, call.callerLeg, status, reason ?? 'Error'));
      if (outcome !== 'abandoned') this.o.metrics.callsFailed.inc({ reason: outcome });
    }
    const cdr = cdrOf(call, { node: this.o.nodeId, outcome, endedBy, wasAnswered, endedAtMs, endedAt: new Date(this.o.now()) });
    this.o.cdr.write(cdr);
    this.emit({ type: 'call.ended', callId: call.callId, service: call.service.number, ...(cdr.dn !== null ? { dn: cdr.dn } : {}), outcome, endedBy, talkMs: cdr.talkMs });
    this.queueMedia.onEnded(call);
    this.calls.delete(call.key);
    this.acquisition.forget(call.key);
    this.dialogs.end(legKey(call.callerLeg), 'caller');
  }

  private onMediaLost(session: string, reason: MediaLostReason): void {
    const call = this.bySession.get(session);
    const at = call?.attempt;
    if (call === undefined || at === null || at === undefined || at.mediaSession !== session) return;
    this.o.log.warn('media lost', { callId: call.callId, reason, phase: call.phase });
    if (call.phase === 'answered') return this.hangUp(call, at, reason);
    // Unanswered, the call goes back to the queue, unless its early media was on that gateway.
    const early = this.queueMedia.owns(session);
    if (!early) this.queueing.noteMediaFailure(call, at.dn);
    this.cancelAttempt(call, at, 'failed');
    if (early) this.endCall(call, reason, 'node', 503, 'Media Unavailable');
  }

  /** The node's lease on a shard ran out (lease-keeper.ts): the shard frees those agents,
   * so their calls must not go on here. Ends every call whose agent `isOnShard`. */
  onLeaseLost(isOnShard: (dn: string) => boolean): void {
    // Its entries there are gone too (the same expireLease removed them).
    for (const key of this.queued.keysWhere(isOnShard)) this.queueing.onEntryLost(key);
    for (const call of [...this.calls.values()]) {
      const at = call.attempt;
      if (at === null || at === undefined || !isOnShard(at.dn)) continue;
      this.o.log.warn('lease lost; ending call', { callId: call.callId, dn: at.dn });
      if (call.phase === 'answered') {
        this.hangUp(call, at, 'lease-lost');
        continue;
      }
      this.cancelAttempt(call, at, 'failed');
      this.endCall(call, 'lease-lost', 'node', 503, 'Service Unavailable');
    }
  }

  /** The node ends an answered call: BYE on both legs, agent released, CDR written. */
  private hangUp(call: Call, at: Attempt, outcome: string): void {
    this.sender.sendBye(call.callerLeg);
    this.sender.sendBye(at.leg);
    this.finishAttempt(call, at, 'completed');
    this.endCall(call, outcome, 'node');
  }

  private emit(ev: CallEvent): void {
    this.o.events?.call(ev);
  }

  close(): void {
    this.closed = true;
    this.stopSweep();
    this.queued.close();
    this.queueMedia.close();
    this.relay.close();
    for (const call of this.calls.values()) clearCallTimers(call, this.timers);
  }
}
