// One client connection to one shard replica or one store (a process hosting one replica
// of many shards; each request then names its shard): authenticates (auth.ts: this side
// proves its principal first, then checks the listener's proof), then multiplexes requests
// by id over the TCP socket, times each out on its own, and fails every pending request at once
// when the socket dies, so the shard client can move to another replica without waiting.
// A socket can also die silently (a partition closes nothing): once open, a connection
// that has had no answer for keepaliveIdleMs sends a `ping`, and one that has still had
// none keepaliveTimeoutMs later is destroyed as if it had closed. While requests wait on
// it, the same is judged on a shorter scale (busyKeepaliveIdleMs, busyKeepaliveTimeoutMs),
// so writes proposed to a leader behind a partition move to the side that elected a new
// one in about the time that election takes. Only answers count, not the feed pages the
// server pushes unasked: a page proves the server-to-client way only, and a cut of the
// other way (one-way loss) would strand every request sent meanwhile.
import { connect, type Socket } from 'node:net';
import { CoalescingFrameWriter, encodeFrame, FrameDecoder } from '../../common/framing.js';
import { carriedCode, type ForeignErrorCode, type ShardRpcErrorCode } from '../errors.js';
import { rpcBusyKeepaliveIdleMs, rpcBusyKeepaliveTimeoutMs, rpcConnectTimeoutMsDefault, rpcFrameBytesMax, rpcHandshakeFrameBytesMax, rpcKeepaliveIdleMs, rpcKeepaliveTimeoutMs } from '../limits.js';
import {
  computeRpcMac,
  decodeRpcAcceptOrRefused,
  decodeRpcChallenge,
  encodeRpcHello,
  encodeRpcProof,
  newRpcNonce,
  principalKey,
  rpcMacMatches,
} from './auth.js';
import type { FeedPage, LeaderAddress, RpcErrorBody, RpcRequest, RpcResponse } from './protocol.js';

/** A failed RPC: the replica's own typed error (a shard or Raft code, see shards/errors.ts),
 * or SHARD_ERR_TIMEOUT / SHARD_ERR_UNAVAILABLE / SHARD_ERR_UNAUTHENTICATED raised here. */
export class RpcError extends Error {
  constructor(
    readonly code: ShardRpcErrorCode | ForeignErrorCode,
    message: string,
    readonly leaderHint: string | null = null,
    /** Where the hinted leader listens, when the cluster files may not say (protocol.ts). */
    readonly leaderAt: LeaderAddress | null = null,
  ) {
    super(message);
  }
}

/** Who this connection authenticates as, and which replica it expects to answer. */
export type RpcDialOptions = Readonly<{
  /** The cluster's root secret. */
  secret: string;
  /** `sip:<id>`, `replica:<id>`, `admin` or `launcher` (auth.ts). */
  principal: string;
  /** The identity the listener must prove it is: the replica id, or the store id of a
   * replica hosted on a store (`replica.store ?? replica.id`). */
  replicaId: string;
  /** Connect and handshake together, an absolute deadline (default rpcConnectTimeoutMsDefault). */
  connectTimeoutMs?: number;
  /** Silence after which a ping is sent (default rpcKeepaliveIdleMs). */
  keepaliveIdleMs?: number;
  /** Further silence after which the connection is destroyed (default rpcKeepaliveTimeoutMs). */
  keepaliveTimeoutMs?: number;
  /** The same two while requests wait (defaults rpcBusyKeepaliveIdleMs, rpcBusyKeepaliveTimeoutMs). */
  busyKeepaliveIdleMs?: number;
  busyKeepaliveTimeoutMs?: number;
}>;

type Pending = { resolve: (r: { result: unknown; index?: number }) => void; reject: (e: RpcError) => void; timer: NodeJS.Timeout };

// Distributes Omit over the union so each request variant keeps its own fields.
type WithoutId<T> = T extends unknown ? Omit<T, 'id'> : never;

