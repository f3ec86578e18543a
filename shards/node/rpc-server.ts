// The client RPC server of a shard replica, or of a store (one process hosting one
// replica of many shards: DESIGN.md, multi-raft stores). Each connection first
// authenticates (rpc/auth.ts: the dialer proves knowledge of its principal's key, then the
// replica or store proves its own),
// within an absolute deadline; until then nothing but the handshake is read, in frames of
// at most rpcHandshakeFrameBytesMax, and at most rpcUnauthenticatedConnectionsMax such
// connections are held. Then it decodes request frames, validates each, checks the
// principal may make it (rpc/policy.ts), hands it to the ShardService and writes back
// exactly one response per request id (a stream of pages for `feed`), with digest HA1s
// removed for every principal but a SIP node.
//
// Total over its input: any frame — not JSON, `null`, a number, an array, a field of the
// wrong type, an unknown op, a garbage query — gets an error response or closes that one
// connection; nothing a peer sends can throw out of here. Each connection is bounded: its
// requests in flight and unsent answer bytes (beyond either it is no longer read until
// answers drain), and its feed subscriptions.
//
// Which shard a request is for: its `shard` field (rpc/protocol.ts). A replica's server
// (`service`) takes it absent or equal to its shard; a store's (`services`) requires it.
// A shard the listener does not serve is SHARD_ERR_UNKNOWN_SHARD naming it, never a
// request run on another shard.
//
// Liveness (rpc/protocol.ts): `ping` is answered at once, so a client can tell a silent
// link from an idle one; and each connection with feeds has one timer that sends every
// feed which had no page since the last beat a heartbeat page, saying whether its replica
// hears the shard's leader (the service's Raft status).
import { createServer, type Server, type Socket } from 'node:net';
import { CoalescingFrameWriter, encodeFrame, FrameDecoder } from '../../common/framing.js';
import type { Logger } from '../../common/logger.js';
import type { RaftStatus } from '../../raft/types.js';
import { decodeProposal } from '../commands.js';
import { carriedCode, type ForeignErrorCode, type ShardRpcErrorCode } from '../errors.js';
import type { Proposal } from '../types.js';
import * as limits from '../limits.js';
import {
  computeRpcMac,
  decodeRpcHello,
  decodeRpcProof,
  encodeRpcAccept,
  encodeRpcChallenge,
  encodeRpcRefused,
  newRpcNonce,
  parsePrincipal,
  principalKey,
  rpcMacMatches,
  type Principal,
} from '../rpc/auth.js';
import { commandRefusal, pageWithoutHa1, readWithoutHa1, resultWithoutHa1, seesCredentials } from '../rpc/policy.js';
import { validateQuery, validateShardField, type Consistency, type FeedPage, type LeaderAddress, type RpcErrorBody, type RpcResponse, type ShardQuery } from '../rpc/protocol.js';
import { isPlainObject } from '../validate.js';

const utf8Encoder = new TextEncoder();

/** What the RPC server needs from a shard node. Errors thrown carry `code` (and for
 * RAFT_ERR_NOT_LEADER a `leaderHint`), which travel to the client unchanged. */
export interface ShardService {
  /** The shard this replica belongs to. */
  readonly shardId: string;
  /** `data` is the encoded proposal, already validated into `proposal`. */
  propose(proposal: Proposal, data: Uint8Array, timeoutMs: number): Promise<{ result: unknown; index: number }>;
  read(query: ShardQuery, consistency: Consistency, timeoutMs: number): Promise<unknown>;
  feed(fromIndex: number, onPage: (page: FeedPage) => void): () => void;
  /** The owner of reservation `reservationId` if this replica's state holds it on `dn`. */
  reservationOwner(dn: string, reservationId: string): string | null;
  /** The replica's Raft status, for the feed heartbeat's `leader` (leader known, not
   * failed). A service without it (a test double with no Raft group) reports `leader:
   * true`: nothing says it is cut off. */
  status?(): RaftStatus;
}

/** What the listener serves: one replica (`service`), or a store's replicas, looked up
 * per request by the shard it names (`services`: undefined for a shard the store does not
 * host; it gets hostile ids such as `__proto__`, so a Map lookup, and must not throw). */
