// The single outbound connection from this store to one peer store: dials,
// authenticates as the dialer (handshake.ts: proves itself, then checks the listener's
// ACCEPT before sending any Raft frame, all within an absolute deadline), then writes the
// queued messages — everything queued during one event-loop turn, whatever its group,
// goes out as one batch frame (codec.ts; split only past batchFrameBytesMax) in one socket
// write. The queue is bounded (drop oldest), the socket's own buffer too (wait for
// 'drain'), and a lost connection is redialled with exponential backoff and jitter until
// the transport closes. A ping frame goes out only when asked and nothing is queued.

import net from 'node:net';
import { FrameDecoder, FRAME_HEADER_BYTES, encodeFrame } from '../../common/framing.js';
import type { Logger } from '../../common/logger.js';
import { batchFrameOverheadBytes, encodeBatchHeader, encodePingFrame } from '../codec.js';
import type { NodeId } from '../types.js';
import {
  batchFrameBytesMax, handshakeFrameBytesMax, keepaliveDelayMs, peerQueueBytesMax, peerQueueMessagesMax,
  reconnectAttemptsCountedMax, reconnectBackoffMsMax, reconnectBackoffMsMin, socketPendingBytesMax,
} from './limits.js';
import { computeMac, decodeAccept, decodeChallenge, encodeHello, encodeProof, macMatches, newNonce } from './handshake.js';
import type { PeerAddress } from './transport.js';

type State = 'idle' | 'connecting' | 'ready' | 'backoff' | 'closed';

export type OutboundOptions = {
  selfId: NodeId;
  peerId: NodeId;
  /** The derived Raft peer key (deriveKey(rootSecret, 'raft-peer')). */
  key: Uint8Array;
  /** Absolute: from the dial to the verified ACCEPT. */
  handshakeTimeoutMs: number;
  logger: Logger;
  random: () => number;
};

export class OutboundPeer {
  private state: State = 'idle';
  private socket: net.Socket | null = null;
  private queue: Uint8Array[] = [];
  private queuedBytes = 0;
  private attempts = 0;
  private timer: NodeJS.Timeout | null = null;
  private flushScheduled = false;
  /** Messages dropped because the queue was full, for status and tests. */
  dropped = 0;
  connects = 0;
  /** Socket writes of Raft frames: one per flush, however many messages it carried. */
  writes = 0;
  /** Batch frames written, and the messages they carried. */
  frames = 0;
  messages = 0;
  /** Ping frames written (nothing else was going out). */
  pings = 0;

  constructor(
    private readonly opts: OutboundOptions,
    private addr: PeerAddress | null,
  ) {}

  get connected(): boolean {
    return this.state === 'ready';
  }

  setAddress(addr: PeerAddress): void {
    if (this.addr && this.addr.host === addr.host && this.addr.port === addr.port) return;
    this.addr = addr;
    if (this.socket) this.socket.destroy(); // 'close' redials the new address
    else if (this.state === 'backoff') this.redialNow();
  }

  /** Queues one encoded item (codec.ts encodeItem); the oldest are dropped beyond the
   * queue limits. */
  enqueue(payload: Uint8Array): void {
    if (this.state === 'closed') return;
    this.queue.push(payload);
    this.queuedBytes += payload.length;
    while (this.queue.length > peerQueueMessagesMax || this.queuedBytes > peerQueueBytesMax) {
      this.queuedBytes -= this.queue.shift()!.length;
      this.dropped++;
    }
    if (this.state === 'idle') this.dial();
    else if (this.state === 'ready') this.scheduleFlush();
  }

  /** A sign of life for the peer: connects if idle; writes a ping frame if the link is
   * up and nothing is queued (a queued batch is sign enough). */
  ping(): void {
    if (this.state === 'idle') this.dial();
    const socket = this.socket;
    if (this.state !== 'ready' || socket === null || this.queue.length > 0 || this.flushScheduled) return;
    if (socket.writableLength > socketPendingBytesMax) return;
    this.pings++;
    socket.write(encodeFrame(encodePingFrame()));
  }

  close(): void {
    this.state = 'closed';
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.queue = [];
    this.queuedBytes = 0;
    this.socket?.destroy();
  }

