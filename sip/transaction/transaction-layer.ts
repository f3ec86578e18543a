// The shell around the pure transaction machines: it matches inbound messages to
// transactions, feeds them events, and carries out their actions on real (or loop)
// transports and an injected TimerService. The TU sees server transactions through
// onRequest and client transactions through a per-request event callback.

import assert from 'node:assert';
import { buildResponse, generateBranch, headerKey, serializeMessage } from '../syntax/index.js';
import type { SipMessage, SipRequest, SipResponse } from '../syntax/message.js';
import { responseTarget } from '../transport/response-routing.js';
import type { TimerHandle, TimerService } from '../transport/timer-service.js';
import type { InboundMessage, SipSource, SipTarget, SipTransport, TransportProtocol } from '../transport/transport.js';
import { topViaValue } from '../transport/via-stamp.js';
import { SipTransactionError, TX_ERR } from './errors.js';
import { transactionLimits, type TransactionLimits } from './limits.js';
import { kindFor, newTransaction, step } from './machine.js';
import { cancelTargetKey, clientKeyOfRequest, clientKeyOfResponse, MAGIC_COOKIE, serverKeyOfRequest } from './matching.js';
import { createTxCounters, type TransactionCounters } from './counters.js';
import type { TimerName, TuNotice, TxAction, TxEvent, TxRecord, TxState } from './types.js';

/** What a client transaction tells its creator. `final` may repeat with
 * retransmission=true for 2xx to INVITE (RFC 6026 Accepted); timeout and transport-error
 * carry a local 408/503 to treat as the final response. */
export type ClientEvent = Exclude<TuNotice, { type: 'ack' }>;

export type ClientTransaction = Readonly<{
  id: string;
  /** The request as sent, with the Via (and branch) the layer added. Build a CANCEL
   * from this with buildCancel(). After the final response only its identifying
   * headers remain (Via, From, To, Call-ID, CSeq; no body). */
  request: SipRequest;
  target: SipTarget;
  state: () => TxState;
}>;

export type ServerTransaction = Readonly<{
  id: string;
  /** The request as received, top Via stamped with received/rport. After the final
   * response only its identifying headers remain (Via, From, To, Call-ID, CSeq). */
  request: SipRequest;
  source: SipSource;
  state: () => TxState;
  /** Hands a response to the transaction; false when the state does not take one
   * (e.g. a second final response). Build it with buildResponse(tx.request, ...). */
  respond: (response: SipResponse) => boolean;
}>;

/** The transaction user: the registrar/B2BUA core above this layer. */
export interface TransactionUser {
  /** A request that is not a retransmission: a new server transaction. The TU must answer
   * through tx.respond (an INVITE gets 100 Trying automatically after 200 ms). */
  onRequest(tx: ServerTransaction, request: SipRequest): void;
  /** An ACK for a 2xx: one matching no transaction (the usual case, new branch) or one
   * matching an INVITE server transaction in Accepted (RFC 6026). */
  onAck?(ack: SipRequest, source: SipSource, tx: ServerTransaction | undefined): void;
  /** A server transaction failed: timer H (no ACK for a non-2xx final) or a transport error. */
  onServerError?(tx: ServerTransaction, notice: Extract<TuNotice, { type: 'timeout' | 'transport-error' }>): void;
}

export type TransactionLayerOptions = Readonly<{
  transports: readonly SipTransport[];
  timers: TimerService;
  user: TransactionUser;
  limits?: Partial<TransactionLimits>;
  /** Port assumed for a Via without one. */
  defaultPort?: number;
}>;

type Entry = {
  readonly id: string;
  readonly side: 'client' | 'server';
  readonly record: TxRecord;
  readonly timers: Map<TimerName, TimerHandle>;
  /** Client: where requests go. Server: where responses go (null if the Via is unroutable). */
  readonly target: SipTarget | null;
  readonly onEvent?: (event: ClientEvent, tx: ClientTransaction) => void;
  handle: ClientTransaction | ServerTransaction | undefined;
};

export class TransactionLayer {
  private readonly limits: TransactionLimits;
  private readonly defaultPort: number;
  private readonly transports = new Map<TransportProtocol, SipTransport>();
  private readonly clients = new Map<string, Entry>();
  private readonly servers = new Map<string, Entry>();
  private readonly stats = createTxCounters();
  private closed = false;

