// An ng protocol client, for the SIP node to drive Ringfence's gateway or a real
// rtpengine. Each request gets a fresh cookie; on timeout the very same datagram (same
// cookie) is sent again, so the server answers a retransmission from its cache instead of
// running the command twice. Error replies become GatewayErrors (code NG_REMOTE unless the
// server named one of ours in 'error-code'). With a key, commands are signed and a reply
// that is not signed with the same key is ignored like a stray datagram.

import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { isBDict, isBList, type BDict, type BValue } from './bencode.js';
import { GatewayError, GatewayErrorCode, type GatewayErrorCode as Code } from './errors.js';
import { ngRetriesDefault, ngTimeoutMsDefault } from './limits.js';
import { signNg, stripAuth, verifyNg } from './ng-auth.js';
import { formatNgMessage, parseNgMessage } from './ng-protocol.js';

export type NgClientOptions = Readonly<{
  host: string;
  port: number;
  /** Wait per attempt before retransmitting (default ngTimeoutMsDefault, 500). */
  timeoutMs?: number;
  /** Retransmissions after the first attempt (default ngRetriesDefault, 2). */
  retries?: number;
  /** deriveKey(secret, 'ng-control'): every command is signed and only replies signed
   * with it are accepted (gateway/ng-auth.ts). Absent: plain commands, as rtpengine
   * expects. */
  key?: Buffer;
  nowMs?: () => number;
}>;

/** Options common to offer and answer. `flags`, `replace` and `ice` are passed through as
 * rtpengine spells them; `extra` adds any other dictionary keys. */
export type NgMediaOptions = Readonly<{
  flags?: readonly string[];
  replace?: readonly string[];
  ice?: 'remove' | 'force' | 'default';
  extra?: BDict;
}>;

export type NgLegReport = Readonly<{
  leg: string;
  tag: string;
  localPort: number;
  packets: number;
  bytes: number;
  rtcpPackets: number;
  relayed: number;
  lost: number;
  jitter: number;
  droppedSource: number;
  droppedRate: number;
  droppedUnroutable: number;
  latched: Readonly<{ address: string; port: number }> | null;
}>;

/** `legs` is filled from Ringfence's gateway; rtpengine's replies only have `raw`. */
export type NgQueryResult = Readonly<{ timedOut: boolean; legs: readonly NgLegReport[]; raw: BDict }>;

type Pending = { msg: Buffer; attempts: number; timer: NodeJS.Timeout; resolve: (b: BDict) => void; reject: (e: Error) => void };

const KNOWN_CODES = new Set<string>(Object.values(GatewayErrorCode));

export class NgClient {
  private readonly socket: dgram.Socket;
  private readonly pending = new Map<string, Pending>();
  private readonly prefix = randomBytes(6).toString('hex');
  private seq = 0;
  private readonly timeoutMs: number;
  private readonly retries: number;
  private closed = false;

  constructor(private readonly opts: NgClientOptions) {
    this.timeoutMs = opts.timeoutMs ?? ngTimeoutMsDefault;
    this.retries = opts.retries ?? ngRetriesDefault;
    this.socket = dgram.createSocket('udp4');
    this.socket.on('message', (msg) => this.onReply(msg));
    this.socket.on('error', () => undefined);
    this.socket.unref();
  }

  async ping(): Promise<void> {
    const r = await this.request({ command: 'ping' });
    if (r['result'] !== 'pong') throw new GatewayError(GatewayErrorCode.NG_REMOTE, `ping answered ${String(r['result'])}`);
  }

  async offer(o: Readonly<{ callId: string; fromTag: string; sdp: string }> & NgMediaOptions): Promise<{ sdp: string; raw: BDict }> {
    const r = await this.request({ command: 'offer', 'call-id': o.callId, 'from-tag': o.fromTag, sdp: o.sdp, ...mediaKeys(o) });
    return { sdp: sdpOf(r), raw: r };
  }

  async answer(
    o: Readonly<{ callId: string; fromTag: string; toTag: string; sdp: string }> & NgMediaOptions,
  ): Promise<{ sdp: string; raw: BDict }> {
    const r = await this.request({
      command: 'answer',
      'call-id': o.callId,
      'from-tag': o.fromTag,
      'to-tag': o.toTag,
      sdp: o.sdp,
      ...mediaKeys(o),
    });
    return { sdp: sdpOf(r), raw: r };
  }

  /** `play media`: prompts (names of the gateway's --prompts-dir) into the party `fromTag`;
   * resolves with the playback's length in ms (all rounds). */
  async playMedia(o: Readonly<{ callId: string; fromTag: string; files: readonly string[]; repeatTimes?: number }>): Promise<{ durationMs: number }> {
    const r = await this.request({
      command: 'play media',
      'call-id': o.callId,
      'from-tag': o.fromTag,
      ...(o.files.length === 1 ? { file: o.files[0]! } : { files: [...o.files] }),
      ...(o.repeatTimes !== undefined ? { 'repeat-times': o.repeatTimes } : {}),
    });
    return { durationMs: n(r, 'duration') };
  }

  /** `stop media`: the frames played, from `last-frame-pos`. */
  async stopMedia(o: Readonly<{ callId: string; fromTag: string }>): Promise<number> {
    return n(await this.request({ command: 'stop media', 'call-id': o.callId, 'from-tag': o.fromTag }), 'last-frame-pos');
  }

  delete(o: Readonly<{ callId: string; fromTag?: string }>): Promise<BDict> {
    return this.request({ command: 'delete', 'call-id': o.callId, ...(o.fromTag !== undefined ? { 'from-tag': o.fromTag } : {}) });
  }

