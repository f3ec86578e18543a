// Raft messages between stores over TCP. One listening socket per store accepts
// authenticated inbound links (inbound-conn.ts); one outbound link per peer store carries
// this store's messages to it (outbound-peer.ts), every message of one event-loop turn in
// one batch frame whatever its group, so one pair of links serves all groups the two
// processes host. Members are routed to stores by `route`; each peer store is pinged
// for liveness (liveness.ts). See transport.ts for the delivery contract and
// handshake.ts for the authentication.

import net from 'node:net';
import { deriveKey } from '../../common/keys.js';
import { silentLogger, type Logger } from '../../common/logger.js';
import { encodeItem } from '../codec.js';
import type { Message, NodeId } from '../types.js';
import { serveInbound, type InboundStats } from './inbound-conn.js';
import { handshakeTimeoutMs, inboundConnectionsMax, inboundUnauthenticatedMax, livenessTimeoutMsDefault, pingIntervalMsDefault } from './limits.js';
import { PeerLiveness } from './liveness.js';
import { OutboundPeer } from './outbound-peer.js';
import type { MessageHandler, PeerAddress, RaftTransport, TransportStats } from './transport.js';

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
  /** The store hosting Raft member `nodeId` (default: the member id is the store id). */
  route?: (nodeId: NodeId) => NodeId;
  /** Liveness pings (defaults in limits.ts). */
  pingIntervalMs?: number;
  livenessTimeoutMs?: number;
};

export type PeerLinkStats = { connected: boolean; dropped: number; connects: number; writes: number; frames: number; messages: number; pings: number };

/** Batch frames and the messages they carried, to every peer store; ping frames. */
export type TcpTransportStats = TransportStats;

export class TcpRaftTransport implements RaftTransport {
  private readonly handlers = new Map<string, MessageHandler>();
  private readonly peers = new Map<NodeId, OutboundPeer>();
  private readonly addresses = new Map<NodeId, PeerAddress>();
  private readonly sockets = new Set<net.Socket>();
  private readonly logger: Logger;
  private closed = false;
  readonly inbound: InboundStats = { authenticated: 0, rejected: 0, delivered: 0, misrouted: 0, frames: 0, pings: 0 };
  private readonly liveness: PeerLiveness;
  private readonly routeFn: (nodeId: NodeId) => NodeId;
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
    this.routeFn = opts.route ?? ((n) => n);
    this.liveness = new PeerLiveness({
      pingIntervalMs: opts.pingIntervalMs ?? pingIntervalMsDefault,
      livenessTimeoutMs: opts.livenessTimeoutMs ?? livenessTimeoutMsDefault,
      ping: (peer) => {
        if (!this.closed) this.peer(peer).ping();
      },
    });
    for (const [id, addr] of Object.entries(opts.peers)) {
      this.addresses.set(id, addr);
      this.liveness.watch(id);
    }
  }

  get id(): NodeId {
    return this.opts.id;
  }

  /** Inbound connections open right now, authenticated or not. */
  get inboundSockets(): number {
    return this.sockets.size;
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
      const store = this.routeFn(m.to);
      if (store === this.id) continue; // the core never talks to itself; be safe anyway
      this.peer(store).enqueue(encodeItem(groupId, m));
      this.liveness.sent(store);
    }
  }

  /** `id` is a peer STORE id; it is pinged from now on. */
  setPeer(id: NodeId, addr: PeerAddress): void {
    this.addresses.set(id, addr);
    this.peers.get(id)?.setAddress(addr);
    this.liveness.watch(id);
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

  /** Outbound link state per peer, for status pages and tests. */
  peerStats(): Record<NodeId, PeerLinkStats> {
    const out: Record<NodeId, PeerLinkStats> = {};
    for (const [id, p] of this.peers) out[id] = { connected: p.connected, dropped: p.dropped, connects: p.connects, writes: p.writes, frames: p.frames, messages: p.messages, pings: p.pings };
    return out;
  }

  stats(): TcpTransportStats {
    let framesSent = 0;
    let messagesSent = 0;
    let pingsSent = 0;
    for (const p of this.peers.values()) {
      framesSent += p.frames;
      messagesSent += p.messages;
      pingsSent += p.pings;
    }
    const { frames, pings, delivered, misrouted } = this.inbound;
    return { framesSent, messagesSent, pingsSent, framesReceived: frames, pingsReceived: pings, messagesDelivered: delivered, misrouted, unroutable: this.unroutable };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.liveness.close();
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
    const heard = (peer: NodeId): void => this.liveness.heard(peer);
    const options = { selfId: this.id, key: this.key, handshakeTimeoutMs: this.handshakeTimeoutMs, onHandshakeDone, logger: this.logger, deliver, route: this.routeFn, heard };
    serveInbound(socket, options, this.inbound);
  }
}
