// Proves the tone detector the softphone tests rely on: it finds a 440 Hz tone (also at a
// low level, with noise, through a WAV round trip and at baresip's 8 kHz), and finds none
// in silence, in noise alone, or in 1000 Hz and 480 Hz tones.

import t from 'tap';
import { findTone, parseWav, sinePcm, wavBytes, type Pcm } from './goertzel.js';

const rate = 8000;

function withNoise(pcm: Pcm, amplitude: number, seed: number): Pcm {
  let x = seed;
  const samples = pcm.samples.map((s) => {
    x = (x * 1103515245 + 12345) >>> 0;
    return s + amplitude * ((x / 2 ** 32) * 2 - 1);
  });
  return { ...pcm, samples };
}

t.test('finds 440 Hz', async (t) => {
  const r = findTone(sinePcm({ sampleRate: rate, seconds: 2, frequencyHz: 440, amplitude: 0.5 }), 440);
  t.equal(r.blocks, 40);
  t.equal(r.toneBlocks, 40);
  t.equal(r.toneSeconds, 2);
  t.equal(findTone(sinePcm({ sampleRate: 48_000, seconds: 1, frequencyHz: 440, amplitude: 0.05 }), 440).toneBlocks, 20, 'at -26 dBFS and 48 kHz too');
  t.equal(findTone(withNoise(sinePcm({ sampleRate: rate, seconds: 1, frequencyHz: 440, amplitude: 0.3 }), 0.1, 7), 440).toneBlocks, 20, 'under noise');
});

t.test('survives a WAV round trip', async (t) => {
  const pcm = parseWav(wavBytes(sinePcm({ sampleRate: rate, seconds: 1, frequencyHz: 440, amplitude: 0.4 })));
  t.equal(pcm.sampleRate, rate);
  t.equal(findTone(pcm, 440).toneBlocks, 20);
  t.throws(() => parseWav(Buffer.from('RIFF....WAVX')), /not a RIFF\/WAVE/);
});

t.test('rejects silence, noise and other tones', async (t) => {
  t.equal(findTone(sinePcm({ sampleRate: rate, seconds: 1, frequencyHz: 440, amplitude: 0 }), 440).toneBlocks, 0, 'silence');
  t.equal(findTone(sinePcm({ sampleRate: rate, seconds: 1, frequencyHz: 440, amplitude: 0.005 }), 440).toneBlocks, 0, 'a tone below the silence floor');
  t.equal(findTone(withNoise(sinePcm({ sampleRate: rate, seconds: 1, frequencyHz: 440, amplitude: 0 }), 0.5, 3), 440).toneBlocks, 0, 'white noise');
  t.equal(findTone(sinePcm({ sampleRate: rate, seconds: 1, frequencyHz: 1000, amplitude: 0.5 }), 440).toneBlocks, 0, '1000 Hz');
  t.equal(findTone(sinePcm({ sampleRate: rate, seconds: 1, frequencyHz: 480, amplitude: 0.5 }), 440).toneBlocks, 0, '480 Hz');
  t.equal(findTone(sinePcm({ sampleRate: rate, seconds: 1, frequencyHz: 440, amplitude: 0.5 }), 1000).toneBlocks, 0, 'looking for 1000 Hz in 440 Hz');
});
