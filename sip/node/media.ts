// Media control for the B2BUA. Every call attempt is one media session keyed by a
// session id: `offer` turns the caller's SDP into the SDP sent to the agent, `answer`
// turns the agent's SDP into the SDP sent to the caller, `delete` frees it.
//
// PassthroughMedia (no gateway configured) hands SDP through unchanged, so the SIP side
// can run and be tested alone; RTP then flows phone to phone. NgMediaController drives
// Ringfence gateways (or rtpengine) over the ng protocol: a session goes to the live
// gateway with the fewest of our sessions; a gateway that fails a ping is marked dead,
// skipped for new sessions, and its sessions are reported lost; gateways are polled
// (`list`, or `query` per session for rtpengine) for sessions whose media timed out.

import { deriveKey } from '../../common/keys.js';
import type { Logger } from '../../common/logger.js';
import type { GatewayConfig } from '../../common/config.js';
import { GatewayErrorCode } from '../../gateway/errors.js';
import { NgClient } from '../../gateway/ng-client.js';
import { SipNodeError, SipNodeErrorCode } from './errors.js';
import { gatewayPollIntervalMsDefault, ngRetries, ngTimeoutMsDefault } from './limits.js';

export type MediaLostReason = 'media-timeout' | 'gateway-dead';

export interface MediaController {
  /** Where the session's media is anchored ('passthrough' when not anchored). */
  offer(sessionId: string, fromTag: string, sdp: string): Promise<{ sdp: string; gateway: string }>;
  answer(sessionId: string, fromTag: string, toTag: string, sdp: string): Promise<string>;
  /** A new offer inside an existing session (re-INVITE or UPDATE with SDP, from either
   * leg: `fromTag` is the sender's tag as the session knows it): the SDP to pass to the
   * other leg, still pointing at the session's anchor. The other leg's answer then goes
   * through `answer(sessionId, fromTag, otherTag, sdp)`. */
  reoffer(sessionId: string, fromTag: string, sdp: string): Promise<string>;
  /** Never rejects: a session the gateway lost is already gone. */
  delete(sessionId: string): Promise<void>;
  /** Anchors the caller's offer as a new session with early media toward the caller (leg
   * `fromTag`): the SDP for the agent's INVITE later, and the early answer for the
   * caller's 183 now (the same answer goes in its 200). Null when early media is not
   * available (no gateway, or one without Ringfence's early-media flag, e.g. rtpengine). */
  earlyOffer(sessionId: string, fromTag: string, sdp: string): Promise<{ agentSdp: string; callerSdp: string } | null>;
  /** `play media`: prompts into the session's party `tag`; the playback's length in ms. */
  play(sessionId: string, tag: string, files: readonly string[], repeatTimes: number): Promise<number>;
  /** `stop media` on the session's party `tag`; never rejects. */
  stopPlay(sessionId: string, tag: string): Promise<void>;
  /** Called once per session whose media stopped or whose gateway died. */
  onLost(listener: (sessionId: string, reason: MediaLostReason) => void): void;
  status(): readonly Readonly<{ id: string; alive: boolean; sessions: number }>[];
  close(): void;
}

/** Whether a new media session can be anchored now: some gateway answers its pings (or
 * none is configured, and SDP passes through). */
export function mediaAvailable(media: Pick<MediaController, 'status'>): boolean {
  const gateways = media.status();
  return gateways.length === 0 || gateways.some((g) => g.alive);
}

export class PassthroughMedia implements MediaController {
  async offer(_sessionId: string, _fromTag: string, sdp: string): Promise<{ sdp: string; gateway: string }> {
    return { sdp, gateway: 'passthrough' };
  }
  async answer(_s: string, _f: string, _t: string, sdp: string): Promise<string> {
    return sdp;
  }
  async reoffer(_s: string, _f: string, sdp: string): Promise<string> {
    return sdp;
  }
  async delete(): Promise<void> {}
  async earlyOffer(): Promise<null> {
    return null;
  }
  async play(): Promise<number> {
    throw new SipNodeError(SipNodeErrorCode.MEDIA_FAILED, 'no media gateway to play prompts');
  }
  async stopPlay(): Promise<void> {}
  onLost(): void {}
  status(): readonly Readonly<{ id: string; alive: boolean; sessions: number }>[] {
    return [];
  }
  close(): void {}
}

