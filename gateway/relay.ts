// The media plane: per leg an RTP and an RTCP socket, and the hot path that relays a
// packet arriving on one leg out of the other leg's socket of the same kind.
//
// Layout: call index c owns leg slots 2c (leg A, caller side) and 2c+1 (leg B, agent
// side), so a leg's peer is `slot ^ 1`. Each leg slot has two sockets, RTP and RTCP, at
// socket index k = 2*slot + component; the socket a packet on k leaves from is `k ^ 2`.
// All per-socket state lives in typed arrays (and two string arrays for addresses), so the
// hot path reads and writes numbers in place, reuses the received Buffer for the send, and
// creates no closures or objects of its own (Node's dgram still creates its rinfo and
// send request; that is below us).
//
// Played media (player.ts): a leg that had a prompt played into it gets an RtpOutStream,
// and RTP relayed toward it is then rewritten (or muted while a prompt plays) so the
// receiver sees one stream. A leg that never played has none: one array read per packet.
//
// Overload: nothing here queues packets. Every datagram is handled to completion in its
// 'message' callback, so the sockets are always being drained; when the process is short
// of CPU the kernel drops at the receive queue, and once the burst ends the queues empty
// within the time it takes to relay one queue's worth (socket buffers are bounded).

import dgram from 'node:dgram';
import { performance } from 'node:perf_hooks';
import { LATCH_DROP, LATCH_LEARN, latchDecision, type LatchMode } from './latching.js';
import type { PlayerSink } from './player.js';
import { TokenBuckets } from './rate-limit.js';
import type { RtpOutStream } from './rtp-out-stream.js';
import { LegStats } from './stats.js';

export const COMPONENT_RTP = 0;
export const COMPONENT_RTCP = 1;

export type RelayConfig = Readonly<{
  /** Address the media sockets bind to. */
  bindIp: string;
  latchMode: LatchMode;
  /** Calls the relay has room for; slots are preallocated. */
  callsMax: number;
  /** Per-call packets per second over both legs and both components; 0 = unlimited. */
  packetRateMax: number;
  packetBurstMax: number;
  socketBufferBytes: number;
}>;

/** Where a leg's endpoint said it receives media (from SDP). ip '' = unknown. */
export type LegAddress = Readonly<{ ip: string; rtpPort: number; rtcpPort: number }>;

/** dgram resolves every send's address through dns.lookup, which defers to the next tick
 * even for an IP literal. We only ever send to IP literals, so answer synchronously. */
function literalLookup(address: string, _family: unknown, cb: (err: null, address: string, family: number) => void): void {
  cb(null, address, 4);
}

export class MediaRelay implements PlayerSink {
  readonly stats: LegStats;
  readonly buckets: TokenBuckets;
  private readonly strict: boolean;
  private readonly sockets: (dgram.Socket | null)[];
  private readonly latchedIp: string[];
  private readonly latchedPort: Int32Array;
  private readonly sdpIp: string[];
  private readonly sdpPort: Int32Array;
  /** Send errors reported by the kernel (e.g. ENOBUFS), per socket. */
  readonly sendErrors: Float64Array;
  /** Per leg slot: the outgoing stream once media was played into the leg, else null. */
  private readonly outStreams: (RtpOutStream | null)[];
  /** Per leg slot: packets the player sent into the leg. */
  readonly playedPackets: Float64Array;

  constructor(readonly config: RelayConfig) {
    const legs = config.callsMax * 2;
    const socks = legs * 2;
    this.strict = config.latchMode === 'strict';
    this.stats = new LegStats(legs);
    this.buckets = new TokenBuckets(config.callsMax, config.packetRateMax, Math.max(1, config.packetBurstMax));
    this.sockets = new Array<dgram.Socket | null>(socks).fill(null);
    this.latchedIp = new Array<string>(socks).fill('');
    this.latchedPort = new Int32Array(socks);
    this.sdpIp = new Array<string>(socks).fill('');
    this.sdpPort = new Int32Array(socks);
    this.sendErrors = new Float64Array(socks);
    this.outStreams = new Array<RtpOutStream | null>(legs).fill(null);
    this.playedPackets = new Float64Array(legs);
  }

  /** Binds the RTP socket on `rtpPort` and RTCP on `rtpPort + 1` for leg `slot`. Rejects
   * (with the socket error, e.g. EADDRINUSE) and leaves nothing bound when either fails. */
  async openLeg(slot: number, rtpPort: number, clockRateHz: number): Promise<void> {
    const k = slot * 2;
    try {
      this.sockets[k] = await this.bindSocket(k, rtpPort);
      this.sockets[k + 1] = await this.bindSocket(k + 1, rtpPort + 1);
    } catch (e) {
      this.closeLeg(slot);
      throw e;
    }
    for (const i of [k, k + 1]) {
      this.latchedIp[i] = '';
      this.latchedPort[i] = 0;
      this.sdpIp[i] = '';
      this.sdpPort[i] = 0;
      this.sendErrors[i] = 0;
    }
    this.stats.reset(slot, clockRateHz);
    this.outStreams[slot] = null;
    this.playedPackets[slot] = 0;
    if ((slot & 1) === 0) this.buckets.reset(slot >> 1, performance.now());
  }

  closeLeg(slot: number): void {
    this.outStreams[slot] = null;
    for (const k of [slot * 2, slot * 2 + 1]) {
      const s = this.sockets[k];
      this.sockets[k] = null;
      if (s) s.close();
    }
  }

