// The B2BUA's half that deals with the cluster queue (queued-calls.ts keeps the seats and
// talks to the queue's shard): putting a call in its service's queue with its maximum wait
// and the 182 once the entry committed, serving an agent the shard claimed for one of our
// calls, ending a call whose entry the shard removed, and overflowing a call whose
// service's queue is full or whose maximum wait ran out (service-overflow.ts), each by the
// definition of the call's service in force now (service-directory.ts), and putting back
// at its place a call whose media offer or answer failed (its gateway being restarted),
// holding the claims made for it until a backoff ends and a gateway answers. Call control
// itself (INVITE, attempts, media, BYE) stays in b2bua.ts, reached through the two
// callbacks below.
import type { Counter } from 'prom-client';
import type { Logger } from '../../common/logger.js';
import type { ShardClient } from '../../shards/client/shard-client.js';
import type { TimerService } from '../transport/index.js';
import type { Acquisition, AgentAcquisition } from './agent-acquisition.js';
import { moveTo, type Call } from './call.js';
import type { WallClock } from './clock.js';
import type { CallEventSink } from './events.js';
import { callerAnswer } from './leg-messages.js';
import * as limits from './limits.js';
import type { QueueView } from './queue.js';
import { QueuedCalls } from './queued-calls.js';
import { strategyOrder, type AgentView, type RoutingStrategy } from './router.js';
import type { ServiceDirectory } from './service-directory.js';
import { overflowAction, type OverflowCause } from './service-overflow.js';

type Granted = Extract<Acquisition, { type: 'grant' }>;

export type CallQueueingOptions = Readonly<{
  nodeId: string;
  shards: Pick<ShardClient, 'command'>;
  view: AgentView;
  queues: QueueView;
  log: Logger;
  now: WallClock;
  timers: TimerService;
  /** The node's maximum wait, for services that set none. */
  queueWaitMs: number;
  ringTimeoutMs: number;
  services: ServiceDirectory;
  /** The node's strategy, for services that set none. */
  strategy: RoutingStrategy;
  /** The B2BUA's calls by key. */
  calls: ReadonlyMap<string, Call>;
  acquisition: AgentAcquisition;
  closed: () => boolean;
  /** Hears `call.queued` each time the call's entry is in the queue (null: nobody). */
  events: CallEventSink | null;
  /** Counts queued calls their caller hung up on. */
  queueAbandoned: Pick<Counter, 'inc'>;
  /** Counts calls put back in the queue because their media offer or answer failed. */
  mediaRequeued: Pick<Counter, 'inc'>;
  /** Whether a media session can be anchored now (media.ts mediaAvailable). */
  mediaAvailable: () => boolean;
  /** Ends the call from the node's side with a final response to the caller. */
  endCall: (call: Call, outcome: string, status: number, reason: string) => void;
  /** INVITEs the granted agent; false when the attempt failed at once. */
  inviteAgent: (call: Call, granted: Granted) => Promise<boolean>;
  /** The call's entry committed (queue-media.ts: early media, music, announcements). */
  onQueued?: (call: Call) => void;
}>;

type MediaRetry = { failures: number; untilMs: number };

export class CallQueueing {
  readonly queued: QueuedCalls;
  /** Calls whose media failed, by key: no agent is offered them before `untilMs`. */
  private readonly mediaRetries = new Map<string, MediaRetry>();

  constructor(private readonly o: CallQueueingOptions) {
    this.queued = new QueuedCalls({
      nodeId: o.nodeId, shards: o.shards, view: o.view, queues: o.queues, log: o.log, now: o.now, timers: o.timers,
      // The service's ring timeout: a claim must not lapse while the agent's phone rings.
      claimTtlMs: (service) => Math.min(o.services.ringTimeoutMsOf(service, o.ringTimeoutMs) + limits.reservationTtlMarginMs, limits.reservationTtlMsMax),
      priorityOf: (service) => o.services.priorityOf(service),
      agentOrder: (service) => strategyOrder(o.services.get(service)?.strategy ?? o.strategy, o.services.get(service)?.skill ?? ''),
      onClaimed: (key, dn) => this.onClaimed(key, dn),
      onEntryLost: (key) => this.onEntryLost(key),
    });
  }

