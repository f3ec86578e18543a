// The gateway's command layer: ng commands (ping, offer, answer, delete, query, list,
// play media, stop media) in, bencoded replies out, driving the call table, the port
// allocator, the media relay and the prompt player.
// Commands run one at a time, in arrival order, so two commands for one call never
// interleave around an await (a socket bind).

import net from 'node:net';
import { isBList, type BDict, type BValue } from './bencode.js';
import { GatewayError, GatewayErrorCode, isGatewayError } from './errors.js';
import type { LatchMode } from './latching.js';
import { PT_PCMA, PT_PCMU } from './g711.js';
import { idCharsMax, ngListCallsMax, playFilesMax, playRepeatTimesMax, portBindAttemptsMax } from './limits.js';
import { MediaPlayer } from './player.js';
import { PortAllocator } from './port-allocator.js';
import { PromptLibrary, type Prompt } from './prompts.js';
import { COMPONENT_RTCP, COMPONENT_RTP, MediaRelay } from './relay.js';
import { rewriteSdp, type SdpEndpoint } from './sdp-rewrite.js';
import { CallTable, type Call } from './sessions.js';
import type { LegStatsSnapshot } from './stats.js';

export type GatewayConfig = Readonly<{
  /** Address media sockets bind to. */
  bindIp: string;
  /** Address written into rewritten SDP (defaults to bindIp). */
  advertiseIp: string;
  ports: Readonly<{ min: number; max: number }>;
  latchMode: LatchMode;
  callsMax: number;
  packetRateMax: number;
  packetBurstMax: number;
  mediaTimeoutMs: number;
  /** How often media timeouts are evaluated. */
  sweepIntervalMs: number;
  socketBufferBytes: number;
}>;

export type Clock = () => number;

/** Told of what metrics count (gateway/metrics.ts); the gateway works without one. */
export type GatewayObserver = {
  /** An ng command ran: its `command` field as sent, and its reply's `result`. */
  command(command: unknown, result: unknown): void;
  callCreated(): void;
  /** A call is being deleted: each leg's figures, just before its slots are freed. */
  callEnded(legs: readonly [LegStatsSnapshot, LegStatsSnapshot]): void;
};

export class Gateway {
  readonly calls: CallTable;
  readonly ports: PortAllocator;
  readonly relay: MediaRelay;
  readonly player: MediaPlayer;
  private chain: Promise<unknown> = Promise.resolve();
  private sweepTimer: NodeJS.Timeout | null = null;
  private lastSweepMs = 0;
  private closed = false;
  observer: GatewayObserver | null = null;

  constructor(
    readonly config: GatewayConfig,
    private readonly nowMs: Clock = Date.now,
    /** What `play media` can name (PromptLibrary.load(--prompts-dir) in the process). */
    readonly prompts: PromptLibrary = new PromptLibrary([]),
  ) {
    this.calls = new CallTable(config.callsMax);
    this.ports = new PortAllocator(config.ports);
    this.relay = new MediaRelay({
      bindIp: config.bindIp,
      latchMode: config.latchMode,
      callsMax: config.callsMax,
      packetRateMax: config.packetRateMax,
      packetBurstMax: config.packetBurstMax,
      socketBufferBytes: config.socketBufferBytes,
    });
    this.player = new MediaPlayer(this.relay);
  }

  /** Starts the media-timeout sweep; `onTimedOut` hears each call as it becomes flagged. */
  start(onTimedOut: (callId: string) => void = () => undefined): void {
    this.lastSweepMs = this.nowMs();
    this.sweepTimer = setInterval(() => {
      for (const callId of this.sweep()) onTimedOut(callId);
    }, this.config.sweepIntervalMs);
  }

  /** Evaluates media timeouts. A sweep that runs much later than scheduled means this
   * process was stalled (CPU starvation, a long GC): libuv runs timers before polling
   * sockets, so packets that arrived meanwhile are still unread and the counts would look
   * idle. Such a sweep only re-arms; the next, punctual one judges. */
  sweep(): string[] {
    const now = this.nowMs();
    const late = now - this.lastSweepMs > 2 * this.config.sweepIntervalMs;
    this.lastSweepMs = now;
    if (late) return [];
    return this.calls.sweep(now, this.config.mediaTimeoutMs, (i) => this.relay.packetsSeen(i));
  }