  /** Sets the leg's SDP address. A changed address (re-INVITE, answer after a
   * latch-any guess) forgets the latched source so the leg learns again. */
  setLegAddress(slot: number, addr: LegAddress, clockRateHz: number): void {
    const k = slot * 2;
    const ports = [addr.rtpPort, addr.rtcpPort];
    for (let c = 0; c < 2; c++) {
      if (this.sdpIp[k + c] !== addr.ip || this.sdpPort[k + c] !== ports[c]) {
        this.latchedIp[k + c] = '';
        this.latchedPort[k + c] = 0;
      }
      this.sdpIp[k + c] = addr.ip;
      this.sdpPort[k + c] = ports[c]!;
    }
    this.stats.setClockRate(slot, clockRateHz);
  }

  outStream(slot: number): RtpOutStream | null {
    return this.outStreams[slot] ?? null;
  }

  setOutStream(slot: number, s: RtpOutStream): void {
    this.outStreams[slot] = s;
  }

  /** Sends a packet (made by the player) out of the leg's RTP socket to where the leg's
   * RTP goes: its latched source, else its SDP address. False when there is neither. */
  sendToLeg(slot: number, packet: Buffer): boolean {
    if (!this.sendFrom(slot * 2, packet)) return false;
    this.playedPackets[slot]!++;
    return true;
  }

  /** Sends out of socket `k` to where that leg's component goes: its latched source, else
   * its SDP address. False (nothing sent) when there is neither. */
  private sendFrom(k: number, packet: Buffer): boolean {
    const sock = this.sockets[k];
    let port = this.latchedPort[k]!;
    let ip: string;
    if (port !== 0) ip = this.latchedIp[k]!;
    else {
      port = this.sdpPort[k]!;
      ip = this.sdpIp[k]!;
    }
    if (sock === null || sock === undefined || port === 0 || ip === '') return false;
    sock.send(packet, port, ip);
    return true;
  }

  /** The latched source of a leg's component, or null. */
  latchedSource(slot: number, component: number): { ip: string; port: number } | null {
    const k = slot * 2 + component;
    return this.latchedPort[k] === 0 ? null : { ip: this.latchedIp[k]!, port: this.latchedPort[k]! };
  }

  /** Packets seen on a call's four sockets, accepted or not, and packets played into its
   * legs: the media-timeout activity measure (a queued caller that sends nothing while it
   * hears music is not a dead call). */
  packetsSeen(callIndex: number): number {
    const s = this.stats;
    let n = 0;
    for (const slot of [callIndex * 2, callIndex * 2 + 1]) {
      n += s.rtpPackets[slot]! + s.rtcpPackets[slot]! + s.droppedSource[slot]! + this.playedPackets[slot]!;
    }
    return n;
  }

  closeAll(): void {
    for (let k = 0; k < this.sockets.length; k++) {
      const s = this.sockets[k];
      this.sockets[k] = null;
      if (s) s.close();
    }
  }

  private bindSocket(k: number, port: number): Promise<dgram.Socket> {
    const bytes = this.config.socketBufferBytes;
    const sock = dgram.createSocket({
      type: 'udp4',
      lookup: literalLookup as unknown as dgram.SocketOptions['lookup'],
      ...(bytes > 0 ? { recvBufferSize: bytes, sendBufferSize: bytes } : {}),
    });
    return new Promise((resolve, reject) => {
      const onBindError = (err: Error) => {
        sock.close();
        reject(err);
      };
      sock.once('error', onBindError);
      sock.bind(port, this.config.bindIp, () => {
        sock.off('error', onBindError);
        // One closure per socket, made here, never per packet.
        sock.on('error', () => {
          this.sendErrors[k]!++;
        });
        sock.on('message', (msg: Buffer, rinfo: dgram.RemoteInfo) => {
          this.onPacket(k, msg, rinfo);
        });
        resolve(sock);
      });
    });
  }

  /** The hot path. */
  private onPacket(k: number, msg: Buffer, rinfo: dgram.RemoteInfo): void {
    const slot = k >> 1;
    const stats = this.stats;
    const srcIp = rinfo.address;
    const srcPort = rinfo.port;
    const d = latchDecision(this.strict, this.latchedIp[k]!, this.latchedPort[k]!, this.sdpIp[k]!, this.sdpPort[k]!, srcIp, srcPort);
    if (d === LATCH_DROP) {
      stats.droppedSource[slot]!++;
      return;
    }
    if (d === LATCH_LEARN) {
      this.latchedIp[k] = srcIp;
      this.latchedPort[k] = srcPort;
    }
    const nowMs = performance.now();
    const len = msg.length;
    if ((k & 1) === COMPONENT_RTP) stats.onRtp(slot, msg, len, nowMs);
    else stats.onRtcp(slot, len);
    if (!this.buckets.take(slot >> 1, nowMs)) {
      stats.droppedRate[slot]!++;
      return;
    }
    const out = k ^ 2;
    if ((k & 1) === COMPONENT_RTP) {
      const os = this.outStreams[out >> 1];
      if (os && !os.relayed(msg, nowMs)) return; // muted: a prompt plays to that leg
    }
    if (!this.sendFrom(out, msg)) {
      stats.droppedUnroutable[slot]!++;
      return;
    }
    stats.relayedPackets[slot]!++;
    stats.relayedBytes[slot]! += len;
  }
}