  list(): { callId: string; skill: string; waitedMs: number }[] {
    return this.queued.list().map((q) => ({ callId: this.o.calls.get(q.key)?.callId ?? q.key, skill: q.skill, waitedMs: q.waitedMs }));
  }

  /** Proposes claims for READY agents an unclaimed entry could take (a READY change may
   * have come while the entry was being offered another agent, or a claim lapsed). */
  sweep(): void {
    this.queued.serveAll();
  }

  async enqueue(call: Call): Promise<void> {
    if (call.phase === 'ended') return;
    if (call.queueWaitOver) return this.overflow(call, 'max-wait');
    call.firstQueuedAtMs ??= this.o.timers.now();
    if (call.queueTimer === null) {
      call.queueTimer = this.o.timers.setTimer(this.o.services.maxWaitMsOf(call.service.number, this.o.queueWaitMs), () => {
        call.queueTimer = null;
        if (call.phase === 'queued') this.overflow(call, 'max-wait');
        // Being offered an agent: decided if that fails and the call comes back here.
        else if (call.phase !== 'ended') call.queueWaitOver = true;
      });
    }
    // Agents that only denied the reservation (busy with another call) may take it later.
    call.tried.clear();
    for (const dn of call.offered) call.tried.add(dn);
    call.attemptCount = 0;
    if (call.phase !== 'queued') moveTo(call, 'queued');
    const joined = await this.queued.join(call, call.offered);
    if (joined === 'left' || (call.phase as string) === 'ended') return; // hung up meanwhile
    if (joined === 'full') return this.overflow(call, 'queue-full');
    if (joined === 'error') return this.o.endCall(call, 'queue-unavailable', 503, 'Service Unavailable');
    this.o.events?.call({ type: 'call.queued', callId: call.callId, service: call.service.number, requeued: call.sent182 });
    // After the entry committed: the caller's place in the cluster's arrival order is set.
    if (!call.sent182 && !call.finalSent) {
      call.sent182 = true;
      call.inviteTx.respond(callerAnswer(call.invite, call.callerLeg, 182, 'Queued'));
    }
    this.o.onQueued?.(call);
  }

  /**
   * The media offer or answer failed for a call not yet answered (its gateway is being
   * restarted, or none is alive); its agent was already released. A caller who may have
   * waited minutes must not lose the call to seconds of gateway restart: the call goes
   * back to its place in the queue (a call that had not queued joins it, with its 182)
   * and the claims made for it are held (claims keep its place: the shard would give the
   * agent to this oldest call again) until a backoff ends and a gateway answers its pings.
   * Its maximum wait still ends it (overflow, or 480) as for any queued call.
   */
  afterMediaFailure(call: Call, dn: string): void {
    if (call.phase === 'ended') return;
    this.noteMediaFailure(call, dn);
    if (call.phase === 'connecting') moveTo(call, 'routing'); // the agent answered; its leg is hung up
    void this.enqueue(call);
  }

  /** Records a media failure of the call's attempt on `dn` (its backoff, the counter) for
   * a call that comes back to the queue by another way (its cancelled agent leg's final
   * response re-routes it). */
  noteMediaFailure(call: Call, dn: string): void {
    const retry = this.mediaRetries.get(call.key) ?? { failures: 0, untilMs: 0 };
    retry.failures++;
    retry.untilMs = this.o.timers.now() + Math.min(limits.mediaRetryBackoffMsMin * 2 ** (retry.failures - 1), limits.mediaRetryBackoffMsMax);
    this.mediaRetries.set(call.key, retry);
    // The agent did nothing wrong: not passed for this call, and no route attempt spent.
    call.offered.delete(dn);
    this.o.mediaRequeued.inc();
    this.o.log.warn('media failed; the call goes back to its place in the queue', { callId: call.callId, dn, failures: retry.failures });
  }

  /** How long an agent claimed for the call must wait for media: its backoff, or while no
   * gateway answers, one more minimum backoff (then asked again). */
  private mediaWaitMs(key: string): number {
    const retry = this.mediaRetries.get(key);
    const backoffMs = retry === undefined ? 0 : retry.untilMs - this.o.timers.now();
    if (backoffMs > 0) return backoffMs;
    return this.o.mediaAvailable() ? 0 : limits.mediaRetryBackoffMsMin;
  }