  constructor(private readonly options: TransactionLayerOptions) {
    this.limits = transactionLimits(options.limits);
    this.defaultPort = options.defaultPort ?? 5060;
    for (const t of options.transports) {
      assert(!this.transports.has(t.protocol), `two ${t.protocol} transports`);
      this.transports.set(t.protocol, t);
      t.onMessage((inbound) => this.onInbound(inbound));
    }
  }

  /** Starts a client transaction for `request` towards `target`. If the request has no
   * Via, one is added (this transport's sent-by, a fresh branch, rport); if it has one,
   * its top Via must carry an RFC 3261 branch (a CANCEL reuses its INVITE's). Throws
   * SipTransactionError for an ACK, a bad branch, a duplicate, no transport, or a full table. */
  sendRequest(request: SipRequest, target: SipTarget, onEvent: (event: ClientEvent, tx: ClientTransaction) => void): ClientTransaction {
    if (this.closed) throw new SipTransactionError(TX_ERR.CLOSED, 'layer closed');
    if (request.method === 'ACK') throw new SipTransactionError(TX_ERR.BAD_REQUEST, 'ACK is sent with sendStateless');
    this.checkCapacity();
    const { sent, transport, target: dest } = this.prepare(request, target);
    const key = clientKeyOfRequest(sent);
    if (key === null || !key.startsWith(MAGIC_COOKIE)) throw new SipTransactionError(TX_ERR.BAD_REQUEST, 'top Via lacks an RFC 3261 branch');
    if (this.clients.has(key)) throw new SipTransactionError(TX_ERR.BAD_REQUEST, `branch in use: ${key}`);
    const record = newTransaction(kindFor(sent, 'client'), sent, transport.reliable);
    const entry: Entry = { id: key, side: 'client', record, timers: new Map(), target: dest, onEvent, handle: undefined };
    const handle: ClientTransaction = { id: key, get request() { return record.request; }, target: dest, state: () => record.state };
    entry.handle = handle;
    this.clients.set(key, entry);
    this.countCreated(record);
    this.dispatch(entry, { type: 'start' });
    return handle;
  }

  /** Picks the transport and adds our Via when the request has none; a request too big
   * for UDP moves to TCP when we have it (RFC 3261 §18.1.1). */
  private prepare(request: SipRequest, target: SipTarget): { sent: SipRequest; transport: SipTransport; target: SipTarget } {
    const transport = this.transports.get(target.protocol);
    if (transport === undefined) throw new SipTransactionError(TX_ERR.NO_TRANSPORT, target.protocol);
    if (topViaValue(request) !== undefined) return { sent: request, transport, target };
    const sent = withOwnVia(request, transport);
    const tcp = this.transports.get('TCP');
    if (target.protocol !== 'UDP' || tcp === undefined) return { sent, transport, target };
    if (serializeMessage(sent).length <= this.limits.udpRequestBytesMax) return { sent, transport, target };
    this.stats.movedToTcp++;
    return { sent: withOwnVia(request, tcp), transport: tcp, target: { ...target, protocol: 'TCP' } };
  }

  /** Sends outside any transaction: the ACK for a 2xx (RFC 3261 §13.2.2.4), or a
   * stateless response. Rejects with the transport's error. */
  sendStateless(message: SipMessage, target: SipTarget): Promise<void> {
    const transport = this.transports.get(target.protocol);
    if (transport === undefined) return Promise.reject(new SipTransactionError(TX_ERR.NO_TRANSPORT, target.protocol));
    return transport.send(message, target);
  }

  /** The INVITE server transaction a CANCEL refers to (RFC 3261 §9.2), if still live. */
  findInviteForCancel(cancel: SipRequest): ServerTransaction | undefined {
    const key = cancelTargetKey(cancel);
    const entry = key === null ? undefined : this.servers.get(key);
    return entry?.record.kind === 'invite-server' ? (entry.handle as ServerTransaction) : undefined;
  }

  transactionCount(): number {
    return this.clients.size + this.servers.size;
  }

  counters(): TransactionCounters {
    return { ...this.stats, active: this.transactionCount(), created: { ...this.stats.created } };
  }

  /** Stops every timer and forgets every transaction; transports are the caller's to close. */
  close(): void {
    this.closed = true;
    for (const e of [...this.clients.values(), ...this.servers.values()]) this.clearTimers(e);
    this.clients.clear();
    this.servers.clear();
  }

