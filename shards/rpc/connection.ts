// One client connection to one shard replica: multiplexes requests by id over a TCP
// socket, times each out on its own, and fails every pending request at once when the
// socket dies, so the shard client can move to another replica without waiting.
import { connect, type Socket } from 'node:net';
import { CoalescingFrameWriter, FrameDecoder } from '../../common/framing.js';
import { carriedCode, type ForeignErrorCode, type ShardRpcErrorCode } from '../errors.js';
import { rpcConnectTimeoutMsDefault, rpcFrameBytesMax } from '../limits.js';
import type { FeedPage, RpcErrorBody, RpcRequest, RpcResponse } from './protocol.js';

/** A failed RPC: the replica's own typed error (a shard or Raft code, see shards/errors.ts),
 * or SHARD_ERR_TIMEOUT / SHARD_ERR_UNAVAILABLE raised here. */
export class RpcError extends Error {
  constructor(
    readonly code: ShardRpcErrorCode | ForeignErrorCode,
    message: string,
    readonly leaderHint: string | null = null,
  ) {
    super(message);
  }
}

type Pending = { resolve: (r: { result: unknown; index?: number }) => void; reject: (e: RpcError) => void; timer: NodeJS.Timeout };

// Distributes Omit over the union so each request variant keeps its own fields.
type WithoutId<T> = T extends unknown ? Omit<T, 'id'> : never;

export class RpcConnection {
  readonly #socket: Socket;
  readonly #writer: CoalescingFrameWriter;
  readonly #pending = new Map<number, Pending>();
  readonly #feeds = new Map<number, (page: FeedPage) => void>();
  #nextId = 1;
  #closed: RpcError | null = null;
  readonly #ready: Promise<void>;

  private constructor(readonly host: string, readonly port: number, connectTimeoutMs: number) {
    this.#socket = connect({ host, port, noDelay: true });
    this.#writer = new CoalescingFrameWriter(this.#socket);
    const decoder = new FrameDecoder(rpcFrameBytesMax);
    this.#ready = new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#fail(new RpcError('SHARD_ERR_UNAVAILABLE', `connect to ${host}:${port} timed out`));
        reject(this.#closed);
      }, connectTimeoutMs);
      this.#socket.once('connect', () => {
        clearTimeout(timer);
        resolve();
      });
      this.#socket.once('error', (err) => {
        clearTimeout(timer);
        reject(new RpcError('SHARD_ERR_UNAVAILABLE', `${host}:${port}: ${err.message}`));
      });
    });
    this.#socket.on('data', (chunk) => {
      let frames: Buffer[];
      try {
        frames = decoder.push(chunk);
      } catch (err) {
        this.#fail(new RpcError('SHARD_ERR_UNAVAILABLE', `bad frame from ${host}:${port}: ${(err as Error).message}`));
        return;
      }
      for (const f of frames) this.#onResponse(JSON.parse(f.toString('utf8')) as RpcResponse);
    });
    this.#socket.on('error', (err) => this.#fail(new RpcError('SHARD_ERR_UNAVAILABLE', `${host}:${port}: ${err.message}`)));
    this.#socket.on('close', () => this.#fail(new RpcError('SHARD_ERR_UNAVAILABLE', `${host}:${port}: connection closed`)));
  }

  static async open(host: string, port: number, connectTimeoutMs = rpcConnectTimeoutMsDefault): Promise<RpcConnection> {
    const c = new RpcConnection(host, port, connectTimeoutMs);
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
      this.#pending.set(id, { resolve, reject, timer });
      this.#writer.write(Buffer.from(JSON.stringify({ ...body, id })));
    });
  }

  /** Subscribes to the change feed; `onPage` is called for every page until the returned
   * function is called or the connection closes (then `onClose` fires once). */
  feed(fromIndex: number, onPage: (page: FeedPage) => void): () => void {
    const id = this.#nextId++;
    this.#feeds.set(id, onPage);
    this.#writer.write(Buffer.from(JSON.stringify({ id, op: 'feed', fromIndex })));
    return () => {
      if (!this.#feeds.delete(id) || this.#closed) return;
      this.#writer.write(Buffer.from(JSON.stringify({ id: this.#nextId++, op: 'unfeed', feedId: id })));
    };
  }

  onClose(cb: (err: RpcError) => void): void {
    if (this.#closed) cb(this.#closed);
    else this.#socket.once('close', () => cb(this.#closed ?? new RpcError('SHARD_ERR_UNAVAILABLE', 'closed')));
  }

  close(): void {
    this.#fail(new RpcError('SHARD_ERR_UNAVAILABLE', 'connection closed by client'));
  }

  #onResponse(msg: RpcResponse): void {
    if ('feed' in msg) {
      this.#feeds.get(msg.id)?.(msg.feed);
      return;
    }
    const p = this.#pending.get(msg.id);
    if (!p) return; // answered after its timeout: the caller has moved on
    this.#pending.delete(msg.id);
    clearTimeout(p.timer);
    if (msg.ok) p.resolve({ result: msg.result, index: msg.index });
    else p.reject(toRpcError(msg.error));
  }

  #fail(err: RpcError): void {
    if (this.#closed) return;
    this.#closed = err;
    for (const p of this.#pending.values()) {
      clearTimeout(p.timer);
      p.reject(err);
    }
    this.#pending.clear();
    this.#feeds.clear();
    this.#socket.destroy();
  }
}

function toRpcError(e: RpcErrorBody): RpcError {
  return new RpcError(carriedCode(e.code), e.message, e.leaderHint);
}
