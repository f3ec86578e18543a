// Shared helpers for transport tests: a logger that remembers warnings, a poller, and a
// raw TCP client that speaks (or fails to speak) the peer handshake.
import net from 'node:net';
import type { Logger } from '../../../common/logger.js';
import { FrameDecoder, encodeFrame } from '../../../common/framing.js';
import type { Message } from '../../../raft/types.js';

export function recordingLogger(): Logger & { warnings: string[] } {
  const warnings: string[] = [];
  const logger: Logger & { warnings: string[] } = {
    warnings,
    debug: () => {},
    info: () => {},
    warn: (msg, fields) => warnings.push(`${msg} ${JSON.stringify(fields ?? {})}`),
    error: (msg, fields) => warnings.push(`${msg} ${JSON.stringify(fields ?? {})}`),
    child: () => logger,
  };
  return logger;
}

/** Polls `cond` every 5 ms; rejects after `timeoutMs` with `what` (a hang guard, not a measurement). */
export async function waitFor(cond: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

export function heartbeat(from: string, to: string, term = 1, context = ''): Message {
  return { type: 'heartbeat', from, to, term, commit: 0, context };
}

/** A raw client socket with a frame reader; `closed` resolves when the server hangs up. */
export async function rawClient(port: number): Promise<{ socket: net.Socket; frames: Uint8Array[]; closed: Promise<void>; send(p: Uint8Array): void }> {
  const socket = net.connect({ host: '127.0.0.1', port });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  socket.on('error', () => {});
  const frames: Uint8Array[] = [];
  const decoder = new FrameDecoder(1 << 20);
  socket.on('data', (d: Buffer) => frames.push(...decoder.push(d)));
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  return { socket, frames, closed, send: (p) => socket.write(encodeFrame(p)) };
}
