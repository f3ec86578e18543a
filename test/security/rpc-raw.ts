// A raw client of the shard RPC for the security tests: a TCP socket that sends whatever
// frames (or bytes) a test gives it, collects every frame the replica answers with, and can
// run the handshake (shards/rpc/auth.ts) by hand, right or wrong.
import net from 'node:net';
import { encodeFrame, FrameDecoder } from '../../common/framing.js';
import {
  computeRpcMac,
  decodeRpcAcceptOrRefused,
  decodeRpcChallenge,
  encodeRpcHello,
  encodeRpcProof,
  newRpcNonce,
  principalKey,
  rpcMacMatches,
} from '../../shards/rpc/auth.js';

export type RawRpc = {
  socket: net.Socket;
  frames: Buffer[];
  closed: Promise<void>;
  isClosed(): boolean;
  send(payload: Uint8Array | string | object): void;
  sendRaw(bytes: Uint8Array): void;
  /** Resolves once `n` frames have arrived (or the socket closed, or `ms` passed). */
  waitFrames(n: number, ms?: number): Promise<void>;
};

export async function rawRpc(port: number, host = '127.0.0.1'): Promise<RawRpc> {
  const socket = net.connect({ host, port });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  socket.on('error', () => {});
  const frames: Buffer[] = [];
  const decoder = new FrameDecoder(64 * 1024 * 1024);
  let closedFlag = false;
  const waiters: (() => void)[] = [];
  socket.on('data', (d: Buffer) => {
    try {
      frames.push(...decoder.push(d));
    } catch {
      socket.destroy();
    }
    for (const w of waiters.splice(0)) w();
  });
  const closed = new Promise<void>((resolve) =>
    socket.once('close', () => {
      closedFlag = true;
      for (const w of waiters.splice(0)) w();
      resolve();
    }),
  );
  const toBytes = (p: Uint8Array | string | object): Uint8Array =>
    p instanceof Uint8Array ? p : Buffer.from(typeof p === 'string' ? p : JSON.stringify(p));
  return {
    socket,
    frames,
    closed,
    isClosed: () => closedFlag,
    send: (p) => {
      if (!socket.destroyed) socket.write(encodeFrame(toBytes(p)));
    },
    sendRaw: (b) => {
      if (!socket.destroyed) socket.write(b);
    },
    waitFrames: async (n, ms = 5000) => {
      const deadline = Date.now() + ms;
      while (frames.length < n && !closedFlag && Date.now() < deadline) {
        await new Promise<void>((resolve) => {
          waiters.push(resolve);
          setTimeout(resolve, Math.max(1, deadline - Date.now())).unref();
        });
      }
    },
  };
}

/** Runs the dialer's half of the handshake on `raw`; resolves true once the replica's
 * ACCEPT checked out, false if it refused or hung up. */
export async function handshake(raw: RawRpc, o: { secret: string; principal: string; replicaId: string }): Promise<boolean> {
  const key = principalKey(o.secret, o.principal);
  const dialerNonce = newRpcNonce();
  const first = raw.frames.length;
  raw.send(encodeRpcHello(o.principal, dialerNonce));
  await raw.waitFrames(first + 1);
  const challenge = raw.frames[first] === undefined ? null : decodeRpcChallenge(raw.frames[first]!);
  if (challenge === null) return false;
  const input = { principal: o.principal, listenerId: o.replicaId, dialerNonce, listenerNonce: challenge.nonce };
  raw.send(encodeRpcProof(computeRpcMac(key, { ...input, role: 'dialer' })));
  await raw.waitFrames(first + 2);
  const answer = raw.frames[first + 1] === undefined ? null : decodeRpcAcceptOrRefused(raw.frames[first + 1]!);
  if (answer === null || !('mac' in answer)) return false;
  return rpcMacMatches(key, { ...input, role: 'listener' }, answer.mac);
}

/** The responses among `frames`, parsed. */
export function responses(frames: readonly Buffer[]): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (const f of frames) {
    try {
      const v = JSON.parse(f.toString('utf8')) as unknown;
      if (typeof v === 'object' && v !== null && 'id' in v) out.push(v as Record<string, unknown>);
    } catch {
      // not JSON: not a response
    }
  }
  return out;
}
