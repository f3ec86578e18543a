// The shard node's client RPC server: decodes frames, validates each request, hands it to
// the ShardService and writes back exactly one response per request id (a stream of pages
// for `feed`). A malformed frame closes that connection only; the node keeps serving.
import { createServer, type Server, type Socket } from 'node:net';
import { CoalescingFrameWriter, FrameDecoder } from '../../common/framing.js';
import type { Logger } from '../../common/logger.js';
import { decodeProposal } from '../commands.js';
import { carriedCode, type ForeignErrorCode, type ShardRpcErrorCode } from '../errors.js';
import type { Proposal } from '../types.js';
import { rpcConnectionsMax, rpcFrameBytesMax, rpcTimeoutMsDefault, rpcTimeoutMsMax } from '../limits.js';
import type { Consistency, FeedPage, RpcErrorBody, RpcResponse, ShardQuery } from '../rpc/protocol.js';

/** What the RPC server needs from a shard node. Errors thrown carry `code` (and for
 * RAFT_ERR_NOT_LEADER a `leaderHint`), which travel to the client unchanged. */
export interface ShardService {
  /** `data` is the encoded proposal, already validated into `proposal`. */
  propose(proposal: Proposal, data: Uint8Array, timeoutMs: number): Promise<{ result: unknown; index: number }>;
  read(query: ShardQuery, consistency: Consistency, timeoutMs: number): Promise<unknown>;
  feed(fromIndex: number, onPage: (page: FeedPage) => void): () => void;
}

export class ShardRpcServer {
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();

  private constructor(private readonly service: ShardService, private readonly log: Logger) {
    this.#server = createServer((s) => this.#accept(s));
    this.#server.maxConnections = rpcConnectionsMax;
  }

  static async listen(service: ShardService, host: string, port: number, log: Logger): Promise<ShardRpcServer> {
    const s = new ShardRpcServer(service, log);
    await new Promise<void>((resolve, reject) => {
      s.#server.once('error', reject);
      s.#server.listen(port, host, () => resolve());
    });
    return s;
  }

  get port(): number {
    const a = this.#server.address();
    return typeof a === 'object' && a ? a.port : 0;
  }

  async close(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #accept(socket: Socket): void {
    socket.setNoDelay(true);
    this.#sockets.add(socket);
    const decoder = new FrameDecoder(rpcFrameBytesMax);
    const feeds = new Map<number, () => void>();
    const writer = new CoalescingFrameWriter(socket);
    const send = (r: RpcResponse): void => {
      if (!socket.destroyed) writer.write(Buffer.from(JSON.stringify(r)));
    };
    socket.on('data', (chunk) => {
      let frames: Buffer[];
      try {
        frames = decoder.push(chunk);
      } catch (err) {
        this.log.warn('closing client connection: bad frame', { remote: socket.remoteAddress, reason: (err as Error).message });
        socket.destroy();
        return;
      }
      for (const f of frames) this.#handle(f, send, feeds, socket);
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      this.#sockets.delete(socket);
      for (const stop of feeds.values()) stop();
      feeds.clear();
    });
  }

  #handle(frame: Buffer, send: (r: RpcResponse) => void, feeds: Map<number, () => void>, socket: Socket): void {
    let req: Record<string, unknown>;
    try {
      req = JSON.parse(frame.toString('utf8')) as Record<string, unknown>;
    } catch {
      this.log.warn('closing client connection: frame is not JSON', { remote: socket.remoteAddress });
      socket.destroy();
      return;
    }
    const id = typeof req.id === 'number' ? req.id : -1;
    const fail = (code: ShardRpcErrorCode, message: string, leaderHint: string | null = null): void =>
      send({ id, ok: false, error: { code, message, leaderHint } });
    const timeoutMs = typeof req.timeoutMs === 'number' && req.timeoutMs > 0 ? Math.min(req.timeoutMs, rpcTimeoutMsMax) : rpcTimeoutMsDefault;
    switch (req.op) {
      case 'propose': {
        if (typeof req.proposal !== 'string') return fail('SHARD_ERR_BAD_COMMAND', 'proposal must be the encoded proposal text');
        const data = Buffer.from(req.proposal, 'utf8');
        const v = decodeProposal(data);
        if (!v.ok) return fail(v.code, v.reason);
        this.service.propose(v.proposal, data, timeoutMs).then(
          (r) => send({ id, ok: true, result: r.result, index: r.index }),
          (err) => send({ id, ok: false, error: errorBody(err) }),
        );
        return;
      }
      case 'read': {
        const consistency = req.consistency === 'stale' ? 'stale' : 'linearizable';
        this.service.read(req.query as ShardQuery, consistency, timeoutMs).then(
          (result) => send({ id, ok: true, result }),
          (err) => send({ id, ok: false, error: errorBody(err) }),
        );
        return;
      }
      case 'feed': {
        const fromIndex = typeof req.fromIndex === 'number' && req.fromIndex >= 0 ? req.fromIndex : 0;
        feeds.get(id)?.();
        feeds.set(id, this.service.feed(fromIndex, (page) => send({ id, ok: true, feed: page })));
        return;
      }
      case 'unfeed': {
        const feedId = typeof req.feedId === 'number' ? req.feedId : -1;
        feeds.get(feedId)?.();
        feeds.delete(feedId);
        return;
      }
      default:
        return fail('SHARD_ERR_INVALID_COMMAND', `unknown op ${JSON.stringify(req.op)}`);
    }
  }
}

/** The wire form of an error thrown by the service: its code passed on verbatim (a code of
 * neither catalogue included, as a ForeignErrorCode), SHARD_ERR_INTERNAL when it has none. */
export function errorBody(err: unknown): RpcErrorBody & { code: ShardRpcErrorCode | ForeignErrorCode } {
  const e = err as { code?: unknown; message?: unknown; leaderHint?: unknown };
  return {
    code: typeof e.code === 'string' ? carriedCode(e.code) : 'SHARD_ERR_INTERNAL',
    message: typeof e.message === 'string' ? e.message : String(err),
    leaderHint: typeof e.leaderHint === 'string' ? e.leaderHint : null,
  };
}