export class RpcConnection {
  readonly #socket: Socket;
  readonly #writer: CoalescingFrameWriter;
  readonly #pending = new Map<number, Pending>();
  readonly #feeds = new Map<number, Readonly<{ onPage: (page: FeedPage) => void; onError: (err: RpcError) => void }>>();
  /** Many followers share one link to a store: callbacks of our own, not one socket
   * listener each (which would pass the emitter's listener limit at 11). */
  readonly #closeCallbacks = new Set<(err: RpcError) => void>();
  #nextId = 1;
  #closed: RpcError | null = null;
  readonly #ready: Promise<void>;
  #onFail: ((err: RpcError) => void) | null = null;
  /** When the last answer (a response to a request or ping, not a feed page) arrived, ms
   * since epoch; read by the keepalive timer only, so a busy link costs one clock read per
   * answer, not a timer reset. */
  #heardAtMs = 0;
  #pingedAtMs: number | null = null;
  /** When the link last went from no request waiting to one: busy silence counts from then
   * or from the last answer, whichever is later (an idle link has been silent for as long
   * as it was idle, which says nothing about the request just sent). */
  #busySinceMs = 0;
  #keepalive: NodeJS.Timeout | null = null;
  #keepaliveDueMs = 0;
  readonly #keepaliveIdleMs: number;
  readonly #keepaliveTimeoutMs: number;
  readonly #busyKeepaliveIdleMs: number;
  readonly #busyKeepaliveTimeoutMs: number;

