// Shared test plumbing for the gateway tests: spawning the real gateway process (killed
// in teardown, with a fresh ng key unless told otherwise), UDP endpoints that record what they receive and from whom, RTP packets,
// and bounded polling.

import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { onJsonLines } from '../../common/json-lines.js';
import { nodeEntryArgs } from '../../common/node-entry.js';
import type { BDict } from '../../gateway/bencode.js';
import { signNg } from '../../gateway/ng-auth.js';
import { formatNgMessage } from '../../gateway/ng-protocol.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

type Teardown = { teardown(fn: () => void | Promise<void>): void };

/** `key`: the ng control key the gateway was started with (null with --ng-auth off);
 * pass it to NgClient. */
export type GatewayHandle = { child: ChildProcess; control: number; events: Record<string, unknown>[]; key: Buffer | null };

// Below the kernel's ephemeral range (32768+), so sockets bound to port 0 anywhere on the
// machine never take our ports; each test file starts at its own random offset.
let nextRange = 20000 + Math.floor(Math.random() * 120) * 100;

/** A port range of `pairs` RTP/RTCP pairs not used by the other gateways of this file. */
export function portRange(pairs: number): string {
  const min = nextRange;
  nextRange += pairs * 2 + 2;
  return `${min}-${min + pairs * 2 - 1}`;
}

/** Like portRange, but every port of the range is first checked free on UDP at the
 * gateway's default interface. Every gateway a test starts takes its range from here: the
 * ranges lie in the span local clusters pick their ports from (cluster/local-cluster.ts)
 * and parallel test files start at random offsets, so a range can be taken whole (a
 * 4-pair range once was: GW_ERR_PORTS_EXHAUSTED), and a test that fills a small range
 * cannot afford even one port of it taken. */
export async function freePortRange(pairs: number, host = '127.0.0.1'): Promise<string> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const range = portRange(pairs);
    const [min, max] = range.split('-').map(Number) as [number, number];
    if (await allBindable(host, min, max)) return range;
  }
  throw new Error(`no free range of ${pairs} port pairs found in 50 tries`);
}

async function allBindable(host: string, min: number, max: number): Promise<boolean> {
  const sockets: dgram.Socket[] = [];
  try {
    for (let port = min; port <= max; port++) {
      const s = dgram.createSocket('udp4');
      sockets.push(s);
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject);
        s.bind(port, host, () => resolve());
      });
    }
    return true;
  } catch {
    return false;
  } finally {
    for (const s of sockets) {
      try {
        s.close();
      } catch {
        // never bound
      }
    }
  }
}

/** A fresh random ng key in a 0600 file (removed in teardown), as an operator would
 * provision one for a standalone gateway. */
