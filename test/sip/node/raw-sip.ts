// Raw SIP over real sockets for the security tests (test/security/sip-*.test.ts): request
// bytes built by hand (so a test can forge any Via), a UDP socket bound to any loopback
// address (127.0.0.2 and up are separate sources on Linux), TCP connections from a chosen
// address, and a node config with no shards for tests that need only the listeners.

import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Test } from 'tap';
import { writeLocalClusterConfig } from '../../../cluster/local-cluster.js';
import type { ClusterConfig } from '../../../common/config.js';
import { parseMessage } from '../../../sip/syntax/index.js';
import type { SipResponse } from '../../../sip/syntax/index.js';

let seq = 0;

/** An OPTIONS (or other method) from `from` to the node at `to`, as bytes. */
export function rawRequest(o: Readonly<{ method?: string; from: { host: string; port: number }; toPort: number; transport?: 'UDP' | 'TCP'; viaParams?: string; extraHeaders?: string }>): Buffer {
  const n = ++seq;
  const method = o.method ?? 'OPTIONS';
  const lines = [
    `${method} sip:ringfence@127.0.0.1:${o.toPort} SIP/2.0`,
    `Via: SIP/2.0/${o.transport ?? 'UDP'} ${o.from.host}:${o.from.port};branch=z9hG4bK-raw-${n}-${randomBytes(4).toString('hex')}${o.viaParams ?? ''}`,
    'Max-Forwards: 70',
    `From: <sip:tester@${o.from.host}>;tag=t${n}`,
    'To: <sip:ringfence@127.0.0.1>',
    `Call-ID: raw-${n}-${randomBytes(6).toString('hex')}`,
    `CSeq: 1 ${method}`,
    ...(o.extraHeaders ? [o.extraHeaders] : []),
    'Content-Length: 0',
    '',
    '',
  ];
  return Buffer.from(lines.join('\r\n'));
}

/** A UDP socket on `host` (port 0 unless given) that collects the responses it receives. */
export async function udpPeer(t: Test, host: string, port = 0): Promise<{ socket: dgram.Socket; port: number; responses: SipResponse[]; datagrams: Buffer[]; next(): Promise<SipResponse> }> {
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(port, host, () => resolve());
  });
  t.teardown(() => new Promise<void>((r) => socket.close(() => r())));
  const responses: SipResponse[] = [];
  const datagrams: Buffer[] = [];
  const waiters: ((r: SipResponse) => void)[] = [];
  socket.on('message', (buf) => {
    datagrams.push(buf);
    const p = parseMessage(buf);
    if (!p.ok || p.message.kind !== 'response') return;
    responses.push(p.message);
    waiters.shift()?.(p.message);
  });
  return {
    socket,
    port: socket.address().port,
    responses,
    datagrams,
    next: () => new Promise((resolve) => waiters.push(resolve)),
  };
}

export function sendUdp(socket: dgram.Socket, bytes: Uint8Array, port: number): Promise<void> {
  return new Promise((resolve) => socket.send(bytes, port, '127.0.0.1', () => resolve()));
}

/** A TCP connection from `localAddress` to the node's TCP port; `closed` resolves when the
 * node (or we) close it. */
export async function tcpConnect(t: Test, port: number, localAddress = '127.0.0.1'): Promise<{ socket: net.Socket; closed: Promise<void>; received: () => string }> {
  const socket = net.connect({ host: '127.0.0.1', port, localAddress });
  let data = '';
  socket.on('data', (d) => (data += d.toString('latin1')));
  socket.on('error', () => undefined);
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  t.teardown(() => void socket.destroy());
  await new Promise<void>((resolve) => {
    socket.once('connect', () => resolve());
    socket.once('close', () => resolve());
  });
  return { socket, closed, received: () => data };
}

/** Resolves with the first SIP status line seen on a TCP connection (or null at close). */
export function tcpStatus(conn: { socket: net.Socket; closed: Promise<void>; received: () => string }): Promise<number | null> {
  return new Promise((resolve) => {
    const check = (): void => {
      const m = /^SIP\/2\.0 (\d{3}) /m.exec(conn.received());
      if (m !== null) {
        conn.socket.off('data', check);
        resolve(Number(m[1]));
      }
    };
    conn.socket.on('data', check);
    void conn.closed.then(() => resolve(/^SIP\/2\.0 (\d{3}) /m.exec(conn.received()) ? Number(/^SIP\/2\.0 (\d{3}) /m.exec(conn.received())![1]) : null));
    check();
  });
}

/** A cluster file with a random 32-byte secret and no shards: a SIP node started on it
 * serves its listeners (OPTIONS and the like) at once, with nothing behind them. */
export async function listenersOnlyConfig(t: Test): Promise<ClusterConfig> {
  const dir = mkdtempSync(join(tmpdir(), 'ringfence-sec-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const { config } = await writeLocalClusterConfig({ dir, shards: 1, replicasPerShard: 1 });
  return { ...config, shards: [], secret: randomBytes(32).toString('hex') };
}
