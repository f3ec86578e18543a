// The ng control socket: UDP datagrams "<cookie> <bencoded dict>" in, replies with the
// same cookie out.
//
// Who gets an answer: with a key (the default), only a datagram signed with it and fresh
// (gateway/ng-auth.ts). Anything else — noise, a malformed body, an unsigned or badly
// signed or stale command, a source outside the optional allow-list — is dropped without a
// word and counted: no reply means no amplification towards a spoofed source and no oracle
// for probing. Without a key (`--ng-auth off`, rtpengine-style behind a firewall) every
// well-formed command is served and malformed ones get an error reply, as before.
//
// Retransmissions and replays: a command whose cookie was run in the last 30 s is answered
// from the reply cache, but only to the address it first came from (a client retrying);
// from anywhere else it is a replay and is dropped. One that arrives while the first copy
// still runs waits for that run. An authenticated cookie is also remembered until its
// timestamp leaves the freshness window, so it is never run twice.
//
// Bounds: per-source command rate and running commands, a global running ceiling, and the
// one-datagram reply size; an authenticated sender over a bound gets an error reply.

import dgram from 'node:dgram';
import type { BDict } from './bencode.js';
import { GatewayError, GatewayErrorCode, isGatewayError } from './errors.js';
import { ngCommandsInFlightMax } from './limits.js';
import type { Gateway } from './gateway.js';
import { AUTH_TS_KEY, signNg, stripAuth, verifyNg } from './ng-auth.js';
import { SeenCookies, SourceBounds } from './ng-guards.js';
import { errorReply, formatNgMessage, parseNgMessage, peekCookie, ReplyCache } from './ng-protocol.js';

export type ControlServerOptions = Readonly<{
  /** deriveKey(secret, 'ng-control'); null serves unsigned commands (`--ng-auth off`). */
  key: Buffer | null;
  /** Source addresses allowed to send commands at all; null allows any (the key decides). */
  allowFrom?: ReadonlySet<string> | null;
  nowMs?: () => number;
}>;

/** What was dropped or refused, by reason; `statistics` answers with these. */
export type ControlCounters = {
  commandsRun: number;
  repliesFromCache: number;
  droppedNotAllowed: number;
  droppedMalformed: number;
  droppedUnsigned: number;
  droppedBadSignature: number;
  droppedStale: number;
  droppedReplay: number;
  refusedRate: number;
  refusedOverloaded: number;
  sendErrors: number;
};

export class ControlServer {
  private readonly socket: dgram.Socket;
  private readonly cache = new ReplyCache();
  /** The source each cached reply went to, by cookie (same lifetime as the cache). */
  private readonly cacheSource = new Map<string, string>();
  private readonly inFlight = new Map<string, { run: Promise<Buffer>; source: string }>();
  private readonly bounds = new SourceBounds();
  private readonly seen = new SeenCookies();
  private readonly key: Buffer | null;
  private readonly allowFrom: ReadonlySet<string> | null;
  private readonly nowMs: () => number;
  readonly counters: ControlCounters = {
    commandsRun: 0,
    repliesFromCache: 0,
    droppedNotAllowed: 0,
    droppedMalformed: 0,
    droppedUnsigned: 0,
    droppedBadSignature: 0,
    droppedStale: 0,
    droppedReplay: 0,
    refusedRate: 0,
    refusedOverloaded: 0,
    sendErrors: 0,
  };

  constructor(
    private readonly gateway: Gateway,
    opts: ControlServerOptions,
  ) {
    this.key = opts.key;
    this.allowFrom = opts.allowFrom ?? null;
    this.nowMs = opts.nowMs ?? Date.now;
    this.socket = dgram.createSocket('udp4');
    this.socket.on('message', (msg, rinfo) => this.onMessage(msg, rinfo));
    this.socket.on('error', () => undefined);
  }

  /** Commands run (not answered from the cache): lets tests see a retransmission did not
   * run twice. */
  get commandsRun(): number {
    return this.counters.commandsRun;
  }