  private dial(): void {
    if (this.addr === null) {
      this.state = 'idle';
      this.queue = [];
      this.queuedBytes = 0;
      return; // no address known yet: nothing can be delivered, so nothing is kept
    }
    this.state = 'connecting';
    const socket = net.connect({ host: this.addr.host, port: this.addr.port });
    this.socket = socket;
    socket.setNoDelay(true);
    socket.setKeepAlive(true, keepaliveDelayMs);
    // Absolute, unlike socket.setTimeout: a listener trickling bytes cannot stretch it.
    const deadline = setTimeout(() => socket.destroy(new Error('handshake timed out')), this.opts.handshakeTimeoutMs);
    socket.once('close', () => clearTimeout(deadline));
    const decoder = new FrameDecoder(handshakeFrameBytesMax);
    const nonce = newNonce();
    const handshake: { listenerNonce: Uint8Array | null; deadline: NodeJS.Timeout } = { listenerNonce: null, deadline };
    socket.on('connect', () => socket.write(encodeFrame(encodeHello({ dialerId: this.opts.selfId, dialerNonce: nonce }))));
    socket.on('data', (chunk: Buffer) => {
      try {
        for (const frame of decoder.push(chunk)) this.onFrame(socket, frame, nonce, handshake);
      } catch (e) {
        this.opts.logger.warn('raft peer link rejected', { peer: this.opts.peerId, reason: (e as Error).message });
        socket.destroy();
      }
    });
    socket.on('drain', () => this.flush());
    socket.on('error', (e) => {
      if (this.attempts <= 1 || this.state === 'ready') this.opts.logger.debug('raft peer link error', { peer: this.opts.peerId, reason: e.message });
    });
    socket.on('close', () => this.onClose(socket));
  }

  private onFrame(socket: net.Socket, frame: Uint8Array, nonce: Uint8Array, handshake: { listenerNonce: Uint8Array | null; deadline: NodeJS.Timeout }): void {
    if (this.state !== 'connecting') throw new Error('unexpected frame from listener after handshake');
    if (handshake.listenerNonce === null) {
      const challenge = decodeChallenge(frame);
      if (challenge.listenerId !== this.opts.peerId) throw new Error(`dialed ${this.opts.peerId} but ${challenge.listenerId} answered`);
      handshake.listenerNonce = challenge.listenerNonce;
      const mac = computeMac(this.opts.key, { role: 'dialer', dialerId: this.opts.selfId, listenerId: this.opts.peerId, dialerNonce: nonce, listenerNonce: challenge.listenerNonce });
      socket.write(encodeFrame(encodeProof({ mac })));
      return;
    }
    const accept = decodeAccept(frame);
    const input = { role: 'listener' as const, dialerId: this.opts.selfId, listenerId: this.opts.peerId, dialerNonce: nonce, listenerNonce: handshake.listenerNonce };
    if (!macMatches(this.opts.key, input, accept.mac)) throw new Error('listener failed authentication');
    clearTimeout(handshake.deadline);
    this.state = 'ready';
    this.attempts = 0;
    this.connects++;
    this.opts.logger.info('raft peer link up', { peer: this.opts.peerId });
    this.flush();
  }

  private onClose(socket: net.Socket): void {
    if (socket !== this.socket) return;
    this.socket = null;
    if (this.state === 'closed') return;
    if (this.state === 'ready') this.opts.logger.info('raft peer link down', { peer: this.opts.peerId });
    this.state = 'backoff';
    const base = Math.min(reconnectBackoffMsMax, reconnectBackoffMsMin * 2 ** this.attempts);
    this.attempts = Math.min(this.attempts + 1, reconnectAttemptsCountedMax);
    this.timer = setTimeout(() => this.redialNow(), base * (0.5 + this.opts.random()));
    this.timer.unref();
  }

  private redialNow(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.state === 'backoff') this.dial();
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }

  /** Writes every queued frame in one write, unless the socket is still full. */
  private flush(): void {
    const socket = this.socket;
    if (this.state !== 'ready' || socket === null || this.queue.length === 0) return;
    if (socket.writableLength > socketPendingBytesMax) return; // 'drain' calls us again
    const items = this.queue;
    this.queue = [];
    this.queuedBytes = 0;
    const out = framedBatches(items);
    this.writes++;
    this.frames += out.frames;
    this.messages += items.length;
    socket.write(out.bytes);
  }
}

/** `items` as batch frames (each length-prefixed, split past batchFrameBytesMax) in one
 * buffer: every item is copied once, straight into place. */
function framedBatches(items: readonly Uint8Array[]): { bytes: Buffer; frames: number } {
  const cuts: { start: number; end: number; header: Uint8Array; itemBytes: number }[] = [];
  let start = 0;
  let itemBytes = 0;
  for (let i = 0; i < items.length; i++) {
    const n = items[i]!.length;
    if (i > start && itemBytes + n + batchFrameOverheadBytes > batchFrameBytesMax) {
      cuts.push({ start, end: i, header: encodeBatchHeader(i - start), itemBytes });
      start = i;
      itemBytes = 0;
    }
    itemBytes += n;
  }
  cuts.push({ start, end: items.length, header: encodeBatchHeader(items.length - start), itemBytes });
  let total = 0;
  for (const c of cuts) total += FRAME_HEADER_BYTES + c.header.length + c.itemBytes;
  const bytes = Buffer.allocUnsafe(total);
  let at = 0;
  for (const c of cuts) {
    bytes.writeUInt32BE(c.header.length + c.itemBytes, at);
    at += FRAME_HEADER_BYTES;
    bytes.set(c.header, at);
    at += c.header.length;
    for (let i = c.start; i < c.end; i++) {
      bytes.set(items[i]!, at);
      at += items[i]!.length;
    }
  }
  return { bytes, frames: cuts.length };
}