export function writeNgKeyFile(t: Teardown): { key: Buffer; file: string } {
  const dir = mkdtempSync(path.join(tmpdir(), 'ringfence-ngkey-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const key = randomBytes(32);
  const file = path.join(dir, 'ng.key');
  writeFileSync(file, key.toString('hex') + '\n', { mode: 0o600 });
  return { key, file };
}

/** The gateway process, with a fresh ng key unless `args` set --ng-auth or --ng-key-file. */
export async function spawnGateway(t: Teardown, args: readonly string[]): Promise<GatewayHandle> {
  let key: Buffer | null = null;
  const keyArgs: string[] = [];
  if (!args.includes('--ng-auth') && !args.includes('--ng-key-file')) {
    const k = writeNgKeyFile(t);
    key = k.key;
    keyArgs.push('--ng-key-file', k.file);
  }
  const child = spawn(process.execPath, [...nodeEntryArgs(path.join(root, 'gateway/gateway-process.ts')), '--control', '127.0.0.1:0', ...keyArgs, ...args], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const events: Record<string, unknown>[] = [];
  const control = await new Promise<number>((resolve, reject) => {
    onJsonLines(child.stdout!, (line, ev) => {
      if (ev === null) return reject(new Error(`gateway printed a line that is not JSON: ${line}`));
      events.push(ev);
      if (ev['event'] === 'listening') resolve(ev['control'] as number);
    });
    child.once('exit', (code) => reject(new Error(`gateway exited early with ${code}`)));
  });
  return { child, control, events, key };
}

/** An ng datagram as NgClient would send it: signed with `key` unless it is null. */
export function ngDatagram(key: Buffer | null, cookie: string, body: BDict, nowMs = Date.now()): Buffer {
  return formatNgMessage(cookie, key === null ? body : signNg(key, 'ng-request', cookie, body, nowMs));
}

export type Received = { data: Buffer; address: string; port: number };

/** A UDP socket that keeps everything it receives. */
export class Endpoint {
  readonly received: Received[] = [];
  private constructor(readonly socket: dgram.Socket) {
    socket.on('message', (data, rinfo) => this.received.push({ data, address: rinfo.address, port: rinfo.port }));
  }
  static async open(t: Teardown, ip = '127.0.0.1', port = 0): Promise<Endpoint> {
    const s = dgram.createSocket({ type: 'udp4', recvBufferSize: 1 << 20 });
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.bind(port, ip, () => resolve());
    });
    const e = new Endpoint(s);
    t.teardown(() => e.close());
    return e;
  }
  get port(): number {
    return this.socket.address().port;
  }
  send(data: Buffer, port: number, ip = '127.0.0.1'): Promise<void> {
    return new Promise((resolve, reject) => this.socket.send(data, port, ip, (err) => (err ? reject(err) : resolve())));
  }
  close(): void {
    try {
      this.socket.close();
    } catch {
      // already closed
    }
  }
}

/** A 172-byte PCMU RTP packet (12-byte header + 160 bytes of payload). */
export function rtpPacket(seq: number, ssrc = 0x1234, timestamp = seq * 160): Buffer {
  const b = Buffer.alloc(172, 0xff);
  b[0] = 0x80;
  b[1] = 0;
  b.writeUInt16BE(seq & 0xffff, 2);
  b.writeUInt32BE(timestamp >>> 0, 4);
  b.writeUInt32BE(ssrc >>> 0, 8);
  return b;
}

/** A minimal RTCP receiver report (no report blocks). */
export function rtcpPacket(ssrc = 0x1234): Buffer {
  const b = Buffer.alloc(8);
  b[0] = 0x80;
  b[1] = 201;
  b.writeUInt16BE(1, 2);
  b.writeUInt32BE(ssrc, 4);
  return b;
}

export function sdp(port: number, ip = '127.0.0.1', rtcpPort?: number): string {
  const rtcp = rtcpPort === undefined ? '' : `a=rtcp:${rtcpPort}\r\n`;
  return `v=0\r\no=- 42 1 IN IP4 ${ip}\r\ns=-\r\nc=IN IP4 ${ip}\r\nt=0 0\r\nm=audio ${port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n${rtcp}a=sendrecv\r\n`;
}

export function mediaPort(sdpText: string): number {
  const m = /^m=audio (\d+) /m.exec(sdpText);
  if (!m) throw new Error(`no m=audio line in ${sdpText}`);
  return Number(m[1]);
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls `probe` until it returns a value other than undefined, at most `tries` times. */
export async function eventually<T>(probe: () => T | undefined | Promise<T | undefined>, tries = 100, everyMs = 50): Promise<T> {
  for (let i = 0; i < tries; i++) {
    const v = await probe();
    if (v !== undefined) return v;
    await sleep(everyMs);
  }
  throw new Error('condition not reached');
}

/** Sends packets one after another, pausing every `batch` so the receiver keeps up. */
export async function sendAll(from: Endpoint, packets: readonly Buffer[], port: number, batch = 20): Promise<void> {
  for (let i = 0; i < packets.length; i++) {
    await from.send(packets[i]!, port);
    if ((i + 1) % batch === 0) await sleep(5);
  }
}
