// The in-memory twin of a real transport: a LoopNetwork of endpoints that exchange real
// serialized bytes (so parsing, Via stamping and 400 answers run exactly as on a socket),
// with delivery scheduled on a TimerService. The test decides per packet whether it is
// delivered, delayed or lost, and can read the log of every packet sent.

import { parseMessage, serializeMessage } from '../syntax/index.js';
import type { SipMessage, SipResponse } from '../syntax/message.js';
import { createCounters, snapshotCounters, type TransportCounters } from './counters.js';
import { SipTransportError, TRANSPORT_ERR } from './errors.js';
import { loopLogPacketsMaxDefault, transportLimits, type TransportLimits } from './limits.js';
import { receiveParsed } from './receive.js';
import type { TimerService } from './timer-service.js';
import type {
  HostPort,
  InboundListener,
  SipSource,
  SipTarget,
  SipTransport,
  TransportProtocol,
} from './transport.js';

export type LoopPacket = Readonly<{
  atMs: number;
  protocol: TransportProtocol;
  from: HostPort;
  to: HostPort;
  /** The message as the sender handed it over (before serialization). */
  message: SipMessage;
  bytes: Buffer;
}>;

/** What happens to one packet: delivered after the network's base delay, lost, or
 * delivered after `delayMs`. */
export type LoopVerdict = 'deliver' | 'drop' | Readonly<{ delayMs: number }>;

export type LoopNetworkOptions = Readonly<{
  clock: TimerService;
  /** Delay for packets the filter lets through without one; 0 still means "later". */
  baseDelayMs?: number;
  /** Packets kept in `log`; older ones are forgotten. */
  logPacketsMax?: number;
}>;

const keyOf = (protocol: TransportProtocol, a: HostPort): string => `${protocol}:${a.host}:${a.port}`;

export class LoopNetwork {
  readonly clock: TimerService;
  readonly log: LoopPacket[] = [];
  /** Set by tests to lose or delay packets. */
  filter: (packet: LoopPacket) => LoopVerdict = () => 'deliver';
  delivered = 0;
  lost = 0;
  private readonly baseDelayMs: number;
  private readonly logPacketsMax: number;
  private readonly endpoints = new Map<string, LoopTransport>();

  constructor(options: LoopNetworkOptions) {
    this.clock = options.clock;
    this.baseDelayMs = options.baseDelayMs ?? 0;
    this.logPacketsMax = options.logPacketsMax ?? loopLogPacketsMaxDefault;
  }

  /** Creates an endpoint listening at host:port. */
  attach(options: Readonly<{ host: string; port: number; protocol?: TransportProtocol; limits?: Partial<TransportLimits> }>): LoopTransport {
    const protocol = options.protocol ?? 'UDP';
    const local = { host: options.host, port: options.port };
    const key = keyOf(protocol, local);
    if (this.endpoints.has(key)) throw new Error(`loop endpoint ${key} already attached`);
    const t = new LoopTransport(this, protocol, local, transportLimits(options.limits));
    this.endpoints.set(key, t);
    return t;
  }

  /** Packets sent from `from` (host:port), optionally only those matching `pick`. */
  sentFrom(from: HostPort, pick: (p: LoopPacket) => boolean = () => true): LoopPacket[] {
    return this.log.filter((p) => p.from.host === from.host && p.from.port === from.port && pick(p));
  }

  /** @internal used by LoopTransport. */
  carry(protocol: TransportProtocol, from: HostPort, target: SipTarget, message: SipMessage): 'sent' | 'unreachable' {
    const bytes = serializeMessage(message);
    const packet: LoopPacket = { atMs: this.clock.now(), protocol, from, to: { host: target.host, port: target.port }, message, bytes };
    this.log.push(packet);
    if (this.log.length > this.logPacketsMax) this.log.shift();
    const dest = this.endpoints.get(keyOf(protocol, target));
    if (dest === undefined) return 'unreachable';
    const verdict = this.filter(packet);
    if (verdict === 'drop') {
      this.lost++;
      return 'sent';
    }
    const delayMs = verdict === 'deliver' ? this.baseDelayMs : verdict.delayMs;
    this.clock.setTimer(delayMs, () => {
      this.delivered++;
      dest.receive(bytes, from);
    });
    return 'sent';
  }

  /** @internal */
  detach(t: LoopTransport): void {
    this.endpoints.delete(keyOf(t.protocol, t.local));
  }
}

export class LoopTransport implements SipTransport {
  readonly reliable: boolean;
  readonly sentBy: HostPort;
  private listener: InboundListener | undefined;
  private closed = false;
  private readonly stats = createCounters();
  private readonly answer = (response: SipResponse, target: SipTarget): void => {
    this.send(response, target).catch(() => undefined);
  };

  constructor(
    private readonly network: LoopNetwork,
    readonly protocol: TransportProtocol,
    readonly local: HostPort,
    private readonly limits: TransportLimits,
  ) {
    this.reliable = protocol !== 'UDP';
    this.sentBy = local;
  }

  onMessage(listener: InboundListener): void {
    this.listener = listener;
  }

  send(message: SipMessage, target: SipTarget): Promise<void> {
    if (this.closed) return Promise.reject(new SipTransportError(TRANSPORT_ERR.CLOSED, 'loop transport closed'));
    if (target.protocol !== this.protocol) {
      return Promise.reject(new SipTransportError(TRANSPORT_ERR.PROTOCOL_UNSUPPORTED, `${target.protocol} over ${this.protocol} loop`));
    }
    let result: 'sent' | 'unreachable';
    try {
      result = this.network.carry(this.protocol, this.local, target, message);
    } catch (err) {
      this.stats.sendErrors++;
      return Promise.reject(new SipTransportError(TRANSPORT_ERR.SEND_FAILED, 'serialize failed', { cause: err }));
    }
    // A datagram to nobody vanishes silently; a stream to nobody is a refused connect.
    if (result === 'unreachable' && this.reliable) {
      this.stats.sendErrors++;
      return Promise.reject(new SipTransportError(TRANSPORT_ERR.CONNECT_FAILED, `${target.host}:${target.port} unreachable`));
    }
    this.stats.messagesSent++;
    return Promise.resolve();
  }

  async close(): Promise<void> {
    this.closed = true;
    this.listener = undefined;
    this.network.detach(this);
  }

  counters(): TransportCounters {
    return snapshotCounters(this.stats);
  }

  /** @internal called by LoopNetwork when a packet arrives. */
  receive(bytes: Buffer, from: HostPort): void {
    if (this.closed) return;
    this.stats.bytesReceived += bytes.length;
    const source: SipSource = { protocol: this.protocol, host: from.host, port: from.port, local: this.local };
    receiveParsed(parseMessage(bytes), source, {
      counters: this.stats,
      listener: this.listener,
      defaultPort: this.limits.defaultSipPort,
      answer: this.answer,
    });
  }
}
