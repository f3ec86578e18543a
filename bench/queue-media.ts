// `npm run bench -- queue-media [--seconds S] [--calls N]`: what queued callers hear from
// the gateway, timed. The gateway process (its shipped prompts, ng auth off) serves N
// calls at once, each as the SIP node drives it (sip/node/queue-media.ts): an early-media
// offer, music in a loop, an announcement ("you are caller number" n) halfway, the music
// again, then an agent answers and talks (20 ms RTP) and `stop media` hands the caller
// over to it. Each caller's socket records every packet; the report gives the largest gap
// between arrivals (the bound is 60 ms), how many gaps passed 60 ms, and the
// stream checks (one SSRC, sequence +1) per call. test/queue/queue-media.test.ts makes the
// same checks through the SIP node with SIPp but asserts no timing: this is where the gap
// bound is measured.

import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { onJsonLines } from '../common/json-lines.js';
import { NgClient } from '../gateway/ng-client.js';
import type { BenchArgs, BenchReport } from './bench-args.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const gapBoundMs = 60;

type Leg = { sock: dgram.Socket; port: number; arrivals: number[]; seqBreaks: number; ssrcs: Set<number>; lastSeq: number };

async function socket(onPacket?: (m: Buffer) => void): Promise<dgram.Socket> {
  const s = dgram.createSocket('udp4');
  if (onPacket) s.on('message', onPacket);
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  return s;
}

const sdp = (port: number): string => `v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio ${port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n`;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function runBench(args: BenchArgs): Promise<BenchReport> {
  const queuedS = args.seconds ?? 10;
  const calls = Number(args.flags.get('calls') ?? 20);
  const gw = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'gateway/gateway-process.ts'), '--control', '127.0.0.1:0', '--ng-auth', 'off', '--ports', '24000-24999'], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const control = await new Promise<number>((resolve, reject) => {
      onJsonLines(gw.stdout!, (_line, ev) => {
        if (ev?.['event'] === 'listening') resolve(ev['control'] as number);
      });
      gw.once('exit', (code) => reject(new Error(`gateway exited ${code}`)));
    });
    const ng = new NgClient({ host: '127.0.0.1', port: control });
    const legs: Leg[] = [];
    const agents: { sock: dgram.Socket; to: number; seq: number }[] = [];
    for (let i = 0; i < calls; i++) {
      const leg: Leg = { sock: null as unknown as dgram.Socket, port: 0, arrivals: [], seqBreaks: 0, ssrcs: new Set(), lastSeq: -1 };
      leg.sock = await socket((m) => {
        leg.arrivals.push(performance.now());
        const seq = m.readUInt16BE(2);
        if (leg.lastSeq >= 0 && ((seq - leg.lastSeq) & 0xffff) !== 1) leg.seqBreaks++;
        leg.lastSeq = seq;
        leg.ssrcs.add(m.readUInt32BE(8));
      });
      leg.port = leg.sock.address().port;
      legs.push(leg);
      const offer = await ng.offer({ callId: `q${i}`, fromTag: 'caller', sdp: sdp(leg.port), flags: ['early-media'] });
      agents.push({ sock: await socket(), to: Number(/m=audio (\d+)/.exec(offer.sdp)![1]), seq: 1 });
      await ng.playMedia({ callId: `q${i}`, fromTag: 'caller', files: ['music'], repeatTimes: 1000 });
    }
    args.log(`queue-media: ${calls} callers hear music; announcement at ${queuedS / 2} s, agent at ${queuedS} s`);
    await sleep((queuedS * 1000) / 2);
    for (let i = 0; i < calls; i++) {
      const d = await ng.playMedia({ callId: `q${i}`, fromTag: 'caller', files: ['you-are-caller-number', String(Math.min(20, i + 1))] });
      setTimeout(() => void ng.playMedia({ callId: `q${i}`, fromTag: 'caller', files: ['music'], repeatTimes: 1000 }).catch(() => undefined), d.durationMs);
    }
    await sleep((queuedS * 1000) / 2);
    const talk = setInterval(() => {
      for (const a of agents) {
        const p = Buffer.alloc(172, 0x2a);
        p[0] = 0x80;
        p[1] = 0;
        p.writeUInt16BE(a.seq++ & 0xffff, 2);
        p.writeUInt32BE(a.seq * 160, 4);
        p.writeUInt32BE(0xa9e17, 8);
        a.sock.send(p, a.to, '127.0.0.1');
      }
    }, 20);
    for (let i = 0; i < calls; i++) {
      await ng.answer({ callId: `q${i}`, fromTag: 'caller', toTag: 'agent', sdp: sdp(agents[i]!.sock.address().port) });
      await ng.stopMedia({ callId: `q${i}`, fromTag: 'caller' });
    }
    await sleep(2000);
    clearInterval(talk);
    await sleep(100);
    const gaps: number[] = [];
    for (const l of legs) for (let i = 1; i < l.arrivals.length; i++) gaps.push(l.arrivals[i]! - l.arrivals[i - 1]!);
    gaps.sort((a, b) => a - b);
    const report = {
      bench: 'queue-media',
      calls,
      queuedSeconds: queuedS,
      packets: gaps.length + legs.length,
      gapMaxMs: Number((gaps[gaps.length - 1] ?? 0).toFixed(1)),
      gapP99Ms: Number((gaps[Math.floor(gaps.length * 0.99)] ?? 0).toFixed(1)),
      gapsOver60Ms: gaps.filter((g) => g > gapBoundMs).length,
      seqBreaks: legs.reduce((n, l) => n + l.seqBreaks, 0),
      callsWithMoreThanOneSsrc: legs.filter((l) => l.ssrcs.size !== 1).length,
    };
    args.log(`queue-media: largest gap ${report.gapMaxMs} ms (p99 ${report.gapP99Ms} ms), ${report.gapsOver60Ms} gaps over ${gapBoundMs} ms, ${report.seqBreaks} sequence breaks, ${report.callsWithMoreThanOneSsrc} calls with more than one SSRC`);
    ng.close();
    for (const l of legs) l.sock.close();
    for (const a of agents) a.sock.close();
    return report;
  } finally {
    gw.kill('SIGKILL');
  }
}