  close(): void {
    this.closed = true;
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.player.close();
    this.relay.closeAll();
  }

  /** Runs one ng command and returns its reply; expected failures become error replies. */
  handle(body: BDict): Promise<BDict> {
    const run = this.chain.then(() => this.dispatch(body));
    this.chain = run.catch(() => undefined);
    const replied = run.catch((e: unknown): BDict => {
      if (isGatewayError(e)) return { result: 'error', 'error-reason': e.message, 'error-code': e.code };
      throw e;
    });
    return replied.then((reply) => {
      this.observer?.command(body['command'], reply['result']);
      return reply;
    });
  }

  private async dispatch(body: BDict): Promise<BDict> {
    if (this.closed) throw new GatewayError(GatewayErrorCode.CLOSED, 'gateway is shutting down');
    const command = body['command'];
    switch (command) {
      case 'ping':
        return { result: 'pong' };
      case 'offer':
        return this.offer(body);
      case 'answer':
        return this.answer(body);
      case 'delete':
        return this.delete(body);
      case 'query':
        return this.query(body);
      case 'list':
        return this.list(body);
      case 'play media':
        return this.playMedia(body);
      case 'stop media':
        return this.stopMedia(body);
      default:
        throw new GatewayError(GatewayErrorCode.NG_UNKNOWN_COMMAND, `Unrecognized command ${String(command)}`);
    }
  }

  private async offer(b: BDict): Promise<BDict> {
    const callId = id(b, 'call-id');
    const fromTag = id(b, 'from-tag');
    const sdp = str(b, 'sdp');
    let call = this.calls.get(callId);
    const created = call === undefined;
    if (call === undefined) call = await this.createCall(callId, fromTag);
    try {
      const offerer = this.calls.legIndexOf(call, fromTag);
      if (offerer === null) throw new GatewayError(GatewayErrorCode.UNKNOWN_TAG, 'from-tag does not belong to this call');
      if (!listOf(b, 'flags').includes('early-media')) return { result: 'ok', sdp: this.rewriteFor(call, offerer, 1 - offerer, sdp, b) };
      // Ringfence's early media: the offerer also gets an answer now (`early-sdp`, pointing
      // at its own leg's ports) so prompts can be played to it before anyone answers. Both
      // SDPs keep only the offerer's first G.711 codec, so the later answer cannot pick
      // another one than the early answer announced.
      const probe = rewriteSdp(sdp, { ip: this.config.advertiseIp, rtpPort: 0, replaceOrigin: false });
      const pt = probe.endpoint.payloadTypes.find((p) => p === PT_PCMU || p === PT_PCMA);
      if (pt === undefined) throw new GatewayError(GatewayErrorCode.NO_G711, 'early media needs PCMU or PCMA in the offer');
      const reply = this.rewriteFor(call, offerer, 1 - offerer, sdp, b, pt);
      const early = rewriteSdp(sdp, { ip: this.config.advertiseIp, rtpPort: call.legs[offerer]!.localRtpPort, replaceOrigin: true, onlyPayloadType: pt });
      return { result: 'ok', sdp: reply, 'early-sdp': early.sdp };
    } catch (e) {
      if (created) this.destroyCall(call);
      throw e;
    }
  }

  private answer(b: BDict): BDict {
    const call = this.calls.require(id(b, 'call-id'));
    const fromTag = id(b, 'from-tag');
    const toTag = id(b, 'to-tag');
    const sdp = str(b, 'sdp');
    const offerer = this.calls.legIndexOf(call, fromTag);
    if (offerer === null) throw new GatewayError(GatewayErrorCode.UNKNOWN_TAG, 'from-tag does not belong to this call');
    const answerer = (1 - offerer) as 0 | 1;
    const leg = call.legs[answerer];
    if (leg.tag !== null && leg.tag !== toTag) {
      throw new GatewayError(GatewayErrorCode.UNKNOWN_TAG, 'to-tag does not belong to this call');
    }
    const reply = this.rewriteFor(call, answerer, offerer, sdp, b);
    leg.tag = toTag;
    return { result: 'ok', sdp: reply };
  }

