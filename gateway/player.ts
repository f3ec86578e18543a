// Plays prompts into a leg as RTP: 20 ms packets of 160 G.711 bytes, sent from the leg's
// own media socket to where its RTP goes (relay.ts sendToLeg), stamped by the leg's
// RtpOutStream so played and relayed packets form one stream.
//
// Pacing is by absolute time: frame i of a playback is due at startMs + 20·i and its
// timestamp is startTs + 160·i, whatever the timer's lateness; each tick sends every frame
// now due (at most playCatchUpPacketsMax; further behind, the schedule skips ahead and the
// timestamps show the skip) and arms the next timer for the next frame's due time, so
// setTimeout's lateness never accumulates.

import { randomInt } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { SILENCE_BYTE } from './g711.js';
import { playCatchUpPacketsMax, playFillMsMax } from './limits.js';
import { FRAME_MS, FRAME_SAMPLES, type Prompt } from './prompts.js';
import { MODE_FILL, MODE_PLAY, MODE_RELAY, RtpOutStream } from './rtp-out-stream.js';

/** Where played packets go and whose stream they continue (implemented by MediaRelay). */
export interface PlayerSink {
  outStream(slot: number): RtpOutStream | null;
  setOutStream(slot: number, s: RtpOutStream): void;
  /** Sends an RTP packet out of the leg's RTP socket; false when the leg has no address yet. */
  sendToLeg(slot: number, packet: Buffer): boolean;
}

/** The player's timers (real ones in the gateway; a test steps its own). */
export type PlayerTimers = Readonly<{ set: (fire: () => void, delayMs: number) => unknown; clear: (handle: unknown) => void }>;

const realTimers: PlayerTimers = {
  set: (fire, delayMs) => setTimeout(fire, delayMs),
  clear: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

type Playback = {
  readonly slot: number;
  readonly prompts: readonly Prompt[];
  readonly payloadType: number;
  readonly framesPerRound: number;
  /** Frames to play in all (rounds × framesPerRound); cut short by stop. */
  framesTotal: number;
  readonly startMs: number;
  readonly startTs: number;
  /** Next frame of the schedule (frames skipped after a stall count too). */
  next: number;
  played: number;
  /** stop media was asked: only silence is left to send. */
  stopped: boolean;
  /** When silence filling began (-1: not yet). */
  fillStartMs: number;
  timer: unknown;
};

export type PlayStarted = Readonly<{ durationMs: number; payloadType: number }>;

export class MediaPlayer {
  private readonly playing = new Map<number, Playback>();
  /** Frames sent by all playbacks and fills (for metrics). */
  packetsSent = 0;
  playsStarted = 0;

  constructor(
    private readonly sink: PlayerSink,
    private readonly nowMs: () => number = () => performance.now(),
    private readonly timers: PlayerTimers = realTimers,
  ) {}

  get activeLegs(): number {
    return this.playing.size;
  }

  isPlaying(slot: number): boolean {
    return this.playing.has(slot);
  }

  /** Starts `prompts` (back to back, `repeatTimes` rounds) into leg `slot`, replacing
   * whatever plays there. */
  play(slot: number, prompts: readonly Prompt[], repeatTimes: number, payloadType: number): PlayStarted {
    this.cancel(slot);
    const now = this.nowMs();
    let stream = this.sink.outStream(slot);
    if (stream === null) {
      stream = new RtpOutStream({ ssrc: randomInt(1, 0xffffffff), seq: randomInt(0, 0x8000), ts: randomInt(0, 0x7fffffff), nowMs: now });
      this.sink.setOutStream(slot, stream);
    }
    stream.mode = MODE_PLAY;
    const framesPerRound = prompts.reduce((n, p) => n + p.frames, 0);
    const p: Playback = {
      slot, prompts, payloadType, framesPerRound, framesTotal: framesPerRound * repeatTimes,
      startMs: now, startTs: stream.playStartTs(now, FRAME_SAMPLES), next: 0, played: 0, stopped: false, fillStartMs: -1, timer: null,
    };
    this.playing.set(slot, p);
    this.playsStarted++;
    this.tick(p);
    return { durationMs: p.framesTotal * FRAME_MS, payloadType };
  }

  /** Stops what plays into `slot`: relayed media passes again, and until its first
   * packet arrives (at most playFillMsMax) silence frames keep the stream going, so the
   * switch to the other party leaves no gap. Returns the frames played, or null when
   * nothing played. */
  stop(slot: number): number | null {
    const p = this.playing.get(slot);
    if (p === undefined || p.stopped) return null;
    p.stopped = true;
    const s = this.sink.outStream(slot);
    if (s === null) {
      this.cancel(slot);
      return p.played;
    }
    p.framesTotal = Math.min(p.framesTotal, p.next);
    s.mode = MODE_FILL;
    return p.played;
  }

  /** Forgets a leg that is closing. */
  cancel(slot: number): void {
    const p = this.playing.get(slot);
    if (p === undefined) return;
    if (p.timer !== null) this.timers.clear(p.timer);
    this.playing.delete(slot);
  }

  close(): void {
    for (const slot of [...this.playing.keys()]) this.cancel(slot);
  }

  private tick(p: Playback): void {
    p.timer = null;
    if (this.playing.get(p.slot) !== p) return;
    const stream = this.sink.outStream(p.slot);
    // Relayed media took over the fill (see RtpOutStream.relayed), or the leg closed.
    if (stream === null || stream.mode === MODE_RELAY) return void this.playing.delete(p.slot);
    const now = this.nowMs();
    if (p.fillStartMs >= 0 && now - p.fillStartMs > playFillMsMax) {
      // Nothing took over: stop sending; relayed media still passes whenever it comes.
      this.playing.delete(p.slot);
      return;
    }
    const due = Math.floor((now - p.startMs) / FRAME_MS) + 1; // frames due by now
    if (due - p.next > playCatchUpPacketsMax) p.next = due - playCatchUpPacketsMax;
    for (; p.next < due; p.next++) this.sendFrame(p, stream, now);
    p.timer = this.timers.set(() => this.tick(p), Math.max(0, p.startMs + p.next * FRAME_MS - this.nowMs()));
  }

  private sendFrame(p: Playback, stream: RtpOutStream, now: number): void {
    const packet = Buffer.allocUnsafe(12 + FRAME_SAMPLES);
    if (p.next < p.framesTotal) {
      this.copyFrame(p, p.next % p.framesPerRound, packet);
      p.played++;
    } else {
      if (p.fillStartMs < 0) p.fillStartMs = now;
      stream.mode = stream.mode === MODE_PLAY ? MODE_FILL : stream.mode;
      packet.fill(SILENCE_BYTE[p.payloadType]!, 12);
    }
    stream.stampPlayed(packet, p.payloadType, (p.startTs + p.next * FRAME_SAMPLES) >>> 0, p.next === 0, now);
    if (this.sink.sendToLeg(p.slot, packet)) this.packetsSent++;
  }

  private copyFrame(p: Playback, frame: number, into: Buffer): void {
    for (const prompt of p.prompts) {
      if (frame < prompt.frames) {
        prompt.encoded[p.payloadType]!.copy(into, 12, frame * FRAME_SAMPLES, (frame + 1) * FRAME_SAMPLES);
        return;
      }
      frame -= prompt.frames;
    }
  }
}