  private constructor(readonly host: string, readonly port: number, dial: RpcDialOptions) {
    const connectTimeoutMs = dial.connectTimeoutMs ?? rpcConnectTimeoutMsDefault;
    this.#keepaliveIdleMs = dial.keepaliveIdleMs ?? rpcKeepaliveIdleMs;
    this.#keepaliveTimeoutMs = dial.keepaliveTimeoutMs ?? rpcKeepaliveTimeoutMs;
    this.#busyKeepaliveIdleMs = dial.busyKeepaliveIdleMs ?? rpcBusyKeepaliveIdleMs;
    this.#busyKeepaliveTimeoutMs = dial.busyKeepaliveTimeoutMs ?? rpcBusyKeepaliveTimeoutMs;
    this.#socket = connect({ host, port, noDelay: true });
    this.#writer = new CoalescingFrameWriter(this.#socket);
    const decoder = new FrameDecoder(rpcHandshakeFrameBytesMax);
    const key = principalKey(dial.secret, dial.principal);
    const dialerNonce = newRpcNonce();
    let listenerNonce: Buffer | null = null;
    let open = false;
    let settle: { resolve: () => void; reject: (e: RpcError) => void } | null = null;
    this.#ready = new Promise((resolve, reject) => {
      settle = { resolve, reject };
    });
    const where = `${dial.replicaId} at ${host}:${port}`;
    // Absolute: connect and handshake must both be done by then.
    const timer = setTimeout(() => this.#fail(new RpcError('SHARD_ERR_UNAVAILABLE', `connect to ${where} timed out`)), connectTimeoutMs);
    this.#socket.once('connect', () => this.#socket.write(encodeFrame(encodeRpcHello(dial.principal, dialerNonce))));
    const handshake = (frame: Buffer): void => {
      const mac = { principal: dial.principal, listenerId: dial.replicaId, dialerNonce, listenerNonce: listenerNonce ?? Buffer.alloc(0) };
      if (listenerNonce === null) {
        const challenge = decodeRpcChallenge(frame);
        if (challenge === null) return this.#fail(new RpcError('SHARD_ERR_UNAVAILABLE', `${where}: not a shard RPC challenge`));
        if (challenge.replica !== dial.replicaId) return this.#fail(new RpcError('SHARD_ERR_UNAUTHENTICATED', `dialled ${where} but ${JSON.stringify(challenge.replica.slice(0, 80))} answered`));
        listenerNonce = challenge.nonce;
        this.#socket.write(encodeFrame(encodeRpcProof(computeRpcMac(key, { ...mac, listenerNonce, role: 'dialer' }))));
        return;
      }
      const answer = decodeRpcAcceptOrRefused(frame);
      if (answer === null) return this.#fail(new RpcError('SHARD_ERR_UNAVAILABLE', `${where}: not a shard RPC accept`));
      if ('refused' in answer) return this.#fail(new RpcError('SHARD_ERR_UNAUTHENTICATED', `${where} refused ${dial.principal}: ${answer.message.slice(0, 200)} (is the cluster secret the same?)`));
      if (!rpcMacMatches(key, { ...mac, role: 'listener' }, answer.mac)) return this.#fail(new RpcError('SHARD_ERR_UNAUTHENTICATED', `${where} failed authentication (not the replica, or another cluster secret)`));
      open = true;
      clearTimeout(timer);
      decoder.frameBytesMax = rpcFrameBytesMax;
      this.#heardAtMs = Date.now();
      this.#armKeepalive(this.#keepaliveIdleMs);
      settle!.resolve();
    };
    this.#socket.on('data', (chunk) => {
      decoder.feed(chunk);
      for (;;) {
        if (this.#closed) return;
        let frame: Buffer | null;
        try {
          frame = decoder.next();
        } catch (err) {
          this.#fail(new RpcError('SHARD_ERR_UNAVAILABLE', `bad frame from ${where}: ${(err as Error).message}`));
          return;
        }
        if (frame === null) return;
        if (!open) handshake(frame);
        else this.#onFrame(frame);
      }
    });
    this.#socket.on('error', (err) => this.#fail(new RpcError('SHARD_ERR_UNAVAILABLE', `${where}: ${err.message}`)));
    this.#socket.on('close', () => this.#fail(new RpcError('SHARD_ERR_UNAVAILABLE', `${where}: connection closed`)));
    this.#onFail = (err) => {
      clearTimeout(timer);
      if (!open) settle!.reject(err);
    };
  }

  /** Connects to the replica `dial.replicaId` at host:port and authenticates as
   * `dial.principal`; rejects with SHARD_ERR_UNAVAILABLE (no link, timeout) or
   * SHARD_ERR_UNAUTHENTICATED (either side's proof failed). */
  static async open(host: string, port: number, dial: RpcDialOptions): Promise<RpcConnection> {
    const c = new RpcConnection(host, port, dial);
    await c.#ready;
    return c;
  }

  get closed(): boolean {
    return this.#closed !== null;
  }

  /** Sends one request; resolves with its result or rejects with the server's typed error,
   * SHARD_ERR_TIMEOUT after `timeoutMs`, or SHARD_ERR_UNAVAILABLE when the link dies. */
  request(body: WithoutId<Exclude<RpcRequest, { op: 'feed' }>>, timeoutMs: number): Promise<{ result: unknown; index?: number }> {
    if (this.#closed) return Promise.reject(this.#closed);
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new RpcError('SHARD_ERR_TIMEOUT', `no answer from ${this.host}:${this.port} within ${timeoutMs} ms`));
      }, timeoutMs);
      if (this.#pending.size === 0) this.#becomeBusy();
      this.#pending.set(id, { resolve, reject, timer });
      this.#writer.write(Buffer.from(JSON.stringify({ ...body, id })));
    });
  }

  /** Subscribes to shard `shard`'s change feed (null: the listener's only shard); `onPage`
   * is called for every page until the returned function is called or the connection
   * closes (then `onClose` fires once). A refused subscription (an unknown shard, the
   * connection's feed limit) calls `onError` once and ends it. */
  feed(shard: string | null, fromIndex: number, onPage: (page: FeedPage) => void, onError: (err: RpcError) => void = () => {}): () => void {
    const id = this.#nextId++;
    this.#feeds.set(id, { onPage, onError });
    this.#writer.write(Buffer.from(JSON.stringify(shard === null ? { id, op: 'feed', fromIndex } : { id, op: 'feed', shard, fromIndex })));
    return () => {
      if (!this.#feeds.delete(id) || this.#closed) return;
      this.#writer.write(Buffer.from(JSON.stringify({ id: this.#nextId++, op: 'unfeed', feedId: id })));
    };
  }

  /** Calls `cb` once when the connection fails or is closed (at once if it is); the
   * returned function unsubscribes. */
  onClose(cb: (err: RpcError) => void): () => void {
    if (this.#closed) {
      cb(this.#closed);
      return () => {};
    }
    this.#closeCallbacks.add(cb);
    return () => void this.#closeCallbacks.delete(cb);
  }

  close(): void {
    this.#fail(new RpcError('SHARD_ERR_UNAVAILABLE', 'connection closed by client'));
  }

  /** A response frame; one that is not a response closes the link (the replica is broken). */
  #onFrame(frame: Buffer): void {
    let msg: unknown;
    try {
      msg = JSON.parse(frame.toString('utf8'));
    } catch {
      msg = null;
    }
    if (!isResponse(msg)) {
      this.#fail(new RpcError('SHARD_ERR_UNAVAILABLE', `${this.host}:${this.port} sent a frame that is not a response`));
      return;
    }
    this.#onResponse(msg);
  }

  #onResponse(msg: RpcResponse): void {
    if ('feed' in msg) {
      this.#feeds.get(msg.id)?.onPage(msg.feed);
      return;
    }
    this.#heardAtMs = Date.now();
    const feed = this.#feeds.get(msg.id);
    if (feed !== undefined && !msg.ok) {
      this.#feeds.delete(msg.id);
      feed.onError(toRpcError(msg.error));
      return;
    }
    const p = this.#pending.get(msg.id);
    if (!p) return; // answered after its timeout: the caller has moved on
    this.#pending.delete(msg.id);
    clearTimeout(p.timer);
    if (msg.ok) p.resolve({ result: msg.result, index: msg.index });
    else p.reject(toRpcError(msg.error));
  }

  /** The first request after none waited: silence is judged on the busy scale from now,
   * and a timer armed for the idle scale is brought forward (once per idle spell: while
   * busy, the timer never sleeps longer than the busy scale). */
  #becomeBusy(): void {
    if (this.#keepalive === null) return; // still in the handshake: armed when it ends
    const now = Date.now();
    this.#busySinceMs = now;
    if (this.#keepaliveDueMs > now + this.#busyKeepaliveIdleMs) {
      clearTimeout(this.#keepalive);
      this.#armKeepalive(this.#busyKeepaliveIdleMs);
    }
  }

  #armKeepalive(delayMs: number): void {
    const ms = Math.max(1, delayMs);
    this.#keepaliveDueMs = Date.now() + ms;
    this.#keepalive = setTimeout(() => this.#checkKeepalive(), ms);
    // A client's idle link must not keep its process alive.
    this.#keepalive.unref();
  }

  /** Pings a link without an answer for keepaliveIdleMs (while requests wait:
   * busyKeepaliveIdleMs since they began to wait or since its last answer); destroys one
   * still without an answer keepaliveTimeoutMs (busyKeepaliveTimeoutMs) after its ping. */
  #checkKeepalive(): void {
    if (this.#closed) return;
    const now = Date.now();
    const busy = this.#pending.size > 0;
    if (this.#pingedAtMs !== null && this.#heardAtMs >= this.#pingedAtMs) this.#pingedAtMs = null;
    if (this.#pingedAtMs === null) {
      const dueMs = busy ? Math.max(this.#heardAtMs, this.#busySinceMs) + this.#busyKeepaliveIdleMs : this.#heardAtMs + this.#keepaliveIdleMs;
      if (now < dueMs) return this.#armKeepalive(dueMs - now);
      this.#pingedAtMs = now;
      this.#writer.write(Buffer.from(JSON.stringify({ id: this.#nextId++, op: 'ping' })));
      return this.#armKeepalive(busy ? this.#busyKeepaliveTimeoutMs : this.#keepaliveTimeoutMs);
    }
    const timeoutMs = busy ? this.#busyKeepaliveTimeoutMs : this.#keepaliveTimeoutMs;
    const deadlineMs = this.#pingedAtMs + timeoutMs;
    if (now < deadlineMs) return this.#armKeepalive(deadlineMs - now);
    // Timers run before the poll phase: after a stall of our own event loop, bytes that
    // did arrive are still unread. Judge only once the loop has polled the socket.
    setImmediate(() => {
      if (this.#closed) return;
      if (this.#heardAtMs >= this.#pingedAtMs!) return this.#checkKeepalive();
      const waiting = this.#pending.size > 0 ? `, ${this.#pending.size} request(s) waiting` : '';
      this.#fail(new RpcError('SHARD_ERR_UNAVAILABLE', `${this.host}:${this.port}: no answer within ${timeoutMs} ms of a keepalive ping${waiting} (a silent link: partition or hung peer)`));
    });
  }

  #fail(err: RpcError): void {
    if (this.#closed) return;
    this.#closed = err;
    if (this.#keepalive !== null) clearTimeout(this.#keepalive);
    this.#onFail?.(err);
    for (const p of this.#pending.values()) {
      clearTimeout(p.timer);
      p.reject(err);
    }
    this.#pending.clear();
    this.#feeds.clear();
    this.#socket.destroy();
    const callbacks = [...this.#closeCallbacks];
    this.#closeCallbacks.clear();
    for (const cb of callbacks) cb(err);
  }
}

function isResponse(v: unknown): v is RpcResponse {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const m = v as Record<string, unknown>;
  if (typeof m.id !== 'number') return false;
  if (m.ok === true) return true;
  if (m.ok !== false || typeof m.error !== 'object' || m.error === null) return false;
  const e = m.error as Record<string, unknown>;
  return typeof e.code === 'string' && typeof e.message === 'string' && (e.leaderHint === null || typeof e.leaderHint === 'string');
}

function toRpcError(e: RpcErrorBody): RpcError {
  // A malformed address is dropped, not the answer: the hint alone is still useful. The
  // address itself is checked where it is used (ShardHandle.learn).
  const at = e.leaderAt as { client?: unknown; store?: unknown } | undefined;
  const leaderAt = typeof at === 'object' && at !== null && typeof at.client === 'string' && (at.store === null || typeof at.store === 'string') ? { client: at.client, store: at.store as string | null } : null;
  return new RpcError(carriedCode(e.code), e.message, e.leaderHint, leaderAt);
}