  /** The call's queue is full or its maximum wait is over: its service's overflow
   * decides — another service's queue (the caller's leg kept, a new maximum wait), or a
   * final answer. */
  private overflow(call: Call, cause: OverflowCause): void {
    const action = overflowAction(this.o.services.get(call.service.number), cause, call.overflowHops, (n) => this.o.services.get(n));
    if (action.type === 'end') return this.o.endCall(call, action.outcome, action.status, action.reason);
    this.o.log.info('call overflows to another service', { callId: call.callId, from: call.service.number, to: action.to.number, cause });
    this.queued.leave(call.key, cause === 'max-wait' ? 'timed-out' : 'failed');
    if (call.queueTimer !== null) this.o.timers.clearTimer(call.queueTimer);
    call.queueTimer = null;
    call.queueWaitOver = false;
    call.overflowHops++;
    call.service = action.to;
    void this.enqueue(call);
  }

  /** The call ended (any side, any phase): its entry leaves the queue with the reason, an
   * abandonment is counted and reported, its maximum-wait timer stops. */
  onCallEnded(call: Call, outcome: string, endedAtMs: number): void {
    const hadEntry = this.queued.leave(call.key, outcome === 'abandoned' ? 'abandoned' : outcome === 'queue-timeout' ? 'timed-out' : 'failed');
    if (hadEntry && outcome === 'abandoned') this.o.queueAbandoned.inc();
    if (outcome === 'abandoned') this.o.events?.call({ type: 'call.abandoned', callId: call.callId, service: call.service.number, waitMs: Math.round(endedAtMs - call.startedAtMs), whileQueued: hadEntry });
    if (call.queueTimer !== null) this.o.timers.clearTimer(call.queueTimer);
    call.queueTimer = null;
    this.mediaRetries.delete(call.key);
  }

  /** The shard removed our entry (this node's lease there ran out, so the cluster counts
   * the call as gone): end it rather than let it wait where nobody will serve it. */
  onEntryLost(key: string): void {
    const call = this.o.calls.get(key);
    if (call === undefined || (call.phase !== 'queued' && call.phase !== 'routing')) return;
    this.o.log.warn('queue entry removed by the shard (lease lost); ending call', { callId: call.callId });
    this.o.endCall(call, 'lease-lost', 503, 'Service Unavailable');
  }

  /** The queue's shard claimed agent `dn` for our queued call `key`: reserve it. */
  private onClaimed(key: string, dn: string): boolean {
    const call = this.o.calls.get(key);
    if (call === undefined || call.phase !== 'queued' || this.o.closed()) return false;
    // A webhook that just queued this call is asked again at most every
    // routingWebhookQueueRetryMs: the claim holds the agent for this (oldest) call meanwhile.
    // So is a call waiting for media: the claim keeps its place, the agent is not reserved.
    const waitMs = Math.max(this.o.acquisition.webhookRetryInMs(key), this.mediaWaitMs(key));
    if (waitMs > 0) {
      this.holdClaim(call, dn, waitMs);
      return true;
    }
    this.serveClaim(call, dn);
    return true;
  }

  private holdClaim(call: Call, dn: string, waitMs: number): void {
    this.o.timers.setTimer(waitMs, () => {
      if (call.phase !== 'queued' || this.queued.servingOf(call.key) !== dn || this.o.closed()) return;
      const mediaWaitMs = this.mediaWaitMs(call.key);
      if (mediaWaitMs > 0) return this.holdClaim(call, dn, mediaWaitMs);
      this.serveClaim(call, dn);
    });
  }

  private serveClaim(call: Call, dn: string): void {
    moveTo(call, 'routing');
    void (async () => {
      const next = await this.o.acquisition.acquireClaimed(call, dn);
      switch (next.type) {
        case 'stopped':
          return;
        case 'give-up':
          return this.o.endCall(call, 'no-agent', 480, 'Temporarily Unavailable');
        case 'queue':
          return this.enqueue(call);
        case 'grant':
          if (!(await this.o.inviteAgent(call, next))) return this.enqueue(call);
      }
    })();
  }
}
