// OPTIONS keep-alives to agents' phones registered over UDP from behind a NAT (the
// bindings this node stored with an observed source, nat-binding.ts). Each ping keeps the
// NAT's UDP mapping open so calls can reach the phone, and tells us whether it still can
// be reached: any response (even 4xx/5xx: the phone is there) is an answer; a ping not
// answered within `replyTimeoutMs` is a miss, and after `missesMax` misses in a row the
// binding is removed from its shard (`unregister`), so the router stops offering calls to
// a phone that is gone — as Kamailio's nathelper pings with `sipping_*` and removes with
// `keepalive_timeout`. The rate is bounded: one round every `intervalMs`, at most
// `perRoundMax` pings per round (the rest wait their turn), one ping in flight per binding.
// TCP bindings need none of this: the phone keeps its connection alive with CRLF pings
// (RFC 5626 §4.4.1), which the TCP transport answers.

import { generateCallId, generateTag, type SipRequest } from '../syntax/index.js';
import type { TimerHandle, TimerService, SipTarget } from '../transport/index.js';
import type { ClientEvent, TransactionLayer } from '../transaction/index.js';
import type { Logger } from '../../common/logger.js';
import type { NatBindingEvent } from './registrar.js';
import * as limits from './limits.js';

export type NatKeepAliveOptions = Readonly<{
  layer: TransactionLayer;
  timers: TimerService;
  log: Logger;
  /** Removes a binding from its shard; a failure is logged and retried at the next miss. */
  unregister: (dn: string, uri: string) => Promise<void>;
  /** Host for our From header (the UDP transport's sent-by). */
  localHost: string;
  intervalMs?: number;
  replyTimeoutMs?: number;
  missesMax?: number;
  perRoundMax?: number;
  bindingsMax?: number;
}>;

type Watched = { dn: string; uri: string; target: SipTarget; expiresAtMs: number; misses: number; inFlight: boolean };

export type NatKeepAliveStats = { pingsSent: number; answers: number; misses: number; removed: number; watched: number };

export class NatKeepAlive {
  private readonly intervalMs: number;
  private readonly replyTimeoutMs: number;
  private readonly missesMax: number;
  private readonly perRoundMax: number;
  private readonly bindingsMax: number;
  /** Map order is the round-robin order: a pinged binding moves to the end. */
  private readonly watched = new Map<string, Watched>();
  private round: TimerHandle | null = null;
  private closed = false;
  readonly stats: NatKeepAliveStats = { pingsSent: 0, answers: 0, misses: 0, removed: 0, watched: 0 };

  constructor(private readonly o: NatKeepAliveOptions) {
    this.intervalMs = o.intervalMs ?? limits.natKeepAliveIntervalMsDefault;
    this.replyTimeoutMs = o.replyTimeoutMs ?? Math.min(this.intervalMs, 5_000);
    this.missesMax = o.missesMax ?? limits.natKeepAliveMissesMax;
    this.perRoundMax = o.perRoundMax ?? limits.natKeepAlivesPerRoundMax;
    this.bindingsMax = o.bindingsMax ?? limits.natKeepAliveBindingsMax;
  }

  /** The registrar's report of a stored or removed binding. */
  onBinding(e: NatBindingEvent): void {
    const key = `${e.dn} ${e.uri}`;
    const r = e.received;
    if (r === null || r.protocol !== 'UDP') {
      this.watched.delete(key);
    } else {
      this.watched.delete(key);
      this.watched.set(key, { dn: e.dn, uri: e.uri, target: { protocol: 'UDP', host: r.host, port: r.port }, expiresAtMs: this.o.timers.now() + e.expiresInMs, misses: 0, inFlight: false });
      if (this.watched.size > this.bindingsMax) this.watched.delete(this.watched.keys().next().value!);
    }
    this.stats.watched = this.watched.size;
    if (this.watched.size > 0 && this.round === null && !this.closed) this.schedule();
  }

  close(): void {
    this.closed = true;
    if (this.round !== null) this.o.timers.clearTimer(this.round);
    this.round = null;
  }

  private schedule(): void {
    this.round = this.o.timers.setTimer(this.intervalMs, () => {
      this.round = null;
      if (this.closed) return;
      this.pingRound();
      if (this.watched.size > 0) this.schedule();
    });
  }

  private pingRound(): void {
    const now = this.o.timers.now();
    const due: Watched[] = [];
    for (const [key, w] of this.watched) {
      if (w.expiresAtMs <= now) { this.watched.delete(key); continue; }
      if (!w.inFlight) due.push(w);
      if (due.length >= this.perRoundMax) break;
    }
    for (const w of due) {
      const key = `${w.dn} ${w.uri}`;
      this.watched.delete(key);
      this.watched.set(key, w);
      this.ping(w);
    }
    this.stats.watched = this.watched.size;
  }

  private ping(w: Watched): void {
    w.inFlight = true;
    let settled = false;
    const settle = (answered: boolean): void => {
      if (settled) return;
      settled = true;
      w.inFlight = false;
      this.o.timers.clearTimer(deadline);
      if (answered) { w.misses = 0; this.stats.answers++; return; }
      if (this.closed) return;
      w.misses++;
      this.stats.misses++;
      if (w.misses >= this.missesMax) this.remove(w);
    };
    const deadline = this.o.timers.setTimer(this.replyTimeoutMs, () => settle(false));
    try {
      this.o.layer.sendRequest(this.options(w), w.target, (ev: ClientEvent) => {
        if (ev.type === 'final') settle(true);
        else if (ev.type === 'timeout' || ev.type === 'transport-error') settle(false);
      });
      this.stats.pingsSent++;
    } catch (err) {
      this.o.log.warn('NAT keep-alive not sent', { dn: w.dn, error: (err as Error).message });
      settle(false);
    }
  }

  private remove(w: Watched): void {
    const key = `${w.dn} ${w.uri}`;
    if (this.watched.get(key) !== w) return;
    // Stop pinging at once; if the shard cannot be told now, the binding still expires.
    this.watched.delete(key);
    this.stats.watched = this.watched.size;
    this.o.log.info('NAT binding stopped answering keep-alives; removing it', { dn: w.dn, uri: w.uri, misses: w.misses });
    this.o.unregister(w.dn, w.uri).then(
      () => { this.stats.removed++; },
      (err: unknown) => this.o.log.warn('removing a silent NAT binding failed; it expires on its own', { dn: w.dn, error: (err as Error).message }),
    );
  }

  private options(w: Watched): SipRequest {
    const host = this.o.localHost;
    return {
      kind: 'request',
      method: 'OPTIONS',
      uri: w.uri,
      headers: [
        { name: 'Max-Forwards', value: '70' },
        { name: 'From', value: `<sip:keepalive@${host.includes(':') ? `[${host}]` : host}>;tag=${generateTag()}` },
        { name: 'To', value: `<${w.uri}>` },
        { name: 'Call-ID', value: generateCallId(host) },
        { name: 'CSeq', value: '1 OPTIONS' },
        { name: 'Content-Length', value: '0' },
      ],
      body: new Uint8Array(0),
    };
  }
}
