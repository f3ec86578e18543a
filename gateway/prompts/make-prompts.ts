// Regenerates the demo prompts shipped in this directory (8 kHz mono 16-bit WAV):
//   node --import tsx gateway/prompts/make-prompts.ts
// `music` is a tune synthesised here (no sample, no download); the speech prompts are
// espeak-ng's output (apt-get install -y espeak-ng), resampled from its 22,050 Hz to
// 8 kHz. The results are committed, so a clean machine plays them without espeak-ng.

import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseWav, writeWav } from '../wav.js';

const dir = fileURLToPath(new URL('./', import.meta.url));
const RATE_HZ = 8000;

/** A major-key melody (MIDI note numbers, 0 = rest), each note an eighth at 150 bpm. */
const melody = [64, 64, 65, 67, 67, 65, 64, 62, 60, 60, 62, 64, 64, 0, 62, 62, 64, 64, 65, 67, 67, 65, 64, 62, 60, 60, 62, 64, 62, 0, 60, 60];
const bass = [48, 48, 43, 43, 48, 48, 43, 48];

function music(): Int16Array {
  const noteSamples = Math.round(RATE_HZ * 0.2);
  const out = new Int16Array(melody.length * noteSamples);
  melody.forEach((note, i) => {
    const f = note === 0 ? 0 : 440 * 2 ** ((note - 69) / 12);
    const fb = 440 * 2 ** ((bass[Math.floor(i / 4) % bass.length]! - 69) / 12);
    for (let n = 0; n < noteSamples; n++) {
      const t = n / RATE_HZ;
      // Attack and decay per note, so notes are heard as notes, not one drone.
      const env = Math.min(1, n / 80) * Math.exp((-3 * n) / noteSamples);
      const lead = f === 0 ? 0 : Math.sin(2 * Math.PI * f * t) + 0.3 * Math.sin(4 * Math.PI * f * t);
      const low = 0.5 * Math.sin(2 * Math.PI * fb * ((i * noteSamples + n) / RATE_HZ));
      out[i * noteSamples + n] = Math.round(7000 * (env * lead + low * 0.6));
    }
  });
  return out;
}

/** espeak-ng's WAV (22,050 Hz) → 8 kHz: a moving-average low-pass, then linear interpolation. */
function speak(text: string): Int16Array {
  const r = spawnSync('espeak-ng', ['-v', 'en-us', '-s', '150', '--stdout', text]);
  if (r.status !== 0) throw new Error(`espeak-ng failed: ${String(r.stderr)}`);
  const wav = r.stdout as Buffer;
  const inRate = wav.readUInt32LE(24);
  // espeak writes 0xffffffff data sizes when streaming to stdout: fix the header.
  wav.writeUInt32LE(wav.length - 8, 4);
  wav.writeUInt32LE(wav.length - 44, 40);
  wav.writeUInt32LE(8000, 24); // parseWav wants 8 kHz; the real rate is inRate
  const src = parseWav(wav);
  const smooth = new Float64Array(src.length);
  for (let i = 0; i < src.length; i++) smooth[i] = ((src[i - 1] ?? src[i]!) + src[i]! * 2 + (src[i + 1] ?? src[i]!)) / 4;
  const n = Math.floor((src.length * RATE_HZ) / inRate);
  const out = new Int16Array(n);
  for (let i = 0; i < n; i++) {
    const x = (i * inRate) / RATE_HZ;
    const k = Math.floor(x);
    const a = smooth[k] ?? 0;
    const b = smooth[k + 1] ?? a;
    out[i] = Math.round(a + (b - a) * (x - k));
  }
  return out;
}

const speech: Record<string, string> = {
  'you-are-caller-number': 'You are caller number',
  'your-estimated-wait-is': 'Your estimated wait is',
  'less-than-a-minute': 'less than a minute',
  minute: 'minute',
  minutes: 'minutes',
  'please-hold': 'Thank you for calling. Please hold.',
};
for (let i = 0; i <= 20; i++) speech[String(i)] = String(i);

writeFileSync(join(dir, 'music.wav'), writeWav(music()));
for (const [name, text] of Object.entries(speech)) writeFileSync(join(dir, `${name}.wav`), writeWav(speak(text)));
process.stdout.write(`wrote music and ${Object.keys(speech).length} speech prompts to ${dir}\n`);