  /** Learns `from`'s endpoint from its SDP and returns the SDP rewritten to point at the
   * gateway's ports of leg `to` (the side that will receive this SDP sends there). */
  private rewriteFor(call: Call, from: number, to: number, sdp: string, b: BDict, onlyPayloadType?: number): string {
    const replace = listOf(b, 'replace');
    const flags = listOf(b, 'flags');
    const out = rewriteSdp(sdp, {
      ip: this.config.advertiseIp,
      rtpPort: call.legs[to]!.localRtpPort,
      replaceOrigin: replace.includes('origin') || flags.includes('replace-origin'),
      ...(onlyPayloadType !== undefined ? { onlyPayloadType } : {}),
    });
    this.setEndpoint(call, from, out.endpoint);
    call.lastSignalMs = this.nowMs();
    return out.sdp;
  }

  private setEndpoint(call: Call, legIndex: number, e: SdpEndpoint): void {
    call.legs[legIndex]!.endpoint = e;
    // The relay sends to IPv4 literals only; anything else is learnt by latching.
    const ip = e.ip !== null && net.isIPv4(e.ip) ? e.ip : '';
    this.relay.setLegAddress(call.index * 2 + legIndex, { ip, rtpPort: e.rtpPort, rtcpPort: e.rtcpPort }, e.clockRateHz);
  }

  private async createCall(callId: string, fromTag: string): Promise<Call> {
    const index = this.calls.reserveIndex();
    const opened: number[] = [];
    try {
      for (let leg = 0; leg < 2; leg++) opened.push(await this.openLeg(index * 2 + leg));
    } catch (e) {
      opened.forEach((port, leg) => {
        this.relay.closeLeg(index * 2 + leg);
        this.ports.release(port);
      });
      this.calls.unreserveIndex(index);
      throw e;
    }
    const now = this.nowMs();
    const call: Call = {
      callId,
      index,
      createdMs: now,
      legs: [
        { tag: fromTag, localRtpPort: opened[0]!, endpoint: null },
        { tag: null, localRtpPort: opened[1]!, endpoint: null },
      ],
      lastSignalMs: now,
      packetsSeen: 0,
      lastActiveMs: now,
      timedOut: false,
    };
    this.calls.insert(call);
    this.observer?.callCreated();
    return call;
  }

