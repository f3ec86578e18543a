// The pure parts behind `play media`, without sockets: G.711 coding, the WAV loader and
// the prompt library (bad files are refused naming the file; the shipped prompts load),
// the RTP continuity rewriter (one SSRC, seq +1, timestamps advanced by elapsed time at a
// switch), and the player's pacing driven by a stepped clock whose timers fire late by
// varying amounts: frames stay on their absolute schedule (no accumulated drift), a
// stall is caught up by at most playCatchUpPacketsMax frames, and the skip shows in the
// timestamps.

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { alawToLinear, linearToAlaw, linearToUlaw, PT_PCMA, PT_PCMU, ulawToLinear } from '../../gateway/g711.js';
import { playCatchUpPacketsMax, playFillMsMax } from '../../gateway/limits.js';
import { MediaPlayer, type PlayerSink } from '../../gateway/player.js';
import { defaultPromptsDir, FRAME_SAMPLES, promptOf, PromptLibrary } from '../../gateway/prompts.js';
import { MODE_FILL, MODE_PLAY, MODE_RELAY, RtpOutStream } from '../../gateway/rtp-out-stream.js';
import { parseWav, writeWav } from '../../gateway/wav.js';
import { promptNames } from '../../sip/node/queue-media.js';
import { tempDir } from '../support/temp-dir.js';

t.test('G.711: silence, sign, and a round trip within the codec\'s step', async (t) => {
  t.equal(linearToUlaw(0), 0xff);
  t.equal(linearToAlaw(0), 0xd5);
  for (const x of [-32768, -20000, -1000, -8, 0, 8, 1000, 20000, 32767]) {
    const u = ulawToLinear(linearToUlaw(x));
    const a = alawToLinear(linearToAlaw(x));
    const step = Math.max(16, Math.abs(x) / 16);
    t.ok(Math.abs(u - x) <= step, `µ-law ${x} → ${u}`);
    t.ok(Math.abs(a - x) <= step, `A-law ${x} → ${a}`);
  }
});

function wav(o: { format?: number; channels?: number; rateHz?: number; bits?: number; data?: Buffer }): Buffer {
  const data = o.data ?? Buffer.alloc(320);
  const b = Buffer.alloc(44 + data.length);
  b.write('RIFF', 0, 'latin1');
  b.writeUInt32LE(36 + data.length, 4);
  b.write('WAVEfmt ', 8, 'latin1');
  b.writeUInt32LE(16, 16);
  b.writeUInt16LE(o.format ?? 1, 20);
  b.writeUInt16LE(o.channels ?? 1, 22);
  b.writeUInt32LE(o.rateHz ?? 8000, 24);
  b.writeUInt16LE(o.bits ?? 16, 34);
  b.write('data', 36, 'latin1');
  b.writeUInt32LE(data.length, 40);
  data.copy(b, 44);
  return b;
}

t.test('WAV loader: 16-bit PCM and 8-bit G.711 at 8 kHz mono load; anything else says what it found', async (t) => {
  const samples = Int16Array.from([0, 1000, -1000, 32767, -32768]);
  t.same([...parseWav(writeWav(samples))], [...samples], '16-bit PCM round trip');
  t.same([...parseWav(wav({ format: 7, bits: 8, data: Buffer.from([0xff, 0x7f]) }))], [ulawToLinear(0xff), ulawToLinear(0x7f)], 'µ-law');
  t.same([...parseWav(wav({ format: 6, bits: 8, data: Buffer.from([0xd5]) }))], [alawToLinear(0xd5)], 'A-law');
  t.throws(() => parseWav(Buffer.from('not a wav file at all')), /not a RIFF\/WAVE file/);
  t.throws(() => parseWav(wav({ rateHz: 16000 })), /16000 Hz; prompts must be 8000 Hz/);
  t.throws(() => parseWav(wav({ channels: 2 })), /2 channels; prompts must be mono/);
  t.throws(() => parseWav(wav({ format: 3, bits: 32 })), /format 3 with 32 bits/);
  t.throws(() => parseWav(wav({}).subarray(0, 60)), /runs past the end/);
  const noData = wav({}).subarray(0, 36);
  noData.writeUInt32LE(28, 4);
  t.throws(() => parseWav(noData), /no data chunk/);
});

