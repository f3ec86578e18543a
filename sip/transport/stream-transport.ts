// SIP over a byte stream (RFC 3261 §18), shared by TCP and TLS (tcp-transport.ts,
// tls-transport.ts say how a connection is made; everything after that lives here):
// connections are reused per remote address (and per the sent-by its requests' Via
// claims, see `alias`), framed by Content-Length (SipStreamParser), closed when idle,
// bounded in number (in all and per source IP, counted when accepted, before any TLS
// handshake), closed when a message is not complete within its deadline (a trickling
// slowloris keeps the idle timer alive, not that one), and closed when a peer sends bytes
// we cannot frame. Malformed requests are answered 400 when the parser allows it, on the
// connection they came on. A source over its request rate (source-gate.ts) gets 503s,
// then silence.

import net from 'node:net';
import { parseVia, type ParseResult } from '../syntax/index.js';
import { topViaValue } from './via-stamp.js';
import { SipStreamParser, serializeMessage } from '../syntax/index.js';
import type { SipMessage } from '../syntax/message.js';
import { countedSend, countInto, createCounters, snapshotCounters, type TransportCounters } from './counters.js';
import { SipTransportError, TRANSPORT_ERR } from './errors.js';
import { sourceRetryAfterSeconds, transportLimits, type TransportLimits } from './limits.js';
import { receiveParsed, rejectParsed, type ReceiveDeps } from './receive.js';
import type { SourceGate } from './source-gate.js';
import type { HostPort, InboundListener, ListenerOptions, SipSource, SipTarget, SipTransport } from './transport.js';

export type StreamTransportOptions = ListenerOptions;

type Connection = {
  readonly id: string;
  readonly socket: net.Socket;
  readonly parser: SipStreamParser;
  readonly remoteKey: string;
  readonly source: SipSource;
  /** Set for connections a peer opened: counted against its IP. */
  readonly inboundIp: string | null;
  readonly deps: ReceiveDeps;
  /** Runs while part of a message is buffered. */
  messageDeadline: NodeJS.Timeout | null;
  /** Any application byte arrived (TLS: the handshake completed and data followed). */
  seenBytes: boolean;
  /** The Via sent-by this inbound connection's requests claim (see aliasFrom). */
  alias: string | null;
};

const remoteKeyOf = (host: string, port: number): string => `${host}:${port}`;

/** How connections of one stream protocol are made; the rest is StreamTransport's. */
export type StreamFlavor = Readonly<{
  protocol: 'TCP' | 'TLS';
  /** The socket to speak SIP on for a connection a peer opened (TLS: the server side of
   * a handshake over it). Errors, including a failed handshake, arrive as its 'error'. */
  accept(raw: net.Socket): net.Socket;
  /** An outbound connection; it is ready on `readyEvent`. */
  connect(host: string, port: number): net.Socket;
  readyEvent: 'connect' | 'secureConnect';
}>;

export class StreamTransport implements SipTransport {
  readonly protocol: 'TCP' | 'TLS';
  readonly reliable = true;
  readonly local: HostPort;
  readonly sentBy: HostPort;
  private listener: InboundListener | undefined;
  private closed = false;
  private nextConnectionId = 1;
  private readonly stats = createCounters();
  private readonly byId = new Map<string, Connection>();
  private readonly byRemote = new Map<string, Connection>();
  /** sent-by (host:port of the Via) → the inbound connection whose requests claim it. */
  private readonly byAlias = new Map<string, Connection>();
  private readonly connecting = new Map<string, Promise<Connection>>();
  /** Inbound connections open per source IP. */
  private readonly perSource = new Map<string, number>();
  private readonly gate: SourceGate | null;
  private readonly onInputError: ((err: unknown, source: SipSource) => void) | undefined;

  protected constructor(
    private readonly server: net.Server,
    private readonly limits: TransportLimits,
    options: StreamTransportOptions,
    private readonly flavor: StreamFlavor,
  ) {
    this.protocol = flavor.protocol;
    const advertisedHost = options.advertisedHost;
    this.gate = options.sourceGate ?? null;
    this.onInputError = options.onInputError;
    const a = server.address() as net.AddressInfo;
    this.local = { host: a.address, port: a.port };
    this.sentBy = { host: advertisedHost ?? a.address, port: a.port };
    server.on('connection', (socket) => this.onInbound(socket));
    server.on('error', () => undefined);
  }