type Gateway = { id: string; client: NgClient; alive: boolean; sessions: Set<string> };

export type NgMediaOptions = Readonly<{
  gateways: readonly GatewayConfig[];
  log: Logger;
  pollIntervalMs?: number;
  /** Per ng attempt; a gateway is dead after the client's retries all time out. */
  ngTimeoutMs?: number;
  /** The cluster's root secret: commands are signed with deriveKey(secret, 'ng-control'),
   * as the gateways expect. Absent: unsigned commands (rtpengine, or `--ng-auth off`). */
  rootSecret?: string;
}>;

export class NgMediaController implements MediaController {
  private readonly gateways: Gateway[];
  private readonly bySession = new Map<string, Gateway>();
  private readonly listeners: ((s: string, r: MediaLostReason) => void)[] = [];
  private readonly timer: NodeJS.Timeout;
  private polling = false;

  constructor(private readonly opts: NgMediaOptions) {
    const ngKey = opts.rootSecret === undefined ? null : deriveKey(opts.rootSecret, 'ng-control');
    this.gateways = opts.gateways.map((g) => ({
      id: g.id,
      client: new NgClient({ host: g.control.host, port: g.control.port, timeoutMs: opts.ngTimeoutMs ?? ngTimeoutMsDefault, retries: ngRetries, ...(ngKey !== null && g.ngAuth ? { key: ngKey } : {}) }),
      alive: true,
      sessions: new Set<string>(),
    }));
    this.timer = setInterval(() => void this.poll(), opts.pollIntervalMs ?? gatewayPollIntervalMsDefault);
    this.timer.unref();
  }

  async offer(sessionId: string, fromTag: string, sdp: string): Promise<{ sdp: string; gateway: string }> {
    // Try live gateways by load; one that fails here is marked dead and the next is tried.
    const order = this.gateways.filter((g) => g.alive).sort((a, b) => a.sessions.size - b.sessions.size);
    for (const gw of order) {
      try {
        const r = await gw.client.offer({ callId: sessionId, fromTag, sdp, replace: ['origin'] });
        gw.sessions.add(sessionId);
        this.bySession.set(sessionId, gw);
        return { sdp: r.sdp, gateway: gw.id };
      } catch (err) {
        if ((err as { code?: string }).code === GatewayErrorCode.NG_TIMEOUT) this.markDead(gw);
        else throw new SipNodeError(SipNodeErrorCode.MEDIA_FAILED, `${gw.id}: ${(err as Error).message}`);
      }
    }
    throw new SipNodeError(SipNodeErrorCode.NO_GATEWAY, 'no media gateway is alive');
  }

  async earlyOffer(sessionId: string, fromTag: string, sdp: string): Promise<{ agentSdp: string; callerSdp: string } | null> {
    const order = this.gateways.filter((g) => g.alive).sort((a, b) => a.sessions.size - b.sessions.size);
    for (const gw of order) {
      try {
        const r = await gw.client.offer({ callId: sessionId, fromTag, sdp, replace: ['origin'], flags: ['early-media'] });
        gw.sessions.add(sessionId);
        this.bySession.set(sessionId, gw);
        const early = r.raw['early-sdp'];
        if (typeof early === 'string') return { agentSdp: r.sdp, callerSdp: early };
        await this.delete(sessionId); // an rtpengine: it ignored the flag
        return null;
      } catch (err) {
        if ((err as { code?: string }).code === GatewayErrorCode.NG_TIMEOUT) this.markDead(gw);
        else throw new SipNodeError(SipNodeErrorCode.MEDIA_FAILED, `${gw.id}: ${(err as Error).message}`);
      }
    }
    throw new SipNodeError(SipNodeErrorCode.NO_GATEWAY, 'no media gateway is alive');
  }

  async play(sessionId: string, tag: string, files: readonly string[], repeatTimes: number): Promise<number> {
    const gw = this.bySession.get(sessionId);
    if (gw === undefined) throw new SipNodeError(SipNodeErrorCode.MEDIA_FAILED, `no media session ${sessionId}`);
    try {
      return (await gw.client.playMedia({ callId: sessionId, fromTag: tag, files, repeatTimes })).durationMs;
    } catch (err) {
      throw new SipNodeError(SipNodeErrorCode.MEDIA_FAILED, `${gw.id}: ${(err as Error).message}`);
    }
  }