t.test('prompt library: a bad file stops the load naming it; names are looked up, never paths', async (t) => {
  const dir = tempDir(t, 'prompts');
  writeFileSync(join(dir, 'ok.wav'), writeWav(new Int16Array(500).fill(1000)));
  const lib = PromptLibrary.load(dir);
  t.same(lib.names(), ['ok']);
  const ok = lib.get('ok');
  t.equal(ok.frames, 4, '500 samples → 4 frames of 160, padded');
  t.equal(ok.encoded[PT_PCMU]!.length, 4 * FRAME_SAMPLES);
  t.equal(ok.encoded[PT_PCMU]![FRAME_SAMPLES * 4 - 1], 0xff, 'padding is µ-law silence');
  t.equal(ok.encoded[PT_PCMA]![FRAME_SAMPLES * 4 - 1], 0xd5, 'padding is A-law silence');
  for (const hostile of ['../ok', '/etc/passwd', 'ok.wav', 'OK', '', 'a'.repeat(40), 42]) {
    t.throws(() => lib.get(hostile), { code: 'GW_ERR_NG_MALFORMED' }, `refused: ${JSON.stringify(hostile)}`);
  }
  t.throws(() => lib.get('absent'), { code: 'GW_ERR_UNKNOWN_PROMPT' });

  writeFileSync(join(dir, 'broken.wav'), wav({ rateHz: 44100 }));
  t.throws(() => PromptLibrary.load(dir), new RegExp(`${join(dir, 'broken.wav')}: 44100 Hz`), 'the bad file is named');
  const dir2 = tempDir(t, 'prompts-name');
  writeFileSync(join(dir2, 'Bad Name.wav'), writeWav(new Int16Array(160)));
  t.throws(() => PromptLibrary.load(dir2), /Bad Name\.wav: a prompt's name must be/);
  t.throws(() => PromptLibrary.load(join(dir2, 'missing')), /prompts dir .*missing/);
  mkdirSync(join(dir2, 'sub.wav')); // a directory named like a prompt is no prompt
  t.throws(() => PromptLibrary.load(dir2));
});

t.test('the shipped prompts load and hold every name the queue announcements use', async (t) => {
  const lib = PromptLibrary.load(defaultPromptsDir);
  for (const name of ['music', ...Object.values(promptNames), ...Array.from({ length: 21 }, (_, i) => String(i))]) {
    const p = lib.get(name);
    t.ok(p.durationMs > 200, `${name}: ${p.durationMs} ms`);
    t.ok(p.encoded[PT_PCMU]!.some((b) => b !== 0xff && b !== 0x7f), `${name} is not silence`);
  }
  t.ok(lib.get('music').durationMs >= 5000, 'the music is a tune of several seconds');
});

function rtp(seq: number, ts: number, ssrc: number): Buffer {
  const b = Buffer.alloc(12 + 160, 0x2a);
  b[0] = 0x80;
  b.writeUInt16BE(seq, 2);
  b.writeUInt32BE(ts, 4);
  b.writeUInt32BE(ssrc, 8);
  return b;
}

t.test('continuity: relayed packets continue the played stream (one SSRC, seq +1, ts by elapsed time)', async (t) => {
  const s = new RtpOutStream({ ssrc: 0x1111, seq: 65534, ts: 0xffffff60, nowMs: 0 });
  const played: Buffer[] = [];
  for (let i = 0; i < 3; i++) {
    const p = Buffer.alloc(172);
    s.stampPlayed(p, PT_PCMU, (0xffffff60 + i * 160) >>> 0, i === 0, i * 20);
    played.push(p);
  }
  t.same(played.map((p) => p.readUInt16BE(2)), [65534, 65535, 0], 'seq +1 and wraps');
  t.equal(played[0]![1], 0x80, 'first frame marked');
  t.equal(played[1]![1], 0, 'others not');
  t.equal(played[2]!.readUInt32BE(4), 0x000000a0, 'ts wraps');

  t.notOk(s.relayed(rtp(500, 7000, 0xbeef), 45), 'muted while a prompt plays');
  t.equal(s.mutedPackets, 1);
  s.mode = MODE_FILL; // stop media
  const a = rtp(500, 7000, 0xbeef);
  t.ok(s.relayed(a, 70), 'passes once stopped');
  t.equal(s.mode, MODE_RELAY, 'relayed media takes over the fill');
  t.equal(a.readUInt16BE(2), 1, 'next sequence number');
  t.equal(a.readUInt32BE(8), 0x1111, 'our SSRC');
  t.equal(a.readUInt32BE(4), (0xa0 + 30 * 8) >>> 0, 'ts advanced by the 30 ms since the last packet sent');
  const b = rtp(501, 7160, 0xbeef);
  s.relayed(b, 90);
  t.equal(b.readUInt16BE(2), 2);
  t.equal(b.readUInt32BE(4), (0xa0 + 240 + 160) >>> 0, 'then the source\'s own spacing');
  const late = rtp(499, 6840, 0xbeef);
  s.relayed(late, 95);
  t.equal(late.readUInt16BE(2), 0, 'a reordered packet keeps its place');
  const c = rtp(502, 7320, 0xbeef);
  s.relayed(c, 110);
  t.equal(c.readUInt16BE(2), 3, 'and does not move the stream back');
  const other = rtp(9, 123, 0xcafe);
  s.relayed(other, 130);
  t.equal(other.readUInt16BE(2), 4, 'a new source SSRC is re-based too');
  t.equal(other.readUInt32BE(8), 0x1111);
  const notRtp = Buffer.from([1, 2, 3]);
  t.ok(s.relayed(notRtp, 140), 'not RTP: passed untouched');
  t.same([...notRtp], [1, 2, 3]);

  // Played again after relaying: continues from the relayed numbering.
  const p = Buffer.alloc(172);
  const startTs = s.playStartTs(150, 160);
  t.equal(startTs, (other.readUInt32BE(4) + 160) >>> 0, 'a new playback starts at least a frame later');
  s.stampPlayed(p, PT_PCMU, startTs, true, 150);
  t.equal(p.readUInt16BE(2), 5);
});

/** A stepped clock with timers that fire `late(i)` ms after they were due. */
function steppedTimers(late: (i: number) => number): { now: () => number; timers: { set: (f: () => void, d: number) => unknown; clear: (h: unknown) => void }; run: (untilMs: number) => void; stall: (ms: number) => void } {
  let nowMs = 0;
  let fires = 0;
  const queue = new Map<number, { at: number; fire: () => void }>();
  let nextId = 1;
  return {
    now: () => nowMs,
    timers: {
      set: (fire, delayMs) => {
        const id = nextId++;
        queue.set(id, { at: nowMs + delayMs + late(fires++), fire });
        return id;
      },
      clear: (h) => void queue.delete(h as number),
    },
    run(untilMs) {
      for (;;) {
        let next: [number, { at: number; fire: () => void }] | null = null;
        for (const e of queue) if (next === null || e[1].at < next[1].at) next = e;
        if (next === null || next[1].at > untilMs) break;
        queue.delete(next[0]);
        nowMs = Math.max(nowMs, next[1].at);
        next[1].fire();
      }
      nowMs = untilMs;
    },
    stall(ms) {
      nowMs += ms;
      for (const e of queue.values()) e.at = Math.max(e.at, nowMs);
    },
  };
}

function sink(): PlayerSink & { sent: { seq: number; ts: number; payload: Buffer; atMs: number }[]; clock: () => number } {
  let stream: RtpOutStream | null = null;
  const sent: { seq: number; ts: number; payload: Buffer; atMs: number }[] = [];
  const s = {
    sent,
    clock: () => 0,
    outStream: () => stream,
    setOutStream: (_slot: number, os: RtpOutStream) => {
      stream = os;
    },
    sendToLeg: (_slot: number, p: Buffer) => {
      sent.push({ seq: p.readUInt16BE(2), ts: p.readUInt32BE(4), payload: Buffer.from(p.subarray(12)), atMs: s.clock() });
      return true;
    },
  };
  return s;
}

const tone = promptOf('tone', Int16Array.from({ length: 160 * 50 }, (_, i) => Math.round(8000 * Math.sin(i / 3))));

t.test('pacing: frames on an absolute 20 ms schedule however late each timer fires', async (t) => {
  const clock = steppedTimers((i) => (i * 7) % 13); // 0..12 ms late, varying
  const out = sink();
  out.clock = clock.now;
  const player = new MediaPlayer(out, clock.now, clock.timers);
  const started = player.play(0, [tone], 3, PT_PCMU);
  t.equal(started.durationMs, 3 * 50 * 20, 'duration of all rounds');
  clock.run(2000);
  // By t ms, frames 0..floor(t/20) are due; a timer is at most 12 ms late, so at most the
  // frame due in the last 12 ms may still be pending.
  t.ok(out.sent.length === 101 || out.sent.length === 100, `frames sent in 2 s: ${out.sent.length} (no drift)`);
  for (let i = 0; i < out.sent.length; i++) {
    t.ok(out.sent[i]!.atMs >= i * 20 && out.sent[i]!.atMs <= i * 20 + 12, `frame ${i} sent at ${out.sent[i]!.atMs}`);
    if (i > 0 && ((out.sent[i]!.seq - out.sent[i - 1]!.seq) & 0xffff) !== 1) t.fail(`seq break at ${i}`);
    if (i > 0 && ((out.sent[i]!.ts - out.sent[i - 1]!.ts) >>> 0) !== FRAME_SAMPLES) t.fail(`ts step at ${i}`);
  }
  t.ok(out.sent[50]!.payload.equals(tone.encoded[PT_PCMU]!.subarray(0, 160)), 'the second round starts again at frame 0');
  player.close();
});

t.test('pacing: a stall is caught up by at most playCatchUpPacketsMax frames, the skip shows in the timestamps', async (t) => {
  const clock = steppedTimers(() => 0);
  const out = sink();
  out.clock = clock.now;
  const player = new MediaPlayer(out, clock.now, clock.timers);
  player.play(0, [tone], 1, PT_PCMA);
  clock.run(100);
  const before = out.sent.length;
  clock.stall(300);
  clock.run(400);
  const burst = out.sent.filter((p) => p.atMs === 400).length;
  t.ok(burst <= playCatchUpPacketsMax, `${burst} frames sent at once after a 300 ms stall`);
  const jump = out.sent.findIndex((p, i) => i > 0 && ((p.ts - out.sent[i - 1]!.ts) >>> 0) > FRAME_SAMPLES);
  t.ok(jump >= before, 'timestamps jump over the frames skipped');
  t.ok(out.sent.every((p, i) => i === 0 || ((p.seq - out.sent[i - 1]!.seq) & 0xffff) === 1), 'sequence numbers stay continuous');
  player.close();
});

t.test('end of playback: silence keeps the stream going, relayed media takes over, bounded', async (t) => {
  const clock = steppedTimers(() => 1);
  const out = sink();
  out.clock = clock.now;
  const player = new MediaPlayer(out, clock.now, clock.timers);
  const short = promptOf('short', new Int16Array(320).fill(3000));
  player.play(0, [short], 1, PT_PCMU);
  clock.run(200);
  t.equal(out.outStream(0)!.mode, MODE_FILL, 'filling after the 2 frames');
  t.ok(out.sent.slice(2).every((p) => p.payload.every((b) => b === 0xff)), 'fill frames are silence');
  t.ok(out.sent.length >= 9, 'and keep coming every 20 ms');
  t.ok(player.isPlaying(0));
  clock.run(200 + playFillMsMax + 100);
  t.notOk(player.isPlaying(0), `filling stops after ${playFillMsMax} ms without relayed media`);

  player.play(0, [short], 1, PT_PCMU);
  t.equal(out.outStream(0)!.mode, MODE_PLAY);
  t.equal(player.stop(0), 1, 'stop media reports the frames played');
  const n = out.sent.length;
  clock.run(clock.now() + 60);
  t.ok(out.sent.length > n, 'silence after stop until the other party\'s media');
  t.ok(out.outStream(0)!.relayed(rtp(1, 1, 7), clock.now()), 'relayed media passes');
  const m = out.sent.length;
  clock.run(clock.now() + 100);
  t.equal(out.sent.length, m, 'and the player steps aside');
  t.notOk(player.isPlaying(0));
  t.equal(player.stop(0), null, 'nothing to stop');
});
