// One accepted connection: authenticate the dialer as the listener (handshake.ts: the
// dialer's proof is checked before this side sends any MAC), then decode Raft frames and
// hand each message to `deliver`. Anything wrong — a bad or oversized frame, a failed MAC,
// a stranger that has not finished the handshake by the absolute deadline (however slowly
// it trickles bytes), a message claiming another sender — closes this connection with a
// logged reason; the node itself keeps running.

import type net from 'node:net';
import { FrameDecoder, encodeFrame } from '../../common/framing.js';
import type { Logger } from '../../common/logger.js';
import { decodeMessage } from '../codec.js';
import type { Message, NodeId } from '../types.js';
import { computeMac, decodeHello, decodeProof, encodeAccept, encodeChallenge, macMatches, newNonce } from './handshake.js';
import { handshakeFrameBytesMax, keepaliveDelayMs, raftFrameBytesMax } from './limits.js';

export type InboundOptions = {
  selfId: NodeId;
  /** The derived Raft peer key (deriveKey(rootSecret, 'raft-peer')). */
  key: Uint8Array;
  /** Absolute: from the accept to the verified proof. */
  handshakeTimeoutMs: number;
  /** Called once when the handshake completes or the connection closes before it. */
  onHandshakeDone?: () => void;
  logger: Logger;
  deliver: (groupId: string, m: Message) => void;
};

export type InboundStats = { authenticated: number; rejected: number; delivered: number };

export function serveInbound(socket: net.Socket, opts: InboundOptions, stats: InboundStats): void {
  const decoder = new FrameDecoder(handshakeFrameBytesMax);
  const remote = `${socket.remoteAddress}:${socket.remotePort}`;
  const listenerNonce = newNonce();
  let dialerId: NodeId | null = null;
  let dialerNonce: Uint8Array | null = null;
  let authenticated = false;
  /** Whether this connection was already counted as rejected. */
  let counted = false;

  let handshakeDone = false;
  const finishHandshake = (): void => {
    if (handshakeDone) return;
    handshakeDone = true;
    clearTimeout(deadline);
    opts.onHandshakeDone?.();
  };

  socket.setNoDelay(true);
  socket.setKeepAlive(true, keepaliveDelayMs);
  // An absolute deadline, not socket.setTimeout (an idle timer a trickle keeps resetting).
  const deadline = setTimeout(() => reject(`handshake not done within ${opts.handshakeTimeoutMs} ms`), opts.handshakeTimeoutMs);

  function reject(reason: string): void {
    if (socket.destroyed) return;
    if (!authenticated && !counted) {
      counted = true;
      stats.rejected++;
    }
    opts.logger.warn('raft peer connection closed', { remote, peer: dialerId, reason });
    socket.destroy();
  }

  function onHandshakeFrame(frame: Uint8Array): void {
    if (dialerId === null) {
      const hello = decodeHello(frame);
      dialerId = hello.dialerId;
      dialerNonce = hello.dialerNonce;
      // A nonce only: nothing a stranger could test a guessed secret against.
      socket.write(encodeFrame(encodeChallenge({ listenerId: opts.selfId, listenerNonce })));
      return;
    }
    const proof = decodeProof(frame);
    if (!macMatches(opts.key, macInput('dialer', dialerId, dialerNonce!), proof.mac)) {
      throw new Error('dialer failed authentication (wrong cluster secret?)');
    }
    authenticated = true;
    stats.authenticated++;
    decoder.frameBytesMax = raftFrameBytesMax;
    finishHandshake();
    socket.write(encodeFrame(encodeAccept({ mac: computeMac(opts.key, macInput('listener', dialerId, dialerNonce!)) })));
  }

  function macInput(role: 'dialer' | 'listener', dialer: NodeId, nonce: Uint8Array) {
    return { role, dialerId: dialer, listenerId: opts.selfId, dialerNonce: nonce, listenerNonce };
  }

  /** Decodes and checks one Raft frame; throws (closing the link) on anything wrong. */
  function checkedMessage(frame: Uint8Array): { groupId: string; message: Message } {
    const decoded = decodeMessage(frame);
    const { message } = decoded;
    if (message.from !== dialerId) throw new Error(`message claims sender ${message.from} on ${dialerId}'s link`);
    if (message.to !== opts.selfId) throw new Error(`message for ${message.to} arrived at ${opts.selfId}`);
    return decoded;
  }

  socket.on('data', (chunk: Buffer) => {
    decoder.feed(chunk);
    for (;;) {
      if (socket.destroyed) return;
      let decoded: { groupId: string; message: Message };
      try {
        // one frame at a time: the proof raises the frame limit for the frames after it
        const frame = decoder.next();
        if (frame === null) return;
        if (!authenticated) {
          onHandshakeFrame(frame);
          continue;
        }
        decoded = checkedMessage(frame);
      } catch (e) {
        return reject((e as Error).message);
      }
      // outside the try: a throwing handler is a bug to surface, not a bad frame
      stats.delivered++;
      opts.deliver(decoded.groupId, decoded.message);
    }
  });
  socket.on('close', () => {
    finishHandshake();
    if (authenticated || counted) return;
    counted = true;
    stats.rejected++;
    opts.logger.warn('raft peer connection closed', { remote, peer: dialerId, reason: 'hung up before authenticating' });
  });
  socket.on('error', (e) => opts.logger.debug('raft peer connection error', { remote, reason: e.message }));
}
