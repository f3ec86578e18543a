// The shape shared by TcpRaftTransport and its in-memory twin LoopRaftTransport. One
// transport serves one node (process) and every Raft group on it: messages travel with
// their groupId and are handed to the handler registered for that group.
//
// Contract: send() never throws and never blocks; delivery is best effort (messages may
// be lost, delayed or duplicated across reconnects — Raft tolerates all three) but
// messages to one peer are delivered in the order sent while a connection lasts.
// Handlers receive only messages addressed to this node, from an authenticated peer,
// whose `from` is that peer's id. Messages for groups not registered are dropped.
//
// Stores: the transport's identity and its peers are STORE ids, while the messages name
// Raft members (replica ids, `s7-a`). route(member) names the store hosting the member
// (identity by default); a message travels to route(m.to), and one arriving on peer P's
// link is dropped unless route(m.from) is P. Every transport watches the liveness of its
// peer stores (liveness.ts).

import type { Message, NodeId } from '../types.js';

export type PeerAddress = Readonly<{ host: string; port: number }>;

/** Counters for metrics. A frame is one write unit on a link: a batch of messages. */
export type TransportStats = {
  framesSent: number;
  messagesSent: number;
  pingsSent: number;
  framesReceived: number;
  pingsReceived: number;
  messagesDelivered: number;
  /** Dropped: sender not on the peer store it came from, or receiver not on this store. */
  misrouted: number;
  /** Dropped: no group registered for it here. */
  unroutable: number;
};
export type MessageHandler = (m: Message) => void;

export interface RaftTransport {
  readonly id: NodeId;
  readonly port: number;
  register(groupId: string, onMessage: MessageHandler): void;
  unregister(groupId: string): void;
  send(groupId: string, msgs: readonly Message[]): void;
  setPeer(id: NodeId, addr: PeerAddress): void;
  /** The store hosting Raft member `nodeId`. */
  route(nodeId: NodeId): NodeId;
  /** Called on each liveness edge of a peer store (alive once heard, silent after
   * livenessTimeoutMs without a frame). */
  onPeerLiveness(cb: (peer: NodeId, alive: boolean) => void): void;
  /** Milliseconds since peer store `peer` was last heard (Infinity when never). */
  peerSilentMs(peer: NodeId): number;
  /** Whether each watched peer store is alive now. */
  peerLiveness(): Record<NodeId, boolean>;
  stats(): TransportStats;
  close(): Promise<void>;
}
