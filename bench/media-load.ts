// The load generator of `bench media`, run as its own process (forked by bench/media.ts)
// so it never shares a CPU budget with the relay under test. It owns, per stream, a
// caller socket that sends 172-byte PCMU RTP (12-byte header + 160 bytes payload) and an
// agent socket that counts what the relay delivered. Driven over IPC:
//   parent → {type:'setup', streams}            ← {type:'ports', callers:[...], agents:[...]}
//   parent → {type:'targets', ports:[...]}       (relay port each caller sends to)
//   parent → {type:'run', pps, seconds, drainMs} ← {type:'result', sent, received, ...}
//   parent → {type:'exit'}

import dgram from 'node:dgram';
import { performance } from 'node:perf_hooks';

type Msg =
  | { type: 'setup'; streams: number }
  | { type: 'targets'; ports: number[] }
  | { type: 'run'; pps: number; seconds: number; drainMs: number }
  | { type: 'exit' };

const HOST = '127.0.0.1';
const PACKET_BYTES = 172;
const RING = 8; // buffers per stream, so a send still queued in libuv is never rewritten
const SOCKET_BUFFER_BYTES = 4 << 20;
const SENDS_PER_TURN_MAX = 512; // yield to the poll phase so the sinks keep draining

let callers: dgram.Socket[] = [];
let agents: dgram.Socket[] = [];
let targets: number[] = [];
let received = 0;
/** Marks every packet of a run in its first payload byte, so packets of an earlier run that
 * arrive late are not counted as this run's deliveries. */
let runMark = 0;
let seqs: Uint16Array = new Uint16Array(0);
let buffers: Buffer[] = [];

function send(m: unknown): void {
  process.send!(m);
}

/** Answers dgram's per-send address lookup synchronously (we only send to an IP literal),
 * which keeps the generator cheap enough to outrun the relays. */
function literalLookup(address: string, _family: unknown, cb: (err: null, address: string, family: number) => void): void {
  cb(null, address, 4);
}

function bind(onMessage?: (msg: Buffer) => void): Promise<dgram.Socket> {
  const s = dgram.createSocket({
    type: 'udp4',
    recvBufferSize: SOCKET_BUFFER_BYTES,
    sendBufferSize: SOCKET_BUFFER_BYTES,
    lookup: literalLookup as unknown as dgram.SocketOptions['lookup'],
  });
  if (onMessage) s.on('message', onMessage);
  s.on('error', () => undefined);
  return new Promise((resolve) => s.bind(0, HOST, () => resolve(s)));
}

async function setup(streams: number): Promise<void> {
  const count = (msg: Buffer) => {
    if (msg[12] === runMark) received++;
  };
  for (let i = 0; i < streams; i++) {
    callers.push(await bind());
    agents.push(await bind(count));
  }
  seqs = new Uint16Array(streams);
  buffers = [];
  for (let i = 0; i < streams * RING; i++) {
    const b = Buffer.alloc(PACKET_BYTES, 0xff);
    b[0] = 0x80;
    b[1] = 0; // PCMU
    b.writeUInt32BE((Math.floor(i / RING) + 1) * 0x1000, 8); // SSRC per stream
    buffers.push(b);
  }
  send({ type: 'ports', callers: callers.map((s) => s.address().port), agents: agents.map((s) => s.address().port) });
}

function run(pps: number, seconds: number, drainMs: number): void {
  const streams = callers.length;
  const total = Math.floor(pps * seconds);
  let sent = 0;
  let next = 0;
  received = 0;
  runMark = (runMark + 1) & 0xff;
  for (const b of buffers) b[12] = runMark;
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  const deadlineMs = seconds * 1000;
  const turn = () => {
    const elapsedMs = performance.now() - t0;
    // Bounded in time as well as count: a CPU-starved generator stops on time and reports
    // the rate it really achieved instead of stretching the step.
    const due = elapsedMs >= deadlineMs ? sent : Math.min(total, Math.floor((elapsedMs * pps) / 1000));
    let n = Math.min(due - sent, SENDS_PER_TURN_MAX);
    while (n-- > 0) {
      const i = next;
      next = next + 1 === streams ? 0 : next + 1;
      const seq = seqs[i]!;
      seqs[i] = seq + 1;
      const b = buffers[i * RING + (seq % RING)]!;
      b.writeUInt16BE(seq, 2);
      b.writeUInt32BE((seq * 160) >>> 0, 4);
      callers[i]!.send(b, targets[i]!, HOST);
      sent++;
    }
    if (sent < total && performance.now() - t0 < deadlineMs) {
      setImmediate(turn);
      return;
    }
    const sendMs = performance.now() - t0;
    setTimeout(() => {
      const cpu = process.cpuUsage(cpu0);
      send({ type: 'result', sent, received, sendMs, generatorCpuSec: (cpu.user + cpu.system) / 1e6 });
    }, drainMs);
  };
  setImmediate(turn);
}

process.on('message', (m: Msg) => {
  if (m.type === 'setup') void setup(m.streams);
  else if (m.type === 'targets') targets = m.ports;
  else if (m.type === 'run') run(m.pps, m.seconds, m.drainMs);
  else if (m.type === 'exit') {
    for (const s of [...callers, ...agents]) s.close();
    callers = [];
    agents = [];
    process.exit(0);
  }
});
