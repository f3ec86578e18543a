// What a queued caller hears (issue #21, point 3). A call of a service with announcements
// gets early media once its queue entry committed: its offer is anchored on a media
// gateway as the call's own media session (the `early-media` offer flag), the caller gets
// 183 Session Progress with the gateway's early answer, and the gateway plays the
// service's music in a loop; every `everyMs` it plays the caller's position and estimated
// wait, then the music again. When an agent is invited, that same session carries the
// call (the agent gets the session's SDP, the caller's 200 repeats the 183's answer), so
// the caller's RTP keeps one stream from music to the agent's voice (the gateway rewrites
// the relayed packets, gateway/rtp-out-stream.ts). Music stops when the agent answered;
// the session is deleted when the call ends.
//
// A service without announcements, or a node without a gateway (or one that ignores the
// flag, such as rtpengine), queues as before: 182 and silence.
//
// Estimated wait = position × the mean interval between recent departures (answered,
// abandoned, timed out alike) from the service's queue, as this node's queue view (the
// shards' change feeds) shows them; before two departures were seen no wait is announced.

import type { ServiceAnnouncements } from '../../common/config.js';
import type { Logger } from '../../common/logger.js';
import { buildResponse, generateCallId, generateTag } from '../syntax/index.js';
import type { TimerHandle, TimerService } from '../transport/index.js';
import type { Call } from './call.js';
import { SDP } from './leg-messages.js';
import type { MediaController } from './media.js';
import type { QueueView } from './queue.js';

/** The prompts an announcement is made of (gateway/prompts). Numbers go up to 20. */
export const promptNames = {
  position: 'you-are-caller-number',
  wait: 'your-estimated-wait-is',
  lessThanAMinute: 'less-than-a-minute',
  minute: 'minute',
  minutes: 'minutes',
} as const;
const spokenNumberMax = 20;
/** Loops of the music asked for at once; a queue's maximum wait ends long before. */
const musicRepeatTimes = 10_000;
/** Departures remembered per service for the estimate. */
const departuresKept = 16;

export type EarlySession = Readonly<{ sessionId: string; tag: string; agentSdp: string; callerSdp: string }>;

type Held = EarlySession & { call: Call; settings: ServiceAnnouncements; timer: TimerHandle | null; musicTimer: TimerHandle | null; done: boolean };

export type QueueMediaOptions = Readonly<{
  nodeId: string;
  media: MediaController;
  queues: QueueView;
  timers: TimerService;
  log: Logger;
  /** The service's announcement settings: the one place the service is looked up. */
  announcementsOf: (call: Call) => ServiceAnnouncements | null;
  /** Our Contact toward the caller. */
  contactFor: (call: Call) => string;
  /** Ends a call whose early-media session the gateway lost while no agent attempt held
   * it (an attempt's loss is the B2BUA's own onMediaLost). */
  endCall: (call: Call, reason: string) => void;
}>;

export class QueueMedia {
  private readonly held = new Map<string, Held>();
  private readonly bySession = new Map<string, Held>();
  private readonly departures = new DepartureTracker();
  /** Calls whose early offer is in flight (a second onQueued meanwhile must not make a second session). */
  private readonly starting = new Set<string>();
  /** Announcements played (for tests and metrics). */
  announcements = 0;

  constructor(private readonly o: QueueMediaOptions) {
    o.media.onLost((sessionId, reason) => {
      const h = this.bySession.get(sessionId);
      if (h === undefined || h.call.attempt !== null || h.call.phase === 'ended') return;
      this.o.log.warn('early media session lost; ending queued call', { callId: h.call.callId, reason });
      this.o.endCall(h.call, reason);
    });
  }

  /** The call's early-media session, once it has one. */
  sessionOf(call: Call): EarlySession | null {
    return this.held.get(call.key) ?? null;
  }

  owns(sessionId: string): boolean {
    return this.bySession.has(sessionId);
  }

  /** The call's queue entry committed (first time or again after an attempt failed). */
  onQueued(call: Call): void {
    if (this.held.has(call.key) || this.starting.has(call.key)) return; // music goes on through attempts
    const settings = this.o.announcementsOf(call);
    if (settings === null) return;
    this.starting.add(call.key);
    void this.start(call, settings).finally(() => this.starting.delete(call.key));
  }

  /** The agent answered: the caller hears the agent now. */
  onBridged(call: Call): void {
    const h = this.held.get(call.key);
    if (h === undefined) return;
    this.stopTimers(h);
    void this.o.media.stopPlay(h.sessionId, h.tag);
  }

  /** The call ended: its session goes. */
  onEnded(call: Call): void {
    const h = this.held.get(call.key);
    if (h === undefined) return;
    this.stopTimers(h);
    this.held.delete(call.key);
    this.bySession.delete(h.sessionId);
    void this.o.media.delete(h.sessionId);
  }

  close(): void {
    for (const h of this.held.values()) this.stopTimers(h);
  }