export type ShardRpcServices = Readonly<{ service: ShardService; services?: undefined } | { services: (shardId: string) => ShardService | undefined; service?: undefined }>;

export type ShardRpcServerOptions = ShardRpcServices & Readonly<{
  host: string;
  port: number;
  log: Logger;
  /** The cluster's root secret; each principal's key is derived from it (rpc/auth.ts). */
  secret: string;
  /** The listener's RPC identity, which the handshake binds and the client checks: the
   * replica id, or the store id for a store. */
  replicaId: string;
  /** Absolute handshake deadline (default rpcHandshakeTimeoutMs). */
  handshakeTimeoutMs?: number;
  /** Connections held before their handshake completes (default rpcUnauthenticatedConnectionsMax). */
  unauthenticatedMax?: number;
}>;

export type ShardRpcServerStats = { authenticated: number; refused: number; dropped: number };

type Conn = {
  readonly socket: Socket;
  readonly remote: string;
  readonly decoder: FrameDecoder;
  readonly writer: CoalescingFrameWriter;
  readonly listenerNonce: Buffer;
  /** `refused`: the proof failed; the refusal is being written, then the socket closes. */
  phase: 'hello' | 'proof' | 'open' | 'refused';
  principalName: string;
  principal: Principal | null;
  dialerNonce: Buffer | null;
  deadline: NodeJS.Timeout | null;
  /** Counted in #unauthenticated until the handshake completes or the socket closes. */
  countedUnauthenticated: boolean;
  inflight: number;
  paused: boolean;
  readonly feeds: Map<number, Feed>;
  /** Sends heartbeat pages while the connection has feeds (rpcFeedHeartbeatMs). */
  heartbeat: NodeJS.Timeout | null;
};

/** One feed subscription of a connection. */
type Feed = {
  readonly stop: () => void;
  readonly service: ShardService;
  /** The index of the last page sent (the subscription's start before any). */
  index: number;
  /** Whether a page went out since the last heartbeat round. */
  paged: boolean;
};

type Reply = (r: RpcResponse) => void;

export class ShardRpcServer {
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  readonly #keys = new Map<string, Buffer>();
  readonly #opts: ShardRpcServerOptions;
  readonly #handshakeTimeoutMs: number;
  readonly #unauthenticatedMax: number;
  #unauthenticated = 0;
  #lastHandshakeWarnMs = 0;
  #handshakeWarnsSuppressed = 0;
  readonly stats: ShardRpcServerStats = { authenticated: 0, refused: 0, dropped: 0 };

  private constructor(opts: ShardRpcServerOptions) {
    if (opts.secret.length === 0) throw new Error('ShardRpcServer: an empty cluster secret authenticates nobody');
    if ((opts.service === undefined) === (opts.services === undefined)) throw new Error('ShardRpcServer: give either service (one replica) or services (a store), not both or neither');
    this.#opts = opts;
    this.#handshakeTimeoutMs = opts.handshakeTimeoutMs ?? limits.rpcHandshakeTimeoutMs;
    this.#unauthenticatedMax = opts.unauthenticatedMax ?? limits.rpcUnauthenticatedConnectionsMax;
    this.#server = createServer((s) => this.#accept(s));
    this.#server.maxConnections = limits.rpcConnectionsMax;
  }

  /** Authenticated connections open now (a client holds one per replica or store). */
  get connections(): number {
    return this.#sockets.size - this.#unauthenticated;
  }