  private checkCapacity(): void {
    if (this.transactionCount() >= this.limits.transactionsMax) {
      this.stats.rejectedOverLimit++;
      throw new SipTransactionError(TX_ERR.TOO_MANY_TRANSACTIONS, `${this.limits.transactionsMax} live`);
    }
  }

  private onInbound(inbound: InboundMessage): void {
    if (this.closed) return;
    const m = inbound.message;
    if (m.kind === 'response') this.onResponse(m);
    else this.onRequest(m, inbound.source);
  }

  private onResponse(response: SipResponse): void {
    const key = clientKeyOfResponse(response);
    const entry = key === null ? undefined : this.clients.get(key);
    // RFC 6026 §8.4: a response matching no transaction is dropped, not passed up.
    if (entry === undefined) {
      this.stats.strayResponses++;
      return;
    }
    this.dispatch(entry, { type: 'response', response });
  }

  private onRequest(request: SipRequest, source: SipSource): void {
    const key = serverKeyOfRequest(request);
    if (key === null) {
      this.stats.unmatchable++;
      return;
    }
    const existing = this.servers.get(key);
    if (existing !== undefined) {
      const { handled } = this.dispatch(existing, { type: 'request', request });
      if (!handled) this.stats.retransmissionsAbsorbed++;
      return;
    }
    if (request.method === 'ACK') {
      this.stats.strayAcks++;
      this.options.user.onAck?.(request, source, undefined);
      return;
    }
    this.startServer(key, request, source);
  }

  private startServer(key: string, request: SipRequest, source: SipSource): void {
    const via = topViaValue(request);
    const target = via === undefined ? null : responseTarget(via, source, this.defaultPort);
    if (this.transactionCount() >= this.limits.transactionsMax) {
      this.stats.rejectedOverLimit++;
      // Overload: answer 503 statelessly so the client backs off instead of retrying.
      if (target !== null) this.sendStateless(buildResponse(request, 503, 'Service Unavailable'), target).catch(() => undefined);
      return;
    }
    const transport = this.transports.get(source.protocol);
    const record = newTransaction(kindFor(request, 'server'), request, transport?.reliable ?? false);
    const entry: Entry = { id: key, side: 'server', record, timers: new Map(), target, handle: undefined };
    const handle: ServerTransaction = {
      id: key,
      get request() {
        return record.request;
      },
      source,
      state: () => record.state,
      respond: (response) => this.respond(entry, response),
    };
    entry.handle = handle;
    this.servers.set(key, entry);
    this.countCreated(record);
    this.dispatch(entry, { type: 'start' });
    this.options.user.onRequest(handle, request);
  }

  private respond(entry: Entry, response: SipResponse): boolean {
    if (entry.record.state === 'terminated' || this.closed) return false;
    return this.dispatch(entry, { type: 'tu-response', response }).handled;
  }

  /** Runs one event through the machine, then carries out its actions: sends and timers
   * first, bookkeeping next, and the TU last, so a TU that re-enters the layer from a
   * callback finds the transaction already in its new state. */
  private dispatch(entry: Entry, event: TxEvent): { handled: boolean } {
    const cfg = this.limits;
    const stateBefore = entry.record.state;
    const { actions, handled } = step(entry.record, event, cfg);
    const notices: TuNotice[] = [];
    for (const a of actions) this.perform(entry, a, notices);
    if (entry.record.state === 'terminated') this.remove(entry);
    for (const n of notices) this.notify(entry, n);
    if (entry.record.state !== stateBefore) settle(entry.record);
    return { handled };
  }

  private perform(entry: Entry, action: TxAction, notices: TuNotice[]): void {
    switch (action.type) {
      case 'send':
        if (action.retransmission) this.stats.retransmissionsSent++;
        this.transmit(entry, action.message);
        break;
      case 'start-timer': {
        const old = entry.timers.get(action.timer);
        if (old !== undefined) this.options.timers.clearTimer(old);
        const h = this.options.timers.setTimer(action.delayMs, () => this.fire(entry, action.timer));
        entry.timers.set(action.timer, h);
        break;
      }
      case 'stop-timer': {
        const h = entry.timers.get(action.timer);
        if (h !== undefined) this.options.timers.clearTimer(h);
        entry.timers.delete(action.timer);
        break;
      }
      case 'notify':
        notices.push(action.notice);
        break;
      case 'absorbed':
        this.stats.retransmissionsAbsorbed++;
        break;
    }
  }