  private async start(call: Call, settings: ServiceAnnouncements): Promise<void> {
    const sessionId = generateCallId('queue');
    const tag = generateTag();
    let early: { agentSdp: string; callerSdp: string } | null;
    try {
      early = await this.o.media.earlyOffer(sessionId, tag, Buffer.from(call.invite.body).toString('utf8'));
    } catch (err) {
      this.o.log.warn('early media unavailable; the caller waits in silence', { callId: call.callId, error: (err as Error).message });
      return;
    }
    if (early === null) return;
    // An agent claimed meanwhile is invited with a session of its own: this one is too late.
    if (call.phase !== 'queued' || call.finalSent || this.held.has(call.key)) {
      void this.o.media.delete(sessionId);
      return;
    }
    const h: Held = { sessionId, tag, ...early, call, settings, timer: null, musicTimer: null, done: false };
    this.held.set(call.key, h);
    this.bySession.set(sessionId, h);
    call.inviteTx.respond(buildResponse(call.invite, 183, 'Session Progress', {
      toTag: call.callerLeg.localTag,
      headers: [{ name: 'Contact', value: this.o.contactFor(call) }, { name: 'Content-Type', value: SDP }],
      body: Buffer.from(early.callerSdp, 'utf8'),
    }));
    await this.playMusic(h);
    this.scheduleAnnouncement(h);
  }

  private async playMusic(h: Held): Promise<void> {
    if (h.done || h.settings.music === null) return;
    await this.o.media.play(h.sessionId, h.tag, [h.settings.music], musicRepeatTimes).catch((err: Error) => {
      this.o.log.warn('music on hold not played', { callId: h.call.callId, error: err.message });
    });
  }

  private scheduleAnnouncement(h: Held): void {
    if (h.done || (!h.settings.position && !h.settings.estimatedWait)) return;
    h.timer = this.o.timers.setTimer(h.settings.everyMs, () => {
      h.timer = null;
      void this.announce(h).finally(() => this.scheduleAnnouncement(h));
    });
  }

  /** Plays the position and/or wait, then the music again once it has been said. */
  private async announce(h: Held): Promise<void> {
    if (h.done || h.call.phase !== 'queued') return;
    const files = this.announcementOf(h);
    if (files.length === 0) return;
    let durationMs: number;
    try {
      durationMs = await this.o.media.play(h.sessionId, h.tag, files, 1);
    } catch (err) {
      this.o.log.warn('announcement not played', { callId: h.call.callId, error: (err as Error).message });
      return;
    }
    this.announcements++;
    if (h.done) return;
    // The gateway keeps sending silence after the announcement until the music is asked
    // for again, so a late timer here costs a moment of silence, never a gap in RTP.
    h.musicTimer = this.o.timers.setTimer(durationMs, () => {
      h.musicTimer = null;
      void this.playMusic(h);
    });
  }

  private announcementOf(h: Held): string[] {
    const service = h.call.service.number;
    const entryId = `${this.o.nodeId}/${h.call.key}`.slice(0, 256);
    const waiting = this.o.queues.waiting(service);
    this.departures.observe(service, waiting.map((e) => e.callId), this.o.timers.now());
    const index = waiting.findIndex((e) => e.callId === entryId);
    if (index < 0) return [];
    const position = index + 1;
    const files: string[] = [];
    if (h.settings.position && position <= spokenNumberMax) files.push(promptNames.position, String(position));
    const intervalMs = this.departures.meanIntervalMs(service);
    if (h.settings.estimatedWait && intervalMs !== null) files.push(promptNames.wait, ...spokenWait(position * intervalMs));
    return files;
  }

  private stopTimers(h: Held): void {
    h.done = true;
    if (h.timer !== null) this.o.timers.clearTimer(h.timer);
    if (h.musicTimer !== null) this.o.timers.clearTimer(h.musicTimer);
    h.timer = h.musicTimer = null;
  }
}

/** "less than a minute", or whole minutes rounded up (at most spokenNumberMax). */
export function spokenWait(waitMs: number): string[] {
  if (waitMs < 60_000) return [promptNames.lessThanAMinute];
  const minutes = Math.min(spokenNumberMax, Math.ceil(waitMs / 60_000));
  return [String(minutes), minutes === 1 ? promptNames.minute : promptNames.minutes];
}

/** Departures from each service's queue, seen as entries that left the view between two
 * looks. Pure: the caller passes the time. */
export class DepartureTracker {
  private readonly last = new Map<string, Set<string>>();
  private readonly times = new Map<string, number[]>();

  observe(service: string, waitingIds: readonly string[], nowMs: number): void {
    const now = new Set(waitingIds);
    const before = this.last.get(service);
    this.last.set(service, now);
    if (before === undefined) return;
    let left = 0;
    for (const id of before) if (!now.has(id)) left++;
    if (left === 0) return;
    const times = this.times.get(service) ?? [];
    // Several left between two looks: spread them evenly up to now (we do not know when).
    for (let i = 0; i < left; i++) times.push(nowMs);
    while (times.length > departuresKept) times.shift();
    this.times.set(service, times);
  }

  /** Mean time between departures over the ones remembered; null before two distinct looks saw some. */
  meanIntervalMs(service: string): number | null {
    const times = this.times.get(service);
    if (times === undefined || times.length < 2) return null;
    const span = times[times.length - 1]! - times[0]!;
    return span > 0 ? span / (times.length - 1) : null;
  }
}