  /** Binds a fresh port pair for a leg slot; a pair taken by another process goes back to
   * the end of the free queue and the next one is tried, a bounded number of times. */
  private async openLeg(slot: number): Promise<number> {
    for (let attempt = 0; attempt < portBindAttemptsMax; attempt++) {
      const port = this.ports.allocate();
      try {
        await this.relay.openLeg(slot, port, 8000);
        return port;
      } catch (e) {
        this.ports.release(port);
        if ((e as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw e;
      }
    }
    throw new GatewayError(GatewayErrorCode.PORTS_EXHAUSTED, 'no bindable port pair found');
  }

  private destroyCall(call: Call): void {
    for (let leg = 0; leg < 2; leg++) this.player.cancel(call.index * 2 + leg);
    this.observer?.callEnded([this.relay.stats.snapshot(call.index * 2), this.relay.stats.snapshot(call.index * 2 + 1)]);
    this.calls.remove(call.callId);
    for (let leg = 0; leg < 2; leg++) {
      this.relay.closeLeg(call.index * 2 + leg);
      this.ports.release(call.legs[leg]!.localRtpPort);
    }
  }

  private delete(b: BDict): BDict {
    const callId = id(b, 'call-id');
    const call = this.calls.get(callId);
    // rtpengine answers a delete of a call it does not know with ok and a warning: the
    // caller's goal (no such media session) holds, and a retried delete must not fail.
    if (call === undefined) return { result: 'ok', warning: 'Call-ID not found or tags didn\'t match' };
    const report = this.report(call);
    this.destroyCall(call);
    return report;
  }

  /** rtpengine's `play media`: prompts into the party named by `from-tag` (the party that
   * hears them). `file` names one prompt of --prompts-dir (a name, never a path); Ringfence
   * also takes `files`, a list played back to back. `repeat-times` (default 1) rounds. The
   * codec is the leg's negotiated G.711 one. After the last round, silence frames keep the
   * leg's stream going until relayed media, another `play media` or `stop media`. */
  private playMedia(b: BDict): BDict {
    const call = this.calls.require(id(b, 'call-id'));
    const legIndex = this.partyOf(call, b);
    if (b['blob'] !== undefined || b['db-id'] !== undefined) {
      throw new GatewayError(GatewayErrorCode.NG_MALFORMED, 'only prompts of the gateway\'s prompts dir can be played: name one with file');
    }
    const names = b['files'] !== undefined ? (isBList(b['files']) ? b['files'] : [null]) : [b['file'] ?? null];
    if (names.length === 0 || names.length > playFilesMax) throw new GatewayError(GatewayErrorCode.NG_MALFORMED, `file, or files with 1 to ${playFilesMax} prompt names, is required`);
    if (names[0] === null) throw new GatewayError(GatewayErrorCode.NG_MISSING_KEY, 'No file in message');
    const prompts: Prompt[] = names.map((n) => this.prompts.get(n));
    const repeatTimes = intOf(b, 'repeat-times', 1, playRepeatTimesMax, 1);
    const started = this.player.play(call.index * 2 + legIndex, prompts, repeatTimes, this.payloadTypeOf(call, legIndex));
    call.lastSignalMs = this.nowMs();
    return { result: 'ok', duration: started.durationMs };
  }

  private stopMedia(b: BDict): BDict {
    const call = this.calls.require(id(b, 'call-id'));
    const played = this.player.stop(call.index * 2 + this.partyOf(call, b));
    if (played === null) return { result: 'ok', warning: 'no media playing', 'last-frame-pos': 0 };
    return { result: 'ok', 'last-frame-pos': played };
  }

  private partyOf(call: Call, b: BDict): 0 | 1 {
    const leg = this.calls.legIndexOf(call, id(b, 'from-tag'));
    if (leg === null) throw new GatewayError(GatewayErrorCode.UNKNOWN_TAG, 'from-tag does not belong to this call');
    return leg;
  }

  /** The G.711 payload type a leg uses: the answer's first codec when it is one the leg
   * offered, else the leg's own first PCMU/PCMA. */
  private payloadTypeOf(call: Call, legIndex: number): number {
    const own = call.legs[legIndex]!.endpoint;
    if (own === null) throw new GatewayError(GatewayErrorCode.NO_G711, 'this party has sent no SDP yet');
    const answered = call.legs[1 - legIndex]!.endpoint?.payloadTypes[0];
    const isG711 = (p: number | undefined): p is number => p === PT_PCMU || p === PT_PCMA;
    if (isG711(answered) && own.payloadTypes.includes(answered)) return answered;
    const pt = own.payloadTypes.find(isG711);
    if (pt === undefined) throw new GatewayError(GatewayErrorCode.NO_G711, 'this party has no PCMU or PCMA codec to play prompts in');
    return pt;
  }

  private query(b: BDict): BDict {
    return this.report(this.calls.require(id(b, 'call-id')));
  }

  /** One page of call-ids (`offset`, and rtpengine's `limit` key, ≤ ngListCallsMax) and
   * the first ngListCallsMax timed-out ones (a poller deletes those, so the rest surface
   * on its next poll): the reply always fits one datagram. `calls total` and `timed-out
   * total` say how many there are in all. */
  private list(b: BDict): BDict {
    const offset = intOf(b, 'offset', 0, Number.MAX_SAFE_INTEGER, 0);
    const limit = intOf(b, 'limit', 0, ngListCallsMax, ngListCallsMax);
    const calls = this.calls.ids();
    const timedOut = this.calls.timedOutIds();
    return {
      result: 'ok',
      calls: calls.slice(offset, offset + limit),
      'calls total': calls.length,
      'timed-out': timedOut.slice(0, ngListCallsMax),
      'timed-out total': timedOut.length,
      'port pairs in use': this.ports.capacityPairs - this.ports.freePairs,
      'port pairs free': this.ports.freePairs,
    };
  }

  /** rtpengine-ish call report: `created`, `last signal`, `totals`, per-tag `tags`, plus
   * Ringfence's flat `legs` list and `timed-out` (1/0; bencode has no booleans). */
  private report(call: Call): BDict {
    const legs: BDict[] = [];
    const tags: Record<string, BValue> = {};
    const totals = { RTP: { packets: 0, bytes: 0, errors: 0 }, RTCP: { packets: 0, bytes: 0, errors: 0 } };
    call.legs.forEach((leg, i) => {
      const slot = call.index * 2 + i;
      const s = this.relay.stats.snapshot(slot);
      const latched = this.relay.latchedSource(slot, COMPONENT_RTP);
      const latchedRtcp = this.relay.latchedSource(slot, COMPONENT_RTCP);
      totals.RTP.packets += s.rtpPackets;
      totals.RTP.bytes += s.rtpBytes;
      totals.RTP.errors += s.droppedSource + s.droppedRate + s.droppedUnroutable;
      totals.RTCP.packets += s.rtcpPackets;
      totals.RTCP.bytes += s.rtcpBytes;
      const e = leg.endpoint;
      const entry: BDict = {
        leg: i === 0 ? 'A' : 'B',
        tag: leg.tag ?? '',
        'local port': leg.localRtpPort,
        'local rtcp port': leg.localRtpPort + 1,
        'sdp endpoint': e === null ? {} : { address: e.ip ?? '', port: e.rtpPort, 'rtcp port': e.rtcpPort },
        'latched endpoint': latched === null ? {} : { address: latched.ip, port: latched.port },
        'latched rtcp endpoint': latchedRtcp === null ? {} : { address: latchedRtcp.ip, port: latchedRtcp.port },
        packets: s.rtpPackets,
        bytes: s.rtpBytes,
        'rtcp packets': s.rtcpPackets,
        'rtcp bytes': s.rtcpBytes,
        relayed: s.relayedPackets,
        lost: s.lostPackets,
        jitter: s.jitterTimestampUnits,
        'jitter-us': Math.round(s.jitterMs * 1000),
        'dropped source': s.droppedSource,
        'dropped rate': s.droppedRate,
        'dropped unroutable': s.droppedUnroutable,
      };
      legs.push(entry);
      if (leg.tag !== null) {
        tags[leg.tag] = {
          tag: leg.tag,
          'in dialogue with': call.legs[1 - i]!.tag ?? '',
          medias: [{ index: 1, type: 'audio', streams: [entry] }],
        };
      }
    });
    return {
      result: 'ok',
      created: Math.floor(call.createdMs / 1000),
      created_us: Math.floor(call.createdMs * 1000),
      'last signal': Math.floor(call.lastSignalMs / 1000),
      'timed-out': call.timedOut ? 1 : 0,
      'last media ms ago': Math.max(0, Math.round(this.nowMs() - call.lastActiveMs)),
      totals,
      tags,
      legs,
    };
  }
}

function str(b: BDict, key: string): string {
  const v = b[key];
  if (typeof v !== 'string') throw new GatewayError(GatewayErrorCode.NG_MISSING_KEY, `No ${key} in message`);
  return v;
}

function id(b: BDict, key: string): string {
  const v = str(b, key);
  if (v.length === 0 || v.length > idCharsMax) throw new GatewayError(GatewayErrorCode.NG_MISSING_KEY, `bad ${key}`);
  return v;
}

/** An optional integer key; absent means `dflt`, present must lie in [min, max]. */
function intOf(b: BDict, key: string, min: number, max: number, dflt: number): number {
  const v = b[key];
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || v < min || v > max) throw new GatewayError(GatewayErrorCode.NG_MALFORMED, `${key} must be an integer from ${min} to ${max}`);
  return v;
}

/** A list-of-strings option; anything else (absent, malformed) reads as empty: unknown
 * or oddly shaped flags are ignored, as rtpengine ignores unknown flags. */
function listOf(b: BDict, key: string): string[] {
  const v = b[key];
  if (!isBList(v)) return [];
  return v.filter((x): x is string => typeof x === 'string').map((x) => x.toLowerCase());
}

