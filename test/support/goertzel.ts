// Finds a tone in recorded audio, for tests that check what a real phone heard: a WAV
// reader (16-bit PCM, as baresip's sndfile module and linphone write) and a Goertzel
// filter run over short blocks. A block "has" the tone when it is loud enough not to be
// silence and most of its energy sits at the tone's frequency; a recording has the tone
// when enough blocks do. Pure: no I/O apart from readWav.

import { readFileSync } from 'node:fs';

export type Pcm = Readonly<{ sampleRate: number; channels: number; /** The first channel, -1..1. */ samples: Float64Array }>;

/** Reads a RIFF/WAVE file of 16-bit PCM; throws naming what is wrong with any other. */
export function readWav(path: string): Pcm {
  return parseWav(readFileSync(path));
}

export function parseWav(buf: Buffer): Pcm {
  if (buf.length < 12 || buf.toString('ascii', 0, 4) !== 'RIFF' || buf.toString('ascii', 8, 12) !== 'WAVE') throw new Error('not a RIFF/WAVE file');
  let fmt: { format: number; channels: number; sampleRate: number; bits: number } | null = null;
  let data: Buffer | null = null;
  for (let at = 12; at + 8 <= buf.length;) {
    const id = buf.toString('ascii', at, at + 4);
    // A writer killed before it closed the file leaves a size of 0 or too big: take what is there.
    const declared = buf.readUInt32LE(at + 4);
    const size = Math.min(declared === 0 && id === 'data' ? buf.length : declared, buf.length - at - 8);
    const body = buf.subarray(at + 8, at + 8 + size);
    if (id === 'fmt ' && size >= 16) fmt = { format: body.readUInt16LE(0), channels: body.readUInt16LE(2), sampleRate: body.readUInt32LE(4), bits: body.readUInt16LE(14) };
    if (id === 'data') data = body;
    at += 8 + size + (size % 2);
  }
  if (fmt === null || data === null) throw new Error('WAVE file without fmt or data chunk');
  if (fmt.format !== 1 || fmt.bits !== 16) throw new Error(`WAVE format ${fmt.format}, ${fmt.bits} bits: only 16-bit PCM is read`);
  const frames = Math.floor(data.length / (2 * fmt.channels));
  const samples = new Float64Array(frames);
  for (let i = 0; i < frames; i++) samples[i] = data.readInt16LE(i * 2 * fmt.channels) / 32768;
  return { sampleRate: fmt.sampleRate, channels: fmt.channels, samples };
}

/** Goertzel: the energy of `samples[from, from+n)` at `frequencyHz`, normalised so that a
 * pure sine at that frequency gives (about) its block energy Σx². */
export function goertzelEnergy(samples: Float64Array, from: number, n: number, sampleRate: number, frequencyHz: number): number {
  const w = (2 * Math.PI * frequencyHz) / sampleRate;
  const coeff = 2 * Math.cos(w);
  let s1 = 0;
  let s2 = 0;
  for (let i = from; i < from + n; i++) {
    const s0 = samples[i]! + coeff * s1 - s2;
    s2 = s1;
    s1 = s0;
  }
  const power = s1 * s1 + s2 * s2 - coeff * s1 * s2;
  return (2 * power) / n;
}

export type ToneReport = Readonly<{ blocks: number; toneBlocks: number; /** Seconds of blocks that had the tone. */ toneSeconds: number }>;

export type ToneOptions = Readonly<{
  /** Block length (default 50 ms: 20 Hz resolution, short enough to follow a call). */
  blockMs?: number;
  /** A block quieter than this RMS (full scale 1) is silence (default 0.01, -40 dBFS). */
  silenceRms?: number;
  /** Share of a block's energy that must be at the tone (default 0.5). */
  toneShareMin?: number;
}>;

export function findTone(pcm: Pcm, frequencyHz: number, o: ToneOptions = {}): ToneReport {
  const n = Math.max(16, Math.round((pcm.sampleRate * (o.blockMs ?? 50)) / 1000));
  const silenceEnergy = (o.silenceRms ?? 0.01) ** 2 * n;
  let blocks = 0;
  let toneBlocks = 0;
  for (let from = 0; from + n <= pcm.samples.length; from += n) {
    blocks++;
    let energy = 0;
    for (let i = from; i < from + n; i++) energy += pcm.samples[i]! * pcm.samples[i]!;
    if (energy < silenceEnergy) continue;
    if (goertzelEnergy(pcm.samples, from, n, pcm.sampleRate, frequencyHz) >= (o.toneShareMin ?? 0.5) * energy) toneBlocks++;
  }
  return { blocks, toneBlocks, toneSeconds: (toneBlocks * n) / pcm.sampleRate };
}

/** A sine (or silence when amplitude is 0) as Pcm, for the detector's own tests. */
export function sinePcm(o: Readonly<{ sampleRate: number; seconds: number; frequencyHz: number; amplitude: number }>): Pcm {
  const samples = new Float64Array(Math.round(o.sampleRate * o.seconds));
  for (let i = 0; i < samples.length; i++) samples[i] = o.amplitude * Math.sin((2 * Math.PI * o.frequencyHz * i) / o.sampleRate);
  return { sampleRate: o.sampleRate, channels: 1, samples };
}

/** 16-bit mono PCM WAV bytes of `pcm`. */
export function wavBytes(pcm: Pcm): Buffer {
  const data = Buffer.alloc(pcm.samples.length * 2);
  for (let i = 0; i < pcm.samples.length; i++) data.writeInt16LE(Math.max(-32768, Math.min(32767, Math.round(pcm.samples[i]! * 32767))), i * 2);
  const header = Buffer.alloc(44);
  header.write('RIFF', 0, 'ascii');
  header.writeUInt32LE(36 + data.length, 4);
  header.write('WAVEfmt ', 8, 'ascii');
  header.writeUInt32LE(16, 16);
  header.writeUInt16LE(1, 20);
  header.writeUInt16LE(1, 22);
  header.writeUInt32LE(pcm.sampleRate, 24);
  header.writeUInt32LE(pcm.sampleRate * 2, 28);
  header.writeUInt16LE(2, 32);
  header.writeUInt16LE(16, 34);
  header.write('data', 36, 'ascii');
  header.writeUInt32LE(data.length, 40);
  return Buffer.concat([header, data]);
}
