// In-memory twin of TcpRaftTransport for tests: every store's LoopRaftTransport hangs off
// one LoopRaftHub. Messages still go through the binary codec (so nothing is shared by
// reference between stores and the codec is exercised) and are delivered asynchronously,
// batched per event-loop turn like the TCP links. Members are routed to stores and
// misrouted messages dropped as on TCP, and stores ping each other for liveness
// (liveness.ts) through the hub. The hub can cut links to model partitions; a closed
// store's messages are dropped like a dead peer's.

import { decodeFrame, encodeMessage, encodePingFrame } from '../codec.js';
import type { Message, NodeId } from '../types.js';
import { livenessTimeoutMsDefault, pingIntervalMsDefault } from './limits.js';
import { PeerLiveness } from './liveness.js';
import type { MessageHandler, PeerAddress, RaftTransport, TransportStats } from './transport.js';

export type LoopTransportOptions = {
  /** The store hosting Raft member `nodeId` (default: the member id is the store id). */
  route?: (nodeId: NodeId) => NodeId;
  pingIntervalMs?: number;
  livenessTimeoutMs?: number;
};

export class LoopRaftHub {
  private readonly nodes = new Map<NodeId, LoopRaftTransport>();
  private readonly blocked = new Set<string>();
  private queue: { from: NodeId; to: NodeId; bytes: Uint8Array }[] = [];
  private scheduled = false;
  /** Messages delivered and dropped (pings are not messages). */
  delivered = 0;
  dropped = 0;
  /** Messages dropped for their sender or receiver being on another store. */
  misrouted = 0;

  /** A new transport for store `id` (a previous one for the id must be closed). */
  transport(id: NodeId, opts: LoopTransportOptions = {}): LoopRaftTransport {
    if (this.nodes.has(id)) throw new Error(`loop transport for ${id} is already open`);
    const t = new LoopRaftTransport(this, id, opts);
    this.nodes.set(id, t);
    return t;
  }

  /** Drops every frame from `a` to `b` (one direction) until heal(). */
  block(a: NodeId, b: NodeId): void {
    this.blocked.add(`${a}\0${b}`);
  }

  /** Cuts `id` off from every other store, both directions. */
  isolate(id: NodeId, others: readonly NodeId[]): void {
    for (const o of others) {
      if (o === id) continue;
      this.block(id, o);
      this.block(o, id);
    }
  }

  heal(): void {
    this.blocked.clear();
  }

  /** @internal */
  post(from: NodeId, to: NodeId, bytes: Uint8Array): void {
    this.queue.push({ from, to, bytes });
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.deliver());
  }

  /** @internal */
  detach(t: LoopRaftTransport): void {
    if (this.nodes.get(t.id) === t) this.nodes.delete(t.id);
  }

  private deliver(): void {
    this.scheduled = false;
    const batch = this.queue;
    this.queue = [];
    for (const { from, to, bytes } of batch) {
      const frame = decodeFrame(bytes);
      const count = frame.kind === 'messages' ? frame.messages.length : 0;
      const target = this.nodes.get(to);
      if (!target || this.blocked.has(`${from}\0${to}`)) {
        this.dropped += count;
        continue;
      }
      target.heard(from, frame.kind === 'ping');
      if (frame.kind === 'ping') continue;
      for (const { groupId, message } of frame.messages) {
        if (target.route(message.from) !== from || target.route(message.to) !== to) {
          this.misrouted++;
          this.dropped++;
          target.countMisrouted();
        } else if (target.dispatch(groupId, message)) this.delivered++;
        else this.dropped++;
      }
    }
  }
}

export class LoopRaftTransport implements RaftTransport {
  readonly port = 0;
  private readonly handlers = new Map<string, MessageHandler>();
  private readonly liveness: PeerLiveness;
  private readonly routeFn: (nodeId: NodeId) => NodeId;
  private closed = false;
  /** Each message travels as a frame of its own on the hub (no coalescing here). */
  private readonly counters: TransportStats = { framesSent: 0, messagesSent: 0, pingsSent: 0, framesReceived: 0, pingsReceived: 0, messagesDelivered: 0, misrouted: 0, unroutable: 0 };

  /** Use hub.transport(id). */
  constructor(
    private readonly hub: LoopRaftHub,
    readonly id: NodeId,
    opts: LoopTransportOptions = {},
  ) {
    this.routeFn = opts.route ?? ((n) => n);
    this.liveness = new PeerLiveness({
      pingIntervalMs: opts.pingIntervalMs ?? pingIntervalMsDefault,
      livenessTimeoutMs: opts.livenessTimeoutMs ?? livenessTimeoutMsDefault,
      ping: (peer) => {
        if (this.closed) return;
        this.counters.pingsSent++;
        this.hub.post(this.id, peer, encodePingFrame());
      },
    });
  }

  register(groupId: string, onMessage: MessageHandler): void {
    if (this.handlers.has(groupId)) throw new Error(`raft group ${groupId} is already registered on ${this.id}`);
    this.handlers.set(groupId, onMessage);
  }

  unregister(groupId: string): void {
    this.handlers.delete(groupId);
  }

  send(groupId: string, msgs: readonly Message[]): void {
    if (this.closed) return;
    for (const m of msgs) {
      const store = this.routeFn(m.to);
      if (store === this.id) continue;
      this.liveness.watch(store);
      this.liveness.sent(store);
      this.counters.framesSent++;
      this.counters.messagesSent++;
      this.hub.post(this.id, store, encodeMessage(groupId, m));
    }
  }

  /** Every store on the hub is reachable by id; this only starts pinging `id`. */
  setPeer(id: NodeId, _addr?: PeerAddress): void {
    if (id !== this.id) this.liveness.watch(id);
  }

  route(nodeId: NodeId): NodeId {
    return this.routeFn(nodeId);
  }

  onPeerLiveness(cb: (peer: NodeId, alive: boolean) => void): void {
    this.liveness.onChange(cb);
  }

  peerSilentMs(peer: NodeId): number {
    return this.liveness.silentMs(peer);
  }

  peerLiveness(): Record<NodeId, boolean> {
    return this.liveness.alive();
  }

  stats(): TransportStats {
    return { ...this.counters };
  }

  async close(): Promise<void> {
    this.closed = true;
    this.liveness.close();
    this.handlers.clear();
    this.hub.detach(this);
  }

  /** @internal A frame from `from` arrived: a sign of life. */
  heard(from: NodeId, ping: boolean): void {
    if (this.closed) return;
    this.counters.framesReceived++;
    if (ping) this.counters.pingsReceived++;
    this.liveness.heard(from);
  }

  /** @internal */
  countMisrouted(): void {
    this.counters.misrouted++;
  }

  /** @internal Hands a message to its group's handler; false when nobody is registered. */
  dispatch(groupId: string, m: Message): boolean {
    const handler = this.handlers.get(groupId);
    if (this.closed) return false;
    if (!handler) {
      this.counters.unroutable++;
      return false;
    }
    this.counters.messagesDelivered++;
    handler(m);
    return true;
  }
}