  /** A listening plain-TCP server (the flavor wraps each accepted socket). */
  protected static bound(options: StreamTransportOptions): Promise<{ server: net.Server; limits: TransportLimits }> {
    const limits = transportLimits(options.limits);
    const server = net.createServer({ noDelay: true });
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port, options.host, () => {
        server.off('error', reject);
        resolve({ server, limits });
      });
    });
  }

  onMessage(listener: InboundListener): void {
    this.listener = listener;
  }

  connectionCount(): number {
    return this.byId.size;
  }

  async send(message: SipMessage, target: SipTarget): Promise<void> {
    if (this.closed) throw new SipTransportError(TRANSPORT_ERR.CLOSED, `${this.protocol.toLowerCase()} transport closed`);
    if (target.protocol !== this.protocol) {
      throw new SipTransportError(TRANSPORT_ERR.PROTOCOL_UNSUPPORTED, `${target.protocol} target on ${this.protocol}`);
    }
    let bytes: Buffer;
    try {
      bytes = serializeMessage(message);
    } catch (err) {
      this.stats.sendErrors++;
      throw new SipTransportError(TRANSPORT_ERR.SEND_FAILED, 'serialize failed', { cause: err });
    }
    const conn = await this.connectionFor(target);
    await this.write(conn, bytes);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.listener = undefined;
    for (const c of this.byId.values()) c.socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  counters(): TransportCounters {
    return snapshotCounters(this.stats);
  }

  private async connectionFor(target: SipTarget): Promise<Connection> {
    if (target.connectionId !== undefined) {
      const c = this.byId.get(target.connectionId);
      if (c !== undefined && !c.socket.destroyed) return c;
      // An RFC 5626 flow: the phone is reachable over that connection only (it sits behind
      // a NAT), so a closed flow is an unreachable phone, never a new connection.
      if (target.flowOnly === true) {
        this.stats.sendErrors++;
        throw new SipTransportError(TRANSPORT_ERR.FLOW_GONE, `flow ${target.connectionId} to ${target.host}:${target.port} is closed`);
      }
    }
    const key = remoteKeyOf(target.host, target.port);
    const existing = this.byRemote.get(key) ?? this.byAlias.get(key);
    if (existing !== undefined && !existing.socket.destroyed) return existing;
    const pending = this.connecting.get(key);
    if (pending !== undefined) return pending;
    const p = this.connect(target.host, target.port).finally(() => this.connecting.delete(key));
    this.connecting.set(key, p);
    return p;
  }

  private connect(host: string, port: number): Promise<Connection> {
    if (this.byId.size + this.connecting.size >= this.limits.tcpConnectionsMax) {
      this.stats.sendErrors++;
      return Promise.reject(new SipTransportError(TRANSPORT_ERR.CONNECTIONS_EXHAUSTED, `${this.byId.size} open`));
    }
    return new Promise((resolve, reject) => {
      const socket = this.flavor.connect(host, port);
      const fail = (err: Error): void => {
        socket.destroy();
        this.stats.sendErrors++;
        reject(new SipTransportError(TRANSPORT_ERR.CONNECT_FAILED, `${host}:${port}: ${err.message}`, { cause: err }));
      };
      const onConnectTimeout = (): void => fail(new Error('connect timeout'));
      socket.setTimeout(this.limits.tcpConnectTimeoutMs);
      socket.once('timeout', onConnectTimeout);
      socket.once('error', fail);
      socket.once(this.flavor.readyEvent, () => {
        socket.off('error', fail);
        socket.off('timeout', onConnectTimeout);
        if (this.closed) return fail(new Error('transport closed'));
        resolve(this.register(socket, host, port, null));
      });
    });
  }

  private onInbound(raw: net.Socket): void {
    const ip = raw.remoteAddress ?? '';
    if (this.closed || this.byId.size >= this.limits.tcpConnectionsMax) {
      this.stats.connectionsRejected++;
      raw.destroy();
      return;
    }
    const fromIp = this.perSource.get(ip) ?? 0;
    if (fromIp >= this.limits.tcpConnectionsPerSourceMax && !(this.gate?.trusted(ip) ?? false)) {
      this.stats.connectionsRejected++;
      countInto(this.stats.dropped, TRANSPORT_ERR.SOURCE_CONNECTIONS_EXHAUSTED);
      raw.destroy();
      return;
    }
    this.perSource.set(ip, fromIp + 1);
    const port = raw.remotePort ?? 0;
    const socket = this.flavor.accept(raw);
    // A peer that opens a connection and never completes its TLS handshake (or never
    // sends a byte) holds a slot: the message deadline runs until the first byte arrives.
    const conn = this.register(socket, ip, port, ip);
    if (socket !== raw) raw.on('close', () => socket.destroy());
    this.armFirstByteDeadline(conn);
  }

  private armFirstByteDeadline(conn: Connection): void {
    const timer = setTimeout(() => {
      if (conn.socket.destroyed || conn.seenBytes) return;
      countInto(this.stats.dropped, TRANSPORT_ERR.MESSAGE_DEADLINE);
      conn.socket.destroy();
    }, this.limits.tcpMessageDeadlineMs);
    timer.unref();
    conn.socket.once('close', () => clearTimeout(timer));
  }

  /** Tracks a connected socket in both maps and wires parsing, idle timeout and cleanup. */
  private register(socket: net.Socket, host: string, port: number, inboundIp: string | null): Connection {
    const id = `${this.protocol.toLowerCase()}-${this.nextConnectionId++}`;
    const remoteKey = remoteKeyOf(host, port);
    const source: SipSource = { protocol: this.protocol, host, port, connectionId: id, local: this.local };
    // The getter reads the current listener (onMessage may replace it); its own `this` is deps.
    const transport = this;
    const deps: ReceiveDeps = {
      counters: this.stats,
      get listener(): InboundListener | undefined {
        return transport.listener;
      },
      defaultPort: this.limits.defaultSipPort,
      // RFC 3261 §18.2.2: on a stream the answer goes back on the same connection.
      answer: (response) => void socket.write(serializeMessage(response)),
    };
    const conn: Connection = { id, socket, parser: new SipStreamParser(), remoteKey, source, inboundIp, deps, messageDeadline: null, seenBytes: false, alias: null };
    this.byId.set(id, conn);
    this.byRemote.set(remoteKey, conn);
    this.stats.connectionsOpened++;
    socket.setTimeout(this.limits.tcpIdleTimeoutMs, () => socket.destroy());
    socket.on('error', () => {
      if (this.protocol === 'TLS' && inboundIp !== null && !conn.seenBytes) countInto(this.stats.dropped, TRANSPORT_ERR.TLS_HANDSHAKE_FAILED);
      socket.destroy();
    });
    socket.on('close', () => this.forget(conn));
    socket.on('data', (chunk: Buffer) => this.onData(conn, chunk));
    return conn;
  }

  private forget(conn: Connection): void {
    if (conn.messageDeadline !== null) clearTimeout(conn.messageDeadline);
    conn.messageDeadline = null;
    if (conn.inboundIp !== null) {
      const left = (this.perSource.get(conn.inboundIp) ?? 1) - 1;
      if (left <= 0) this.perSource.delete(conn.inboundIp);
      else this.perSource.set(conn.inboundIp, left);
    }
    this.byId.delete(conn.id);
    if (this.byRemote.get(conn.remoteKey) === conn) this.byRemote.delete(conn.remoteKey);
    if (conn.alias !== null && this.byAlias.get(conn.alias) === conn) this.byAlias.delete(conn.alias);
    this.stats.connectionsClosed++;
  }

  /** Total: whatever the bytes, this returns; a throw (a bug) closes this connection only. */
  private onData(conn: Connection, chunk: Buffer): void {
    if (this.closed || conn.socket.destroyed) return;
    conn.seenBytes = true;
    this.stats.bytesReceived += chunk.length;
    try {
      this.takeData(conn, chunk);
    } catch (err) {
      countInto(this.stats.dropped, TRANSPORT_ERR.INPUT_FAILED);
      conn.socket.destroy();
      this.onInputError?.(err, conn.source);
    }
  }

  private takeData(conn: Connection, chunk: Buffer): void {
    const results = conn.parser.push(chunk);
    this.armMessageDeadline(conn, results.length > 0);
    // RFC 5626 §4.4.1: answer each CRLFCRLF keepalive ping with a CRLF pong.
    const pings = conn.parser.takePings();
    if (pings > 0) conn.socket.write('\r\n'.repeat(pings));
    for (const result of results) {
      if (this.closed || conn.socket.destroyed) return;
      const verdict = this.gate === null ? 'pass' : this.gate.admit(conn.source.host);
      if (verdict === 'drop') countInto(this.stats.dropped, TRANSPORT_ERR.SOURCE_FLOODING);
      else if (verdict === 'reject') rejectParsed(result, conn.source, conn.deps, sourceRetryAfterSeconds);
      else {
        this.aliasFrom(conn, result);
        receiveParsed(result, conn.source, conn.deps);
      }
    }
    // A framing error (no or bad Content-Length, endless headers) leaves the start of the
    // next message unknowable: close once any 400 already written has been flushed. A
    // message that was framed but malformed does not desynchronise the stream, so the
    // connection stays open for the messages after it.
    if (conn.parser.closed) {
      countInto(this.stats.dropped, TRANSPORT_ERR.FRAMING_LOST);
      conn.socket.once('finish', () => conn.socket.destroy());
      conn.socket.end();
    }
  }

  /** Connection reuse (RFC 3261 §18.2.2 / RFC 5923's idea): a phone behind a stream puts
   * its own listening address in the Via and the Contact of its REGISTER, while its
   * connection to us comes from another port. Requests later sent to that address (an
   * INVITE to the registered Contact) reuse this connection instead of dialling the
   * phone, which may not accept connections at all (TLS without a certificate, a NAT).
   * Only a sent-by on the connection's own IP is believed: a peer cannot capture traffic
   * meant for another host. The latest connection to claim an address wins. */
  private aliasFrom(conn: Connection, result: ParseResult): void {
    if (conn.inboundIp === null || !result.ok || result.message.kind !== 'request') return;
    const viaValue = topViaValue(result.message);
    const via = viaValue === undefined ? null : parseVia(viaValue.split(',')[0]!);
    if (via === null || via.transport.toUpperCase() !== this.protocol) return;
    const host = via.host.replace(/^\[|\]$/g, '');
    if (host !== conn.inboundIp) return;
    const key = remoteKeyOf(host, via.port ?? this.limits.defaultSipPort);
    if (key === conn.remoteKey || conn.alias === key) return;
    if (conn.alias !== null && this.byAlias.get(conn.alias) === conn) this.byAlias.delete(conn.alias);
    conn.alias = key;
    this.byAlias.set(key, conn);
  }

  /** While part of a message is buffered a deadline runs from that message's first byte;
   * when it passes the connection is closed. A message completing restarts it for the
   * next one; an empty buffer stops it. */
  private armMessageDeadline(conn: Connection, messagesCompleted: boolean): void {
    const partial = conn.parser.bufferedBytes > 0 && !conn.parser.closed;
    if (conn.messageDeadline !== null && (!partial || messagesCompleted)) {
      clearTimeout(conn.messageDeadline);
      conn.messageDeadline = null;
    }
    if (!partial || conn.messageDeadline !== null) return;
    conn.messageDeadline = setTimeout(() => {
      conn.messageDeadline = null;
      if (conn.socket.destroyed) return;
      countInto(this.stats.dropped, TRANSPORT_ERR.MESSAGE_DEADLINE);
      conn.socket.destroy();
    }, this.limits.tcpMessageDeadlineMs);
    conn.messageDeadline.unref();
  }

  private write(conn: Connection, bytes: Buffer): Promise<void> {
    if (conn.socket.writableLength + bytes.length > this.limits.tcpPendingWriteBytesMax) {
      conn.socket.destroy();
      this.stats.sendErrors++;
      return Promise.reject(new SipTransportError(TRANSPORT_ERR.PEER_TOO_SLOW, `${conn.remoteKey} not reading`));
    }
    return countedSend(this.stats, bytes.length, (done) => conn.socket.write(bytes, done));
  }
}