  static async listen(opts: ShardRpcServerOptions): Promise<ShardRpcServer> {
    const s = new ShardRpcServer(opts);
    await new Promise<void>((resolve, reject) => {
      s.#server.once('error', reject);
      s.#server.listen(opts.port, opts.host, () => {
        s.#server.off('error', reject);
        resolve();
      });
    });
    return s;
  }

  get port(): number {
    const a = this.#server.address();
    return typeof a === 'object' && a ? a.port : 0;
  }

  /** Connections accepted and not yet authenticated, right now. */
  get unauthenticated(): number {
    return this.#unauthenticated;
  }

  async close(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #log(): Logger {
    return this.#opts.log;
  }

  /** Handshake failures are a stranger's to cause; at most one warning a second. */
  #handshakeFailed(c: Conn, reason: string): void {
    this.stats.refused++;
    const now = Date.now();
    if (now - this.#lastHandshakeWarnMs >= 1000) {
      this.#log().warn('shard rpc handshake failed', { remote: c.remote, principal: c.principalName || null, reason, suppressed: this.#handshakeWarnsSuppressed });
      this.#lastHandshakeWarnMs = now;
      this.#handshakeWarnsSuppressed = 0;
    } else {
      this.#handshakeWarnsSuppressed++;
    }
    c.socket.destroy();
  }

  #keyOf(principal: string): Buffer {
    let key = this.#keys.get(principal);
    if (key === undefined) {
      if (this.#keys.size >= limits.rpcPrincipalKeysCachedMax) this.#keys.clear();
      key = principalKey(this.#opts.secret, principal);
      this.#keys.set(principal, key);
    }
    return key;
  }

  #accept(socket: Socket): void {
    socket.on('error', () => {});
    if (this.#unauthenticated >= this.#unauthenticatedMax) {
      this.stats.dropped++;
      socket.destroy();
      return;
    }
    socket.setNoDelay(true);
    this.#sockets.add(socket);
    this.#unauthenticated++;
    const c: Conn = {
      socket,
      remote: `${socket.remoteAddress}:${socket.remotePort}`,
      decoder: new FrameDecoder(limits.rpcHandshakeFrameBytesMax),
      writer: new CoalescingFrameWriter(socket),
      listenerNonce: newRpcNonce(),
      phase: 'hello',
      principalName: '',
      principal: null,
      dialerNonce: null,
      deadline: null,
      countedUnauthenticated: true,
      inflight: 0,
      paused: false,
      feeds: new Map(),
      heartbeat: null,
    };
    // Absolute: counted from the accept, whatever trickles in meanwhile.
    c.deadline = setTimeout(() => this.#handshakeFailed(c, `no handshake within ${this.#handshakeTimeoutMs} ms`), this.#handshakeTimeoutMs);
    socket.on('data', (chunk: Buffer) => {
      c.decoder.feed(chunk);
      this.#pump(c);
    });
    socket.on('drain', () => this.#resumeIfRoom(c));
    socket.on('close', () => {
      this.#sockets.delete(socket);
      if (c.deadline !== null) clearTimeout(c.deadline);
      c.deadline = null;
      this.#uncountUnauthenticated(c);
      for (const f of c.feeds.values()) f.stop();
      c.feeds.clear();
      this.#heartbeatWhileFeeds(c);
    });
  }

  #uncountUnauthenticated(c: Conn): void {
    if (!c.countedUnauthenticated) return;
    c.countedUnauthenticated = false;
    this.#unauthenticated--;
  }

  #blocked(c: Conn): boolean {
    return c.phase === 'open' && (c.inflight >= limits.rpcPendingRequestsPerConnectionMax || c.socket.writableLength > limits.rpcSocketPendingBytesMax);
  }

  /** Handles the complete frames buffered, one at a time, until the connection is blocked. */
  #pump(c: Conn): void {
    for (;;) {
      if (c.socket.destroyed || c.phase === 'refused') return;
      if (this.#blocked(c)) {
        if (!c.paused) {
          c.paused = true;
          c.socket.pause();
        }
        return;
      }
      let frame: Buffer | null;
      try {
        frame = c.decoder.next();
      } catch (err) {
        if (c.phase === 'open') this.#log().warn('closing shard rpc connection: bad frame', { remote: c.remote, principal: c.principalName, reason: (err as Error).message });
        else this.#handshakeFailed(c, (err as Error).message);
        c.socket.destroy();
        return;
      }
      if (frame === null) return;
      try {
        if (c.phase === 'open') this.#request(c, frame);
        else this.#handshake(c, frame);
      } catch (err) {
        // A bug of ours, not the peer's: drop the connection, keep the replica serving.
        this.#log().error('shard rpc: request handling failed', { remote: c.remote, principal: c.principalName, err: (err as Error).stack ?? String(err) });
        c.socket.destroy();
        return;
      }
    }
  }

  #resumeIfRoom(c: Conn): void {
    if (!c.paused || c.socket.destroyed || this.#blocked(c)) return;
    c.paused = false;
    c.socket.resume();
    this.#pump(c);
  }

  #handshake(c: Conn, frame: Buffer): void {
    if (c.phase === 'hello') {
      const hello = decodeRpcHello(frame);
      if (hello === null) return this.#handshakeFailed(c, 'expected a hello');
      c.principalName = hello.principal;
      c.principal = parsePrincipal(hello.principal);
      c.dialerNonce = hello.nonce;
      c.phase = 'proof';
      c.socket.write(encodeFrame(encodeRpcChallenge(this.#opts.replicaId, c.listenerNonce)));
      return;
    }
    const mac = decodeRpcProof(frame);
    if (mac === null) return this.#handshakeFailed(c, 'expected a proof');
    const key = this.#keyOf(c.principalName);
    const input = { principal: c.principalName, listenerId: this.#opts.replicaId, dialerNonce: c.dialerNonce!, listenerNonce: c.listenerNonce };
    if (!rpcMacMatches(key, { ...input, role: 'dialer' }, mac)) {
      // A code and nothing else (no MAC), then close.
      this.stats.refused++;
      this.#log().warn('shard rpc: dialer failed authentication (wrong cluster secret?)', { remote: c.remote, principal: c.principalName });
      c.phase = 'refused';
      c.socket.pause();
      c.socket.write(encodeFrame(encodeRpcRefused('SHARD_ERR_UNAUTHENTICATED', `${c.principalName} failed authentication`)), () => c.socket.destroy());
      return;
    }
    c.phase = 'open';
    this.stats.authenticated++;
    if (c.deadline !== null) clearTimeout(c.deadline);
    c.deadline = null;
    this.#uncountUnauthenticated(c);
    c.decoder.frameBytesMax = limits.rpcRequestFrameBytesMax;
    c.socket.write(encodeFrame(encodeRpcAccept(computeRpcMac(key, { ...input, role: 'listener' }))));
  }

  /** The service a request's `shard` field names on this listener, or the error to answer. */
  #serviceFor(shard: unknown): { service: ShardService } | { code: ShardRpcErrorCode; message: string } {
    const v = validateShardField(shard);
    if (!v.ok) return { code: 'SHARD_ERR_INVALID_COMMAND', message: v.reason };
    const named = v.shard === null ? '' : JSON.stringify(v.shard);
    const { service, services, replicaId } = this.#opts;
    if (service !== undefined) {
      if (v.shard === null || v.shard === service.shardId) return { service };
      return { code: 'SHARD_ERR_UNKNOWN_SHARD', message: `replica ${replicaId} serves shard ${JSON.stringify(service.shardId)}, not ${named}` };
    }
    if (v.shard === null) return { code: 'SHARD_ERR_INVALID_COMMAND', message: `shard is required: ${replicaId} is a store hosting many shards` };
    const found = services!(v.shard);
    if (found === undefined) return { code: 'SHARD_ERR_UNKNOWN_SHARD', message: `store ${replicaId} hosts no replica of shard ${named}` };
    return { service: found };
  }

  #send(c: Conn, r: RpcResponse): void {
    if (c.socket.destroyed) return;
    c.writer.write(Buffer.from(JSON.stringify(r)));
    if (c.socket.writableLength > limits.rpcSocketPendingBytesHardMax) {
      this.#log().warn('closing shard rpc connection: the client does not read its answers', { remote: c.remote, principal: c.principalName, pendingBytes: c.socket.writableLength });
      c.socket.destroy();
    }
  }

  /** Runs the connection's heartbeat timer while it has feeds and is open, and only then. */
  #heartbeatWhileFeeds(c: Conn): void {
    const wanted = c.feeds.size > 0 && !c.socket.destroyed;
    if (wanted && c.heartbeat === null) {
      c.heartbeat = setInterval(() => this.#beat(c), limits.rpcFeedHeartbeatMs);
      c.heartbeat.unref();
    } else if (!wanted && c.heartbeat !== null) {
      clearInterval(c.heartbeat);
      c.heartbeat = null;
    }
  }

  /** One heartbeat round: a heartbeat page to each feed that had no page since the last. */
  #beat(c: Conn): void {
    if (c.socket.destroyed) return this.#heartbeatWhileFeeds(c);
    // One status per service per round: a store's link may carry hundreds of feeds.
    const leaderOf = new Map<ShardService, boolean>();
    for (const [id, f] of c.feeds) {
      if (f.paged) {
        f.paged = false;
        continue;
      }
      let leader = leaderOf.get(f.service);
      if (leader === undefined) {
        leader = hearsLeader(f.service);
        leaderOf.set(f.service, leader);
      }
      this.#send(c, { id, ok: true, feed: { changes: [], truncated: false, index: f.index, leader } });
    }
  }

  #request(c: Conn, frame: Buffer): void {
    const principal = c.principal!;
    let req: unknown;
    try {
      req = JSON.parse(frame.toString('utf8'));
    } catch {
      return this.#send(c, failure(-1, 'SHARD_ERR_INVALID_COMMAND', 'the frame is not JSON'));
    }
    if (!isPlainObject(req)) return this.#send(c, failure(-1, 'SHARD_ERR_INVALID_COMMAND', 'a request is a JSON object'));
    const id = req.id;
    if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 0) {
      return this.#send(c, failure(-1, 'SHARD_ERR_INVALID_COMMAND', 'request id must be a non-negative integer'));
    }
    const fail = (code: ShardRpcErrorCode, message: string): void => this.#send(c, failure(id, code, message));
    let timeoutMs = limits.rpcTimeoutMsDefault;
    if (req.timeoutMs !== undefined) {
      if (typeof req.timeoutMs !== 'number' || !Number.isFinite(req.timeoutMs) || req.timeoutMs <= 0) return fail('SHARD_ERR_INVALID_COMMAND', 'timeoutMs must be a positive number');
      timeoutMs = Math.min(req.timeoutMs, limits.rpcTimeoutMsMax);
    }
    const redact = !seesCredentials(principal);
    const answered = (): void => {
      c.inflight--;
      this.#resumeIfRoom(c);
    };
    const target = (): ShardService | null => {
      const found = this.#serviceFor(req.shard);
      if ('service' in found) return found.service;
      fail(found.code, found.message);
      return null;
    };
    switch (req.op) {
      case 'propose': {
        const service = target();
        if (service === null) return;
        if (typeof req.proposal !== 'string') return fail('SHARD_ERR_BAD_COMMAND', 'proposal must be the encoded proposal text');
        // Its own exact-size bytes, not a slice of Node's buffer pool: the entry keeps them
        // in memory until a snapshot (RaftGroup.propose would copy a slice).
        const data = utf8Encoder.encode(req.proposal);
        const v = decodeProposal(data);
        if (!v.ok) return fail(v.code, v.reason);
        const refusal = commandRefusal(principal, v.proposal.command, (dn, rid) => service.reservationOwner(dn, rid));
        if (refusal !== null) return fail('SHARD_ERR_FORBIDDEN', `${c.principalName}: ${refusal}`);
        c.inflight++;
        promised(() => service.propose(v.proposal, data, timeoutMs)).then(
          (r) => this.#send(c, { id, ok: true, result: redact ? resultWithoutHa1(r.result) : r.result, index: r.index }),
          (err) => this.#send(c, { id, ok: false, error: errorBody(err) }),
        ).finally(answered);
        return;
      }
      case 'read': {
        const service = target();
        if (service === null) return;
        const q = validateQuery(req.query);
        if (!q.ok) return fail('SHARD_ERR_INVALID_COMMAND', q.reason);
        const consistency = req.consistency ?? 'linearizable';
        if (consistency !== 'linearizable' && consistency !== 'stale') return fail('SHARD_ERR_INVALID_COMMAND', 'consistency must be linearizable or stale');
        c.inflight++;
        promised(() => service.read(q.query, consistency, timeoutMs)).then(
          (result) => this.#send(c, { id, ok: true, result: redact ? readWithoutHa1(result) : result }),
          (err) => this.#send(c, { id, ok: false, error: errorBody(err) }),
        ).finally(answered);
        return;
      }
      case 'feed': {
        const service = target();
        if (service === null) return;
        const fromIndex = req.fromIndex ?? 0;
        if (typeof fromIndex !== 'number' || !Number.isSafeInteger(fromIndex) || fromIndex < 0) return fail('SHARD_ERR_INVALID_COMMAND', 'fromIndex must be a non-negative integer');
        const previous = c.feeds.get(id);
        if (previous === undefined && c.feeds.size >= limits.rpcFeedsPerConnectionMax) {
          return fail('SHARD_ERR_RPC_LIMIT', `a connection follows at most ${limits.rpcFeedsPerConnectionMax} feeds`);
        }
        previous?.stop();
        c.feeds.delete(id);
        // The service may page synchronously inside feed(), before `stop` exists.
        const sub: Omit<Feed, 'stop'> & { stop?: () => void } = { service, index: fromIndex, paged: false };
        const onPage = (page: FeedPage): void => {
          sub.index = page.index;
          sub.paged = true;
          this.#send(c, { id, ok: true, feed: redact ? pageWithoutHa1(page) : page });
        };
        sub.stop = service.feed(fromIndex, onPage);
        c.feeds.set(id, sub as Feed);
        this.#heartbeatWhileFeeds(c);
        return;
      }
      case 'unfeed': {
        const feedId = req.feedId;
        if (typeof feedId !== 'number') return fail('SHARD_ERR_INVALID_COMMAND', 'feedId must be a number');
        c.feeds.get(feedId)?.stop();
        c.feeds.delete(feedId);
        this.#heartbeatWhileFeeds(c);
        return;
      }
      case 'ping':
        // Total like every op: only {id, op}; anything more is refused, not ignored.
        if (Object.keys(req).length !== 2) return fail('SHARD_ERR_INVALID_COMMAND', 'a ping is {id, op} and nothing else');
        return this.#send(c, { id, ok: true, result: null });
      default:
        return fail('SHARD_ERR_INVALID_COMMAND', `unknown op ${typeof req.op === 'string' ? JSON.stringify(req.op.slice(0, 64)) : `of type ${req.op === null ? 'null' : typeof req.op}`}`);
    }
  }
}

