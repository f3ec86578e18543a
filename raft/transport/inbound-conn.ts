// One accepted connection: authenticate the dialer as the listener (handshake.ts: the
// dialer's proof is checked before this side sends any MAC), then decode Raft frames and
// hand each message to `deliver`. Anything wrong — a bad or oversized frame, a failed MAC,
// a stranger that has not finished the handshake by the absolute deadline (however slowly
// it trickles bytes) — closes this connection with a logged reason; the node itself keeps
// running. A well-formed message whose sender is not hosted by the authenticated peer
// store (or whose receiver is not hosted here) is dropped and counted: one confused
// member must not cut every group's link. Every frame is a sign of life (`heard`).

import type net from 'node:net';
import { FrameDecoder, encodeFrame } from '../../common/framing.js';
import type { Logger } from '../../common/logger.js';
import { decodeFrame, type DecodedMessage } from '../codec.js';
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
  /** The store hosting a Raft member (identity when stores are not used). */
  route: (nodeId: NodeId) => NodeId;
  /** The authenticated dialer sent a frame (or finished its handshake). */
  heard: (peer: NodeId) => void;
};

export type InboundStats = {
  authenticated: number;
  rejected: number;
  delivered: number;
  /** Messages dropped because their sender is not on the dialer's store, or their
   * receiver not on ours. */
  misrouted: number;
  /** Frames received after authentication, and the pings among them. */
  frames: number;
  pings: number;
};

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
    opts.heard(dialerId);
    socket.write(encodeFrame(encodeAccept({ mac: computeMac(opts.key, macInput('listener', dialerId, dialerNonce!)) })));
  }

  function macInput(role: 'dialer' | 'listener', dialer: NodeId, nonce: Uint8Array) {
    return { role, dialerId: dialer, listenerId: opts.selfId, dialerNonce: nonce, listenerNonce };
  }

  let misrouteLogged = false;
  /** Whether a decoded message may be delivered: sent by a member on the dialer's store
   * to a member on ours. */
  function routed(d: DecodedMessage): boolean {
    const { message } = d;
    const fromStore = opts.route(message.from);
    const toStore = opts.route(message.to);
    if (fromStore === dialerId && toStore === opts.selfId) return true;
    stats.misrouted++;
    if (!misrouteLogged) {
      misrouteLogged = true; // once per link: a flood of them must not flood the log
      const why = fromStore !== dialerId ? `message claims sender ${message.from} (store ${fromStore}) on ${dialerId}'s link` : `message for ${message.to} (store ${toStore}) arrived at ${opts.selfId}`;
      opts.logger.warn('raft message dropped', { peer: dialerId, group: d.groupId, reason: why });
    }
    return false;
  }

  socket.on('data', (chunk: Buffer) => {
    decoder.feed(chunk);
    for (;;) {
      if (socket.destroyed) return;
      let messages: readonly DecodedMessage[];
      try {
        // one frame at a time: the proof raises the frame limit for the frames after it
        const frame = decoder.next();
        if (frame === null) return;
        if (!authenticated) {
          onHandshakeFrame(frame);
          continue;
        }
        const decoded = decodeFrame(frame);
        stats.frames++;
        if (decoded.kind === 'ping') stats.pings++;
        messages = decoded.kind === 'ping' ? [] : decoded.messages;
      } catch (e) {
        return reject((e as Error).message);
      }
      // outside the try: a throwing handler is a bug to surface, not a bad frame
      opts.heard(dialerId!);
      for (const d of messages) {
        if (!routed(d)) continue;
        stats.delivered++;
        opts.deliver(d.groupId, d.message);
      }
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
