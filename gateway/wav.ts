// Reading a prompt file: a RIFF/WAVE file of 8 kHz mono audio, 16-bit linear PCM (format
// 1) or 8-bit G.711 A-law (6) / µ-law (7). Anything else is refused with a PromptError
// that says what was found, so a bad file stops the gateway at start, naming it. Pure:
// bytes in, samples out.

import { alawToLinear, ulawToLinear } from './g711.js';
import { promptBytesMax } from './limits.js';

export class PromptError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PromptError';
  }
}

const FORMAT_PCM = 1;
const FORMAT_ALAW = 6;
const FORMAT_ULAW = 7;
export const PROMPT_RATE_HZ = 8000;

/** The file's samples as 16-bit linear at 8 kHz. */
export function parseWav(bytes: Uint8Array): Int16Array {
  if (bytes.length > promptBytesMax) throw new PromptError(`larger than ${promptBytesMax} bytes`);
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  if (b.length < 12 || b.toString('latin1', 0, 4) !== 'RIFF' || b.toString('latin1', 8, 12) !== 'WAVE') {
    throw new PromptError('not a RIFF/WAVE file');
  }
  let fmt: { format: number; channels: number; rateHz: number; bits: number } | null = null;
  let at = 12;
  while (at + 8 <= b.length) {
    const id = b.toString('latin1', at, at + 4);
    const size = b.readUInt32LE(at + 4);
    const body = at + 8;
    if (body + size > b.length) throw new PromptError(`chunk ${JSON.stringify(id)} runs past the end of the file`);
    if (id === 'fmt ') {
      if (size < 16) throw new PromptError('fmt chunk shorter than 16 bytes');
      fmt = { format: b.readUInt16LE(body), channels: b.readUInt16LE(body + 2), rateHz: b.readUInt32LE(body + 4), bits: b.readUInt16LE(body + 14) };
    } else if (id === 'data') {
      if (fmt === null) throw new PromptError('data chunk before the fmt chunk');
      return samplesOf(fmt, b.subarray(body, body + size));
    }
    at = body + size + (size & 1); // chunks are padded to even sizes
  }
  throw new PromptError(fmt === null ? 'no fmt chunk' : 'no data chunk');
}

function samplesOf(fmt: { format: number; channels: number; rateHz: number; bits: number }, data: Buffer): Int16Array {
  if (fmt.channels !== 1) throw new PromptError(`${fmt.channels} channels; prompts must be mono`);
  if (fmt.rateHz !== PROMPT_RATE_HZ) throw new PromptError(`${fmt.rateHz} Hz; prompts must be ${PROMPT_RATE_HZ} Hz`);
  if (fmt.format === FORMAT_PCM && fmt.bits === 16) {
    const out = new Int16Array(data.length >> 1);
    for (let i = 0; i < out.length; i++) out[i] = data.readInt16LE(i * 2);
    return out;
  }
  if ((fmt.format === FORMAT_ALAW || fmt.format === FORMAT_ULAW) && fmt.bits === 8) {
    const f = fmt.format === FORMAT_ALAW ? alawToLinear : ulawToLinear;
    const out = new Int16Array(data.length);
    for (let i = 0; i < data.length; i++) out[i] = f(data[i]!);
    return out;
  }
  throw new PromptError(`format ${fmt.format} with ${fmt.bits} bits per sample; expected 16-bit PCM (1) or 8-bit A-law (6) / µ-law (7)`);
}

/** A mono 8 kHz 16-bit PCM WAV file of `samples` (for the prompt generator and tests). */
export function writeWav(samples: Int16Array): Buffer {
  const data = samples.length * 2;
  const b = Buffer.alloc(44 + data);
  b.write('RIFF', 0, 'latin1');
  b.writeUInt32LE(36 + data, 4);
  b.write('WAVE', 8, 'latin1');
  b.write('fmt ', 12, 'latin1');
  b.writeUInt32LE(16, 16);
  b.writeUInt16LE(FORMAT_PCM, 20);
  b.writeUInt16LE(1, 22);
  b.writeUInt32LE(PROMPT_RATE_HZ, 24);
  b.writeUInt32LE(PROMPT_RATE_HZ * 2, 28);
  b.writeUInt16LE(2, 32);
  b.writeUInt16LE(16, 34);
  b.write('data', 36, 'latin1');
  b.writeUInt32LE(data, 40);
  for (let i = 0; i < samples.length; i++) b.writeInt16LE(samples[i]!, 44 + i * 2);
  return b;
}