  private transmit(entry: Entry, message: SipMessage): void {
    const target = entry.target;
    const transport = target === null ? undefined : this.transports.get(target.protocol);
    if (target === null || transport === undefined) {
      queueMicrotask(() => this.transportFailed(entry, TX_ERR.NO_TRANSPORT));
      return;
    }
    transport.send(message, target).catch((err: unknown) => {
      const code = (err as { code?: unknown }).code;
      this.transportFailed(entry, typeof code === 'string' ? code : 'SIP_ERR_TRANSPORT_SEND_FAILED');
    });
  }

  private transportFailed(entry: Entry, code: string): void {
    this.stats.transportErrors++;
    if (!this.isLive(entry)) return;
    this.dispatch(entry, { type: 'transport-error', code });
  }

  private fire(entry: Entry, timer: TimerName): void {
    entry.timers.delete(timer);
    if (!this.isLive(entry)) return;
    this.dispatch(entry, { type: 'timer', timer });
  }

  private isLive(entry: Entry): boolean {
    const table = entry.side === 'client' ? this.clients : this.servers;
    return table.get(entry.id) === entry && entry.record.state !== 'terminated';
  }

  private remove(entry: Entry): void {
    this.clearTimers(entry);
    const table = entry.side === 'client' ? this.clients : this.servers;
    if (table.get(entry.id) === entry) table.delete(entry.id);
  }

  private clearTimers(entry: Entry): void {
    for (const h of entry.timers.values()) this.options.timers.clearTimer(h);
    entry.timers.clear();
  }

  private notify(entry: Entry, notice: TuNotice): void {
    if (notice.type === 'timeout') this.stats.timeouts++;
    if (entry.side === 'client') {
      if (notice.type !== 'ack') entry.onEvent?.(notice, entry.handle as ClientTransaction);
      return;
    }
    const tx = entry.handle as ServerTransaction;
    if (notice.type === 'ack') this.options.user.onAck?.(notice.request, tx.source, tx);
    else if (notice.type === 'timeout' || notice.type === 'transport-error') this.options.user.onServerError?.(tx, notice);
  }

  private countCreated(record: TxRecord): void {
    this.stats.created[record.kind]++;
  }
}

/** Headers a waiting transaction keeps of its request: what identifies it, and what a
 * late ACK, CANCEL or local response is built from. */
const identityHeaders = new Set(['via', 'from', 'to', 'call-id', 'cseq'].map(headerKey));
/** The body of a settled request, and so the mark that it is settled. */
const SETTLED_BODY = new Uint8Array(0);

/** A transaction that only waits out a timer (Completed, Confirmed, Accepted: up to 32 s
 * over UDP) needs no body and no other headers of its request (the machines keep only a
 * response they will resend). Holding whole requests that long was most of a SIP node's
 * heap at 300 calls/s, each pinning its datagram and its decoded text. Runs on a state
 * change, after the TU has heard of it, so its callback still sees the whole request. */
function settle(record: TxRecord): void {
  const s = record.state;
  if ((s !== 'completed' && s !== 'confirmed' && s !== 'accepted') || record.request.body === SETTLED_BODY) return;
  const r = record.request;
  const headers = r.headers.filter((h) => identityHeaders.has(headerKey(h.name))).map((h) => ({ name: h.name, value: ownCopy(h.value) }));
  record.request = { kind: 'request', method: r.method, uri: ownCopy(r.uri), headers, body: SETTLED_BODY };
}

/** A copy that does not share the parsed message's text: V8 makes a substring longer
 * than 12 characters a view into its parent string, which would keep the whole message. */
function ownCopy(s: string): string {
  return s.length <= 12 ? s : (' ' + s).slice(1);
}

function formatHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

/** Prepends our Via: this transport's sent-by, a fresh branch, and rport so the server
 * answers the port we really send from (RFC 3581). */
function withOwnVia(request: SipRequest, transport: SipTransport): SipRequest {
  const { host, port } = transport.sentBy;
  const value = `SIP/2.0/${transport.protocol} ${formatHost(host)}:${port};branch=${generateBranch()};rport`;
  return { ...request, headers: [{ name: 'Via', value }, ...request.headers] };
}