  async stopPlay(sessionId: string, tag: string): Promise<void> {
    const gw = this.bySession.get(sessionId);
    if (gw === undefined || !gw.alive) return;
    await gw.client.stopMedia({ callId: sessionId, fromTag: tag }).then(() => undefined, () => undefined);
  }

  async answer(sessionId: string, fromTag: string, toTag: string, sdp: string): Promise<string> {
    const gw = this.bySession.get(sessionId);
    if (gw === undefined) throw new SipNodeError(SipNodeErrorCode.MEDIA_FAILED, `no media session ${sessionId}`);
    try {
      return (await gw.client.answer({ callId: sessionId, fromTag, toTag, sdp, replace: ['origin'] })).sdp;
    } catch (err) {
      throw new SipNodeError(SipNodeErrorCode.MEDIA_FAILED, `${gw.id}: ${(err as Error).message}`);
    }
  }

  async reoffer(sessionId: string, fromTag: string, sdp: string): Promise<string> {
    // Same gateway as the session (rtpengine's ng: an offer for a known call-id and tag
    // updates that leg), never a new one: the other leg is anchored there.
    const gw = this.bySession.get(sessionId);
    if (gw === undefined) throw new SipNodeError(SipNodeErrorCode.MEDIA_FAILED, `no media session ${sessionId}`);
    try {
      return (await gw.client.offer({ callId: sessionId, fromTag, sdp, replace: ['origin'] })).sdp;
    } catch (err) {
      throw new SipNodeError(SipNodeErrorCode.MEDIA_FAILED, `${gw.id}: ${(err as Error).message}`);
    }
  }

  async delete(sessionId: string): Promise<void> {
    const gw = this.bySession.get(sessionId);
    if (gw === undefined) return;
    this.forget(sessionId);
    if (!gw.alive) return;
    await gw.client.delete({ callId: sessionId }).then(() => undefined, () => undefined);
  }

  onLost(listener: (sessionId: string, reason: MediaLostReason) => void): void {
    this.listeners.push(listener);
  }

  status(): readonly Readonly<{ id: string; alive: boolean; sessions: number }>[] {
    return this.gateways.map((g) => ({ id: g.id, alive: g.alive, sessions: g.sessions.size }));
  }

  close(): void {
    clearInterval(this.timer);
    for (const g of this.gateways) g.client.close();
  }

  /** One health round: ping every gateway (a dead one may come back), then find our
   * sessions whose media timed out on the live ones. */
  private async poll(): Promise<void> {
    if (this.polling) return;
    this.polling = true;
    try {
      await Promise.all(this.gateways.map((gw) => this.check(gw)));
    } finally {
      this.polling = false;
    }
  }

  private async check(gw: Gateway): Promise<void> {
    try {
      await gw.client.ping();
    } catch {
      this.markDead(gw);
      return;
    }
    if (!gw.alive) this.opts.log.info('media gateway is back', { gateway: gw.id });
    gw.alive = true;
    if (gw.sessions.size === 0) return;
    let timedOut: string[];
    try {
      timedOut = (await gw.client.list()).timedOut;
    } catch {
      // rtpengine has no `list`: ask about each session.
      timedOut = [];
      for (const s of [...gw.sessions]) {
        const q = await gw.client.query({ callId: s }).catch(() => null);
        if (q?.timedOut === true) timedOut.push(s);
      }
    }
    for (const s of timedOut) if (gw.sessions.has(s)) this.lose(s, 'media-timeout');
  }

  private markDead(gw: Gateway): void {
    if (gw.alive) this.opts.log.warn('media gateway is dead; ending its calls', { gateway: gw.id, sessions: gw.sessions.size });
    gw.alive = false;
    for (const s of [...gw.sessions]) this.lose(s, 'gateway-dead');
  }

  private lose(sessionId: string, reason: MediaLostReason): void {
    this.forget(sessionId);
    for (const l of this.listeners) l(sessionId, reason);
  }

  private forget(sessionId: string): void {
    const gw = this.bySession.get(sessionId);
    gw?.sessions.delete(sessionId);
    this.bySession.delete(sessionId);
  }
}
