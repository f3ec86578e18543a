// The shape shared by TcpRaftTransport and its in-memory twin LoopRaftTransport. One
// transport serves one node (process) and every Raft group on it: messages travel with
// their groupId and are handed to the handler registered for that group.
//
// Contract: send() never throws and never blocks; delivery is best effort (messages may
// be lost, delayed or duplicated across reconnects — Raft tolerates all three) but
// messages to one peer are delivered in the order sent while a connection lasts.
// Handlers receive only messages addressed to this node, from an authenticated peer,
// whose `from` is that peer's id. Messages for groups not registered are dropped.

import type { Message, NodeId } from '../types.js';

export type PeerAddress = Readonly<{ host: string; port: number }>;
export type MessageHandler = (m: Message) => void;

export interface RaftTransport {
  readonly id: NodeId;
  readonly port: number;
  register(groupId: string, onMessage: MessageHandler): void;
  unregister(groupId: string): void;
  send(groupId: string, msgs: readonly Message[]): void;
  setPeer(id: NodeId, addr: PeerAddress): void;
  close(): Promise<void>;
}