  listen(host: string, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      this.socket.once('error', reject);
      this.socket.bind(port, host, () => {
        this.socket.off('error', reject);
        resolve(this.socket.address().port);
      });
    });
  }

  close(): void {
    this.socket.close();
  }

  private onMessage(msg: Buffer, rinfo: dgram.RemoteInfo): void {
    const c = this.counters;
    if (this.allowFrom !== null && !this.allowFrom.has(rinfo.address)) {
      c.droppedNotAllowed++;
      return;
    }
    const now = this.nowMs();
    const source = `${rinfo.address}:${rinfo.port}`;
    let cookie: string;
    let body: BDict;
    try {
      ({ cookie, body } = parseNgMessage(msg));
    } catch (e) {
      c.droppedMalformed++;
      const peeked = peekCookie(msg);
      // Unauthenticated servers keep answering a broken body (rtpengine does); with a key,
      // a body we cannot read is a body we cannot authenticate.
      if (this.key === null && peeked !== null) this.reply(peeked, errorOf(e), rinfo);
      return;
    }
    if (this.key !== null) {
      const verdict = verifyNg(this.key, 'ng-request', cookie, body, now);
      if (verdict !== 'ok') {
        if (verdict === 'unsigned') c.droppedUnsigned++;
        else if (verdict === 'bad-signature') c.droppedBadSignature++;
        else c.droppedStale++;
        return;
      }
    }
    if (this.answerRetransmission(cookie, source, rinfo, now)) return;
    if (this.key !== null && this.seen.has(cookie, now)) {
      c.droppedReplay++;
      return;
    }
    this.admit(cookie, body, source, rinfo, now);
  }

  /** True when the cookie is cached or running: answered (same source) or dropped. */
  private answerRetransmission(cookie: string, source: string, rinfo: dgram.RemoteInfo, now: number): boolean {
    const cached = this.cache.get(cookie, now);
    const running = this.inFlight.get(cookie);
    if (cached === undefined && running === undefined) return false;
    const firstSource = running?.source ?? this.cacheSource.get(cookie);
    if (firstSource !== source) {
      this.counters.droppedReplay++;
      return true;
    }
    this.counters.repliesFromCache++;
    if (cached !== undefined) this.send(cached, rinfo);
    else void running!.run.then((reply) => this.send(reply, rinfo));
    return true;
  }

  private admit(cookie: string, body: BDict, source: string, rinfo: dgram.RemoteInfo, now: number): void {
    const c = this.counters;
    if (this.inFlight.size >= ngCommandsInFlightMax) {
      c.refusedOverloaded++;
      this.reply(cookie, errorReply('overloaded'), rinfo);
      return;
    }
    const admission = this.bounds.admit(rinfo.address, now);
    if (admission !== 'ok') {
      if (admission === 'rate-limited') c.refusedRate++;
      else c.refusedOverloaded++;
      this.reply(cookie, errorReply(admission === 'rate-limited' ? 'rate limited' : 'overloaded'), rinfo);
      return;
    }
    if (this.key !== null && !this.seen.add(cookie, body[AUTH_TS_KEY] as number, now)) {
      this.bounds.done(rinfo.address);
      c.refusedOverloaded++;
      this.reply(cookie, errorReply('overloaded'), rinfo);
      return;
    }
    const run = this.run(cookie, stripAuth(body));
    this.inFlight.set(cookie, { run, source });
    void run.then((reply) => {
      this.bounds.done(rinfo.address);
      this.inFlight.delete(cookie);
      this.cache.put(cookie, reply, this.nowMs());
      this.cacheSource.set(cookie, source);
      this.trimCacheSources();
      this.send(reply, rinfo);
    });
  }

  private async run(cookie: string, body: BDict): Promise<Buffer> {
    this.counters.commandsRun++;
    let reply: BDict;
    try {
      reply = body['command'] === 'statistics' ? this.statistics() : await this.gateway.handle(body);
    } catch (e) {
      reply = errorOf(e);
    }
    return this.format(cookie, reply);
  }

  private statistics(): BDict {
    return { result: 'ok', control: { ...this.counters, 'sources tracked': this.bounds.size, 'cookies remembered': this.seen.size } };
  }

  /** The reply datagram, signed when we have a key; one too large for a datagram becomes
   * an error reply (a bug in a command's paging, not something to crash over). */
  private format(cookie: string, body: BDict): Buffer {
    const sign = (b: BDict) => (this.key === null ? b : signNg(this.key, 'ng-reply', cookie, b, this.nowMs()));
    try {
      return formatNgMessage(cookie, sign(body));
    } catch (e) {
      return formatNgMessage(cookie, sign(errorOf(e)));
    }
  }

  private reply(cookie: string, body: BDict, rinfo: dgram.RemoteInfo): void {
    this.send(this.format(cookie, body), rinfo);
  }

  private send(reply: Buffer, rinfo: dgram.RemoteInfo): void {
    try {
      this.socket.send(reply, rinfo.port, rinfo.address, (err) => {
        if (err) this.counters.sendErrors++;
      });
    } catch {
      // A source port 0 or a socket already closed: nothing to answer to.
      this.counters.sendErrors++;
    }
  }

  /** cacheSource follows the reply cache: entries the cache dropped are dropped here. */
  private trimCacheSources(): void {
    if (this.cacheSource.size <= this.cache.size) return;
    const now = this.nowMs();
    for (const cookie of this.cacheSource.keys()) {
      if (this.cacheSource.size <= this.cache.size) return;
      if (this.cache.get(cookie, now) === undefined) this.cacheSource.delete(cookie);
    }
  }
}

function errorOf(e: unknown): BDict {
  if (isGatewayError(e)) return { ...errorReply(e.message), 'error-code': e.code };
  const internal = new GatewayError(GatewayErrorCode.NG_MALFORMED, `internal error: ${(e as Error)?.message ?? String(e)}`);
  return { ...errorReply(internal.message), 'error-code': internal.code };
}
