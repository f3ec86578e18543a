// Raft messages between nodes over TCP. One listening socket per node accepts
// authenticated inbound links (inbound-conn.ts); one outbound link per peer carries this
// node's messages to it (outbound-peer.ts). Every frame names its Raft group, so one
// pair of links serves all groups the two processes host. See transport.ts for the
// delivery contract and handshake.ts for the authentication.

import net from 'node:net';
import { deriveKey } from '../../common/keys.js';
import { silentLogger, type Logger } from '../../common/logger.js';
import { encodeMessage } from '../codec.js';
import type { Message, NodeId } from '../types.js';
import { serveInbound, type InboundStats } from './inbound-conn.js';
import { handshakeTimeoutMs, inboundConnectionsMax, inboundUnauthenticatedMax } from './limits.js';
import { OutboundPeer } from './outbound-peer.js';
import type { MessageHandler, PeerAddress, RaftTransport } from './transport.js';

export type TcpTransportOptions = {
  id: NodeId;
  host: string;
  /** 0 picks a free port; read it back from `port`. */
  port: number;
  /** The cluster's root secret; peers without it can neither connect nor inject. The
   * handshake's key is derived from it (deriveKey(secret, 'raft-peer')), never the root. */
  secret: string;
  /** Absolute handshake deadline, both directions (default handshakeTimeoutMs). */
  handshakeTimeoutMs?: number;
  peers: Record<NodeId, PeerAddress>;
  logger?: Logger;
  /** Jitter source for reconnect backoff. */
  random?: () => number;
};

export type PeerLinkStats = { connected: boolean; dropped: number; connects: number; writes: number };

export class TcpRaftTransport implements RaftTransport {
  private readonly handlers = new Map<string, MessageHandler>();
  private readonly peers = new Map<NodeId, OutboundPeer>();
  private readonly addresses = new Map<NodeId, PeerAddress>();
  private readonly sockets = new Set<net.Socket>();
  private readonly logger: Logger;
  private closed = false;
  readonly inbound: InboundStats = { authenticated: 0, rejected: 0, delivered: 0 };
  /** Inbound connections closed on arrival because too many were mid-handshake. */
  inboundDropped = 0;
  private unauthenticated = 0;
  private readonly key: Buffer;
  private readonly handshakeTimeoutMs: number;
  /** Messages dropped because their group is not registered here. */
  unroutable = 0;

  private constructor(
    private readonly opts: TcpTransportOptions,
    private readonly server: net.Server,
    readonly port: number,
  ) {
    this.logger = opts.logger ?? silentLogger;
    this.key = deriveKey(opts.secret, 'raft-peer');
    this.handshakeTimeoutMs = opts.handshakeTimeoutMs ?? handshakeTimeoutMs;
    for (const [id, addr] of Object.entries(opts.peers)) this.addresses.set(id, addr);
  }

  get id(): NodeId {
    return this.opts.id;
  }

  /** Inbound connections accepted and not yet authenticated, right now. */
  get pendingHandshakes(): number {
    return this.unauthenticated;
  }

  static async listen(opts: TcpTransportOptions): Promise<TcpRaftTransport> {
    if (opts.secret.length === 0) throw new Error('TcpRaftTransport: an empty cluster secret authenticates nobody');
    const server = net.createServer();
    server.maxConnections = inboundConnectionsMax;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(opts.port, opts.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const port = (server.address() as net.AddressInfo).port;
    const transport = new TcpRaftTransport(opts, server, port);
    server.on('connection', (socket) => transport.accept(socket));
    return transport;
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
      if (m.to === this.id) continue; // the core never talks to itself; be safe anyway
      this.peer(m.to).enqueue(encodeMessage(groupId, m));
    }
  }

  setPeer(id: NodeId, addr: PeerAddress): void {
    this.addresses.set(id, addr);
    this.peers.get(id)?.setAddress(addr);
  }

  /** Outbound link state per peer, for status pages and tests. */
  peerStats(): Record<NodeId, PeerLinkStats> {
    const out: Record<NodeId, PeerLinkStats> = {};
    for (const [id, p] of this.peers) out[id] = { connected: p.connected, dropped: p.dropped, connects: p.connects, writes: p.writes };
    return out;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const p of this.peers.values()) p.close();
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private peer(id: NodeId): OutboundPeer {
    let p = this.peers.get(id);
    if (!p) {
      const options = { selfId: this.id, peerId: id, key: this.key, handshakeTimeoutMs: this.handshakeTimeoutMs, logger: this.logger, random: this.opts.random ?? Math.random };
      p = new OutboundPeer(options, this.addresses.get(id) ?? null);
      this.peers.set(id, p);
    }
    return p;
  }

  private accept(socket: net.Socket): void {
    if (this.closed) {
      socket.destroy();
      return;
    }
    if (this.unauthenticated >= inboundUnauthenticatedMax) {
      this.inboundDropped++;
      socket.on('error', () => {});
      socket.destroy();
      return;
    }
    this.unauthenticated++;
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    const deliver = (groupId: string, m: Message): void => {
      const handler = this.handlers.get(groupId);
      if (handler) handler(m);
      else this.unroutable++;
    };
    const onHandshakeDone = (): void => {
      this.unauthenticated--;
    };
    serveInbound(socket, { selfId: this.id, key: this.key, handshakeTimeoutMs: this.handshakeTimeoutMs, onHandshakeDone, logger: this.logger, deliver }, this.inbound);
  }
}
