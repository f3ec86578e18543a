// In-memory twin of TcpRaftTransport for tests: every node's LoopRaftTransport hangs off
// one LoopRaftHub. Messages still go through the binary codec (so nothing is shared by
// reference between nodes and the codec is exercised) and are delivered asynchronously,
// batched per event-loop turn like the TCP links. The hub can cut links to model
// partitions; a closed node's messages are dropped like a dead peer's.

import { decodeMessage, encodeMessage } from '../codec.js';
import type { Message, NodeId } from '../types.js';
import type { MessageHandler, PeerAddress, RaftTransport } from './transport.js';

export class LoopRaftHub {
  private readonly nodes = new Map<NodeId, LoopRaftTransport>();
  private readonly blocked = new Set<string>();
  private queue: { from: NodeId; to: NodeId; bytes: Uint8Array }[] = [];
  private scheduled = false;
  delivered = 0;
  dropped = 0;

  /** A new transport for node `id` (a previous one for the id must be closed). */
  transport(id: NodeId): LoopRaftTransport {
    if (this.nodes.has(id)) throw new Error(`loop transport for ${id} is already open`);
    const t = new LoopRaftTransport(this, id);
    this.nodes.set(id, t);
    return t;
  }

  /** Drops every message from `a` to `b` (one direction) until heal(). */
  block(a: NodeId, b: NodeId): void {
    this.blocked.add(`${a}\0${b}`);
  }

  /** Cuts `id` off from every other node, both directions. */
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
      const target = this.nodes.get(to);
      if (!target || this.blocked.has(`${from}\0${to}`)) {
        this.dropped++;
        continue;
      }
      const { groupId, message } = decodeMessage(bytes);
      if (target.dispatch(groupId, message)) this.delivered++;
      else this.dropped++;
    }
  }
}

export class LoopRaftTransport implements RaftTransport {
  readonly port = 0;
  private readonly handlers = new Map<string, MessageHandler>();
  private closed = false;

  /** Use hub.transport(id). */
  constructor(
    private readonly hub: LoopRaftHub,
    readonly id: NodeId,
  ) {}

  register(groupId: string, onMessage: MessageHandler): void {
    if (this.handlers.has(groupId)) throw new Error(`raft group ${groupId} is already registered on ${this.id}`);
    this.handlers.set(groupId, onMessage);
  }

  unregister(groupId: string): void {
    this.handlers.delete(groupId);
  }

  send(groupId: string, msgs: readonly Message[]): void {
    if (this.closed) return;
    for (const m of msgs) this.hub.post(this.id, m.to, encodeMessage(groupId, m));
  }

  setPeer(_id: NodeId, _addr: PeerAddress): void {
    // every node on the hub is reachable by id
  }

  async close(): Promise<void> {
    this.closed = true;
    this.handlers.clear();
    this.hub.detach(this);
  }

  /** @internal Hands a message to its group's handler; false when nobody is registered. */
  dispatch(groupId: string, m: Message): boolean {
    const handler = this.handlers.get(groupId);
    if (this.closed || !handler) return false;
    handler(m);
    return true;
  }
}