/** Whether the replica behind `service` hears its shard's leader (see ShardService.status). */
function hearsLeader(service: ShardService): boolean {
  if (service.status === undefined) return true;
  try {
    const s = service.status();
    return s.leader !== null && s.failed === null;
  } catch {
    // A closed group: nothing to follow there.
    return false;
  }
}

/** `f()`'s promise; a synchronous throw becomes a rejection. */
function promised<T>(f: () => Promise<T>): Promise<T> {
  try {
    return f();
  } catch (err) {
    return Promise.reject(err);
  }
}

function failure(id: number, code: ShardRpcErrorCode, message: string): RpcResponse {
  return { id, ok: false, error: { code, message, leaderHint: null } };
}

/** The wire form of an error thrown by the service: its code passed on verbatim (a code of
 * neither catalogue included, as a ForeignErrorCode), SHARD_ERR_INTERNAL when it has none. */
export function errorBody(err: unknown): RpcErrorBody & { code: ShardRpcErrorCode | ForeignErrorCode } {
  const e = (typeof err === 'object' && err !== null ? err : {}) as { code?: unknown; message?: unknown; leaderHint?: unknown; leaderAt?: LeaderAddress };
  return {
    code: typeof e.code === 'string' ? carriedCode(e.code) : 'SHARD_ERR_INTERNAL',
    message: typeof e.message === 'string' ? e.message : String(err),
    leaderHint: typeof e.leaderHint === 'string' ? e.leaderHint : null,
    ...(e.leaderAt !== undefined ? { leaderAt: e.leaderAt } : {}),
  };
}
