// SIP over UDP (RFC 3261 §18): one datagram per message, socket buffers sized for bursts.
// Received datagrams are parsed and handed up; responses are routed by the caller.

import dgram from 'node:dgram';
import { isIPv6 } from 'node:net';
import { parseMessage, serializeMessage } from '../syntax/index.js';
import type { SipMessage, SipResponse } from '../syntax/message.js';
import { countedSend, countInto, createCounters, snapshotCounters, type TransportCounters } from './counters.js';
import { SipTransportError, TRANSPORT_ERR } from './errors.js';
import { sourceRetryAfterSeconds, transportLimits, type TransportLimits } from './limits.js';
import { isKeepAlive, receiveParsed, rejectParsed, type ReceiveDeps } from './receive.js';
import type { SourceGate } from './source-gate.js';
import type { HostPort, InboundListener, ListenerOptions, SipSource, SipTarget, SipTransport } from './transport.js';

export type UdpTransportOptions = ListenerOptions;

export class UdpTransport implements SipTransport {
  readonly protocol = 'UDP' as const;
  readonly reliable = false;
  readonly local: HostPort;
  readonly sentBy: HostPort;
  private closed = false;
  private readonly stats = createCounters();
  /** Built once, not per datagram: the receive path runs for every packet. */
  private readonly deps: { -readonly [K in keyof ReceiveDeps]: ReceiveDeps[K] } = {
    counters: this.stats,
    listener: undefined,
    defaultPort: 5060,
    answer: (response: SipResponse, target: SipTarget) => {
      this.send(response, target).catch(() => undefined);
    },
  };

  private readonly gate: SourceGate | null;
  private readonly onInputError: ((err: unknown, source: SipSource) => void) | undefined;

  private constructor(
    private readonly socket: dgram.Socket,
    private readonly limits: TransportLimits,
    options: UdpTransportOptions,
  ) {
    const advertisedHost = options.advertisedHost;
    this.gate = options.sourceGate ?? null;
    this.onInputError = options.onInputError;
    this.deps.defaultPort = limits.defaultSipPort;
    const a = socket.address();
    this.local = { host: a.address, port: a.port };
    this.sentBy = { host: advertisedHost ?? a.address, port: a.port };
    socket.on('message', (buf, rinfo) => this.onDatagram(buf, rinfo));
    // ICMP errors surface here on some platforms; a send failure is reported by send().
    socket.on('error', () => {
      this.stats.sendErrors++;
    });
  }

  static listen(options: UdpTransportOptions): Promise<UdpTransport> {
    const limits = transportLimits(options.limits);
    const socket = dgram.createSocket({
      type: isIPv6(options.host) ? 'udp6' : 'udp4',
      recvBufferSize: limits.socketReceiveBufferBytes,
      sendBufferSize: limits.socketSendBufferBytes,
    });
    return new Promise((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(options.port, options.host, () => {
        socket.off('error', reject);
        resolve(new UdpTransport(socket, limits, options));
      });
    });
  }

  /** Buffer sizes the kernel actually granted (Linux reports double what was asked, capped). */
  socketBufferBytes(): Readonly<{ receive: number; send: number }> {
    return { receive: this.socket.getRecvBufferSize(), send: this.socket.getSendBufferSize() };
  }

  onMessage(listener: InboundListener): void {
    this.deps.listener = listener;
  }

  send(message: SipMessage, target: SipTarget): Promise<void> {
    if (this.closed) return Promise.reject(new SipTransportError(TRANSPORT_ERR.CLOSED, 'udp transport closed'));
    if (target.protocol !== 'UDP') {
      return Promise.reject(new SipTransportError(TRANSPORT_ERR.PROTOCOL_UNSUPPORTED, `${target.protocol} target on UDP`));
    }
    let bytes: Buffer;
    try {
      bytes = serializeMessage(message);
    } catch (err) {
      this.stats.sendErrors++;
      return Promise.reject(new SipTransportError(TRANSPORT_ERR.SEND_FAILED, 'serialize failed', { cause: err }));
    }
    if (bytes.length > this.limits.udpDatagramBytesMax) {
      this.stats.sendErrors++;
      return Promise.reject(new SipTransportError(TRANSPORT_ERR.MESSAGE_TOO_LARGE, `${bytes.length} bytes`));
    }
    return countedSend(this.stats, bytes.length, (done) => this.socket.send(bytes, target.port, target.host, done));
  }

  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    this.deps.listener = undefined;
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }

  counters(): TransportCounters {
    return snapshotCounters(this.stats);
  }

  /** Total: whatever the bytes, this returns; a throw (a bug) drops the datagram only. */
  private onDatagram(buf: Buffer, rinfo: dgram.RemoteInfo): void {
    if (this.closed || isKeepAlive(buf)) return;
    this.stats.bytesReceived += buf.length;
    const source: SipSource = { protocol: 'UDP', host: rinfo.address, port: rinfo.port, local: this.local };
    try {
      const verdict = this.gate === null ? 'pass' : this.gate.admit(rinfo.address);
      if (verdict === 'drop') return void countInto(this.stats.dropped, TRANSPORT_ERR.SOURCE_FLOODING);
      const parsed = parseMessage(buf);
      if (verdict === 'reject') return rejectParsed(parsed, source, this.deps, sourceRetryAfterSeconds);
      receiveParsed(parsed, source, this.deps);
    } catch (err) {
      countInto(this.stats.dropped, TRANSPORT_ERR.INPUT_FAILED);
      this.onInputError?.(err, source);
    }
  }
}