  async query(o: Readonly<{ callId: string }>): Promise<NgQueryResult> {
    const raw = await this.request({ command: 'query', 'call-id': o.callId });
    const legs = isBList(raw['legs']) ? raw['legs'].filter(isBDict).map(legReport) : [];
    return { timedOut: raw['timed-out'] === 1, legs, raw };
  }

  /** Ringfence's `list`: one page of calls (`offset`, `limit`), the first timed-out ones,
   * the totals of both, and port usage. */
  async list(page: Readonly<{ offset?: number; limit?: number }> = {}): Promise<{
    calls: string[];
    callsTotal: number;
    timedOut: string[];
    timedOutTotal: number;
    portPairsInUse: number;
    portPairsFree: number;
  }> {
    const r = await this.request({
      command: 'list',
      ...(page.offset !== undefined ? { offset: page.offset } : {}),
      ...(page.limit !== undefined ? { limit: page.limit } : {}),
    });
    const calls = strings(r['calls']);
    const timedOut = strings(r['timed-out']);
    return {
      calls,
      callsTotal: typeof r['calls total'] === 'number' ? r['calls total'] : calls.length,
      timedOut,
      timedOutTotal: typeof r['timed-out total'] === 'number' ? r['timed-out total'] : timedOut.length,
      portPairsInUse: n(r, 'port pairs in use'),
      portPairsFree: n(r, 'port pairs free'),
    };
  }

  /** Sends any ng command; resolves with the reply dictionary, rejects on an error reply
   * or after the last retransmission timed out. */
  request(body: BDict): Promise<BDict> {
    if (this.closed) return Promise.reject(new GatewayError(GatewayErrorCode.CLOSED, 'client closed'));
    const cookie = `${this.prefix}_${++this.seq}`;
    const key = this.opts.key;
    const msg = formatNgMessage(cookie, key === undefined ? body : signNg(key, 'ng-request', cookie, body, (this.opts.nowMs ?? Date.now)()));
    return new Promise<BDict>((resolve, reject) => {
      const p: Pending = { msg, attempts: 0, timer: undefined as unknown as NodeJS.Timeout, resolve, reject };
      this.pending.set(cookie, p);
      this.transmit(cookie, p);
    }).then((r) => {
      if (r['result'] === 'error') {
        const code = typeof r['error-code'] === 'string' && KNOWN_CODES.has(r['error-code']) ? (r['error-code'] as Code) : GatewayErrorCode.NG_REMOTE;
        throw new GatewayError(code, String(r['error-reason'] ?? 'error'));
      }
      return r;
    });
  }

  close(): void {
    this.closed = true;
    for (const [cookie, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(new GatewayError(GatewayErrorCode.CLOSED, 'client closed'));
      this.pending.delete(cookie);
    }
    this.socket.close();
  }

  private transmit(cookie: string, p: Pending): void {
    p.attempts++;
    this.socket.send(p.msg, this.opts.port, this.opts.host);
    p.timer = setTimeout(() => {
      if (p.attempts > this.retries) {
        this.pending.delete(cookie);
        p.reject(new GatewayError(GatewayErrorCode.NG_TIMEOUT, `no ng reply after ${p.attempts} attempts`));
      } else {
        this.transmit(cookie, p);
      }
    }, this.timeoutMs);
  }

  private onReply(msg: Buffer): void {
    let cookie: string;
    let body: BDict;
    try {
      ({ cookie, body } = parseNgMessage(msg));
    } catch {
      return; // not a reply we can match; the request will time out or be retried
    }
    const p = this.pending.get(cookie);
    if (p === undefined) return; // a late duplicate
    const key = this.opts.key;
    if (key !== undefined) {
      if (verifyNg(key, 'ng-reply', cookie, body, 0) !== 'ok') return; // forged or foreign
      body = stripAuth(body);
    }
    this.pending.delete(cookie);
    clearTimeout(p.timer);
    p.resolve(body);
  }
}

function mediaKeys(o: NgMediaOptions): BDict {
  return {
    ...(o.extra ?? {}),
    ...(o.flags !== undefined ? { flags: [...o.flags] } : {}),
    ...(o.replace !== undefined ? { replace: [...o.replace] } : {}),
    ...(o.ice !== undefined ? { ICE: o.ice } : {}),
  };
}

function sdpOf(r: BDict): string {
  const sdp = r['sdp'];
  if (typeof sdp !== 'string') throw new GatewayError(GatewayErrorCode.NG_REMOTE, 'reply has no sdp');
  return sdp;
}

function strings(v: BValue | undefined): string[] {
  return isBList(v) ? v.filter((x): x is string => typeof x === 'string') : [];
}

function n(d: BDict, k: string): number {
  const v = d[k];
  return typeof v === 'number' ? v : 0;
}

function legReport(d: BDict): NgLegReport {
  const l = d['latched endpoint'];
  const latched = isBDict(l) && typeof l['address'] === 'string' ? { address: l['address'], port: n(l, 'port') } : null;
  return {
    leg: String(d['leg'] ?? ''),
    tag: String(d['tag'] ?? ''),
    localPort: n(d, 'local port'),
    packets: n(d, 'packets'),
    bytes: n(d, 'bytes'),
    rtcpPackets: n(d, 'rtcp packets'),
    relayed: n(d, 'relayed'),
    lost: n(d, 'lost'),
    jitter: n(d, 'jitter'),
    droppedSource: n(d, 'dropped source'),
    droppedRate: n(d, 'dropped rate'),
    droppedUnroutable: n(d, 'dropped unroutable'),
    latched,
  };
}
