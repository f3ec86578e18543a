// The shard client: finds the shard that owns a DN (`shardOf`), keeps a cached leader per
// shard, follows NotLeader hints, moves on to other replicas on timeouts, and retries a command with the SAME session and request number until the
// caller's deadline — the shard's session table makes the retry exactly-once. A session
// the shard evicted is dropped and replaced; see #resendAfterSessionLoss for which
// commands are then sent again.
//
// Ownership: every proposal carries the version of the shard map the client routes by. A
// shard whose replicated map differs (or that does not own the DN under it) refuses with
// SHARD_ERR_MAP_VERSION / SHARD_ERR_WRONG_SHARD and its map; command() adopts that map,
// forgets its cached owners, and sends a new request to the owner it now computes, within
// the same deadline. A shard the adopted map names but the topology cannot reach gives
// SHARD_ERR_UNKNOWN_SHARD: a client with a stale file is refused, never granted twice.
//
// Connections: one per RPC listener, keyed by its identity (`replica.store ?? replica.id`)
// and address, shared by every shard that listener serves; each request names its shard.
// A client of 100 shards on 3 stores holds 3 connections, not 300. A link that fails marks
// the listener down for replicaDownMs: on a store, every replica it hosts at once.
// A NotLeader hint still names a replica, whose link is its store's.
//
// A command that runs out of deadline throws ShardClientError with `maybeApplied: true`:
// the outcome is unknown (it may still commit), which is what a history checker records
// as `info`. Denials (`{ok: false}` results) are definite answers and are returned.
import { setTimeout as sleep } from 'node:timers/promises';
import { hostPortOf, type HostPort } from '../../common/config.js';
import type { RaftStatus } from '../../raft/types.js';
import { checkRaftAddress, encodeProposal } from '../commands.js';
import {
  clientAttemptTimeoutMsDefault,
  clientDeadlineMsDefault,
  clientFeedLeaderlessMsMax,
  clientFeedSilenceMsMax,
  clientMapRedirectsMax,
  clientOwnerCacheEntriesMax,
  clientReplicaDownMs,
  clientSessionsPerShardMax,
  clientSessionWindowMax,
  clientStatusTimeoutMsDefault,
  shardClientReplicasMax,
} from '../limits.js';
import { carriedCode, isRetryable, type ForeignErrorCode, type ShardRpcErrorCode } from '../errors.js';
import { shardMapVersion, shardOf } from '../shard-map.js';
import type { Command, Proposal, ShardResult } from '../types.js';
import { parsePrincipal } from '../rpc/auth.js';
import { RpcConnection, RpcError } from '../rpc/connection.js';
import type { Consistency, FeedPage, LeaderAddress, ShardQuery } from '../rpc/protocol.js';

/** One replica as the client reaches it: its client RPC address, and the store hosting it
 * (absent: a replica that is a process of its own). */
export type ShardReplicaAddress = Readonly<{ id: string; client: HostPort; store?: string }>;
export type ShardTopology = readonly Readonly<{ id: string; replicas: readonly ShardReplicaAddress[] }>[];

/** Who a shard client authenticates as on every replica link (rpc/auth.ts). */
export type ShardClientAuth = Readonly<{
  /** The cluster's root secret (`secret:` of the cluster file). */
  secret: string;
  /** `sip:<node id>` for a SIP node, `admin` for the admin REST, `replica:<id>` for a
   * replica's own reads, `store:<id>` for a store's, `launcher` for npm start, tests and
   * benches (rpc/policy.ts says what each may do). */
  principal: string;
}>;

export type ShardClientOptions = Readonly<{
  shards: ShardTopology;
  auth: ShardClientAuth;
  /** One attempt against one replica. */
  attemptTimeoutMs?: number;
  /** Default overall deadline of a call, retries included. */
  deadlineMs?: number;
  /** How long a replica (on a store: every replica of the store) whose link failed is
   * skipped; default clientReplicaDownMs. */
  replicaDownMs?: number;
  /** The shard list DNs are hashed over until a shard answers with its replicated map;
   * default: the topology's shard ids. (Tests of configuration skew give a stale one.) */
  shardIds?: readonly string[];
}>;

/** A call that failed without a shard answer: a shards/errors.ts transport code, the
 * replica's shard or Raft code, or a foreign code carried on from a non-RPC failure. */
export class ShardClientError extends Error {
  constructor(
    readonly code: ShardRpcErrorCode | ForeignErrorCode,
    message: string,
    /** True when the command may have been applied (its outcome is unknown). */
    readonly maybeApplied: boolean,
  ) {
    super(message);
  }
}

/** The code a failure is reported with: its own `code` as is, else SHARD_ERR_INTERNAL. */
function codeOf(err: unknown): ShardRpcErrorCode | ForeignErrorCode {
  const code = (err as { code?: unknown }).code;
  return code === undefined || code === null ? 'SHARD_ERR_INTERNAL' : carriedCode(code as string);
}

type Session = { clientId: string; nextSeq: number; outstanding: Set<number> };

/** Commands whose second run leaves the shard as the first did (see the session-loss rule). */
const idempotentOnShard: ReadonlySet<Command['type']> = new Set(['confirm', 'release', 'expire', 'register', 'unregister', 'renewLease', 'releaseByOwner', 'expireLease']);

/** The key of the connection that reaches `r`: the listener's identity and address. */
function linkKey(r: ShardReplicaAddress): string {
  return `${r.store ?? r.id} ${r.client.host}:${r.client.port}`;
}

/** The client's connections, one per listener (a replica, or a store for all it hosts). */
class Links {
  readonly conns = new Map<string, Promise<RpcConnection>>();
  /** Listeners whose connection failed recently, until when (ms since epoch). */
  readonly downUntil = new Map<string, number>();

  isDown(key: string): boolean {
    return (this.downUntil.get(key) ?? 0) > Date.now();
  }
}

class ShardHandle {
  leader: string | null = null;
  readonly sessions: Session[] = [];
  opening: Promise<Session> | null = null;
  readonly replicas: ShardReplicaAddress[];
  constructor(readonly id: string, replicas: readonly ShardReplicaAddress[], readonly links: Links) {
    this.replicas = [...replicas];
  }

  replica(id: string): ShardReplicaAddress | undefined {
    return this.replicas.find((r) => r.id === id);
  }

  /** A member the shard placed after this client's topology was written, as a replica
   * named it leader (RpcError.leaderAt): reachable from now on. Bounded, since each
   * entry is one more replica to cycle through. */
  learn(id: string, at: LeaderAddress): boolean {
    if (this.replica(id) !== undefined || this.replicas.length >= shardClientReplicasMax) return false;
    if (checkRaftAddress(at.client, 'leaderAt.client') !== null) return false;
    this.replicas.push({ id, client: hostPortOf(at.client)!, ...(at.store !== null ? { store: at.store } : {}) });
    return true;
  }

  markDown(id: string, untilMs: number): void {
    const r = this.replica(id);
    if (r !== undefined) this.links.downUntil.set(linkKey(r), untilMs);
  }

  replicaAfter(id: string | null): string {
    const i = this.replicas.findIndex((r) => r.id === id);
    return this.replicas[(i + 1) % this.replicas.length]!.id;
  }

  isDown(id: string): boolean {
    const r = this.replica(id);
    return r !== undefined && this.links.isDown(linkKey(r));
  }

  /** The next replica after `id` not known to be down (or simply the next if all are). */
  nextLive(id: string): string {
    let candidate = this.replicaAfter(id);
    for (let i = 0; i < this.replicas.length && this.isDown(candidate); i++) candidate = this.replicaAfter(candidate);
    return candidate;
  }
}

function oldestOutstanding(s: Session): number {
  let oldest = s.nextSeq;
  for (const seq of s.outstanding) if (seq < oldest) oldest = seq;
  return oldest;
}

export class ShardClient {
  readonly #shards = new Map<string, ShardHandle>();
  readonly #links = new Links();
  /** The topology's shard ids: the shards this client can reach. */
  readonly #topologyIds: readonly string[];
  /** The list DNs are hashed over (shardOf), and its version. */
  #shardIds: readonly string[];
  #mapVersion: number;
  /** DN → owning shard under #shardIds (cleared when a shard's answer changes the map):
   * hashing the DN against every shard on each command was 4% of a loaded SIP node's CPU. */
  readonly #ownerOf = new Map<string, string>();
  readonly #attemptTimeoutMs: number;
  readonly #deadlineMs: number;
  readonly #replicaDownMs: number;
  readonly #auth: ShardClientAuth;
  #closed = false;

  constructor(opts: ShardClientOptions) {
    if (opts.auth.secret.length === 0) throw new TypeError('ShardClient: an empty cluster secret authenticates nobody');
    if (parsePrincipal(opts.auth.principal) === null) throw new TypeError(`ShardClient: ${JSON.stringify(opts.auth.principal)} is not a principal (sip:<id>, replica:<id>, store:<id>, admin, launcher)`);
    this.#auth = opts.auth;
    for (const s of opts.shards) this.#shards.set(s.id, new ShardHandle(s.id, s.replicas, this.#links));
    this.#topologyIds = opts.shards.map((s) => s.id);
    this.#shardIds = [...(opts.shardIds ?? this.#topologyIds)];
    this.#mapVersion = shardMapVersion(this.#shardIds);
    this.#attemptTimeoutMs = opts.attemptTimeoutMs ?? clientAttemptTimeoutMsDefault;
    this.#deadlineMs = opts.deadlineMs ?? clientDeadlineMsDefault;
    this.#replicaDownMs = opts.replicaDownMs ?? clientReplicaDownMs;
  }

  /** Every shard of the topology (what a lease keeper renews on). */
  get shardIds(): readonly string[] {
    return this.#topologyIds;
  }

  /** The shard list DNs are routed by: the topology's, until a shard's refusal brings its
   * replicated map. */
  get routingShardIds(): readonly string[] {
    return this.#shardIds;
  }

  /** The version of the shard map this client routes by (shardMapVersion of shardIds). */
  get mapVersion(): number {
    return this.#mapVersion;
  }

  shardFor(dn: string): string {
    const known = this.#ownerOf.get(dn);
    if (known !== undefined) return known;
    const owner = shardOf(dn, this.#shardIds);
    // Bounded: cleared when full rather than tracking recency (DNs are few in practice).
    if (this.#ownerOf.size >= clientOwnerCacheEntriesMax) this.#ownerOf.clear();
    this.#ownerOf.set(dn, owner);
    return owner;
  }

  /** Which replica this client last found leading the shard (null when unknown). */
  cachedLeader(shardId: string): string | null {
    return this.#handle(shardId).leader;
  }

  /** Runs a command on the shard owning `dn`, following the shards' replicated map when
   * it differs from this client's (see the header). */
  async command(dn: string, command: Command, opts: { deadlineMs?: number } = {}): Promise<ShardResult> {
    const deadline = Date.now() + (opts.deadlineMs ?? this.#deadlineMs);
    for (let redirects = 0; ; redirects++) {
      const sentVersion = this.#mapVersion;
      const result = await this.commandOnShard(this.shardFor(dn), command, { deadlineMs: Math.max(1, deadline - Date.now()) });
      if (result.ok || (result.code !== 'SHARD_ERR_WRONG_SHARD' && result.code !== 'SHARD_ERR_MAP_VERSION') || result.shardMap === undefined) return result;
      this.#adoptMap(result.shardMap.shardIds);
      // Retry only when the map changed since this request was routed: a WRONG_SHARD under
      // the very map the shard holds means the shards' own maps disagree.
      if (this.#mapVersion === sentVersion || redirects >= clientMapRedirectsMax || Date.now() >= deadline) return result;
    }
  }

  /** Routes by `shardIds` from now on (a shard's replicated map), forgetting cached owners. */
  #adoptMap(shardIds: readonly string[]): void {
    const version = shardMapVersion(shardIds);
    if (version === this.#mapVersion) return;
    this.#shardIds = [...shardIds];
    this.#mapVersion = version;
    this.#ownerOf.clear();
  }

  async commandOnShard(shardId: string, command: Command, opts: { deadlineMs?: number } = {}): Promise<ShardResult> {
    const h = this.#handle(shardId);
    const deadline = Date.now() + (opts.deadlineMs ?? this.#deadlineMs);
    for (;;) {
      const { result, session } = await this.#commandInSession(h, command, deadline);
      if (!this.#resendAfterSessionLoss(h, command, result, session, deadline)) return result;
    }
  }

  async #commandInSession(h: ShardHandle, command: Command, deadline: number): Promise<{ result: ShardResult; session: Session }> {
    const { session, seq } = await this.#session(h, deadline);
    try {
      const ackedSeq = oldestOutstanding(session) - 1;
      const proposal: Proposal = { session: { clientId: session.clientId, requestSeq: seq, ackedSeq }, command, mapVersion: this.#mapVersion };
      return { result: (await this.#propose(h, proposal, deadline)) as ShardResult, session };
    } finally {
      session.outstanding.delete(seq);
    }
  }

  /**
   * The session-loss rule. A shard evicts a session (its table is full, or the session
   * idled out) and answers the session's next request SHARD_ERR_SESSION_EXPIRED: the
   * request did not run now, but an earlier attempt of it (a retry after a timeout) may
   * have, and its result is gone. The session is dead for every later request too, so it
   * is dropped here and the next command opens a fresh one. Then:
   *   - a command that is idempotent on the shard (running it twice leaves the state it
   *     leaves once: confirm, release, expire, register, unregister, renewLease,
   *     releaseByOwner, expireLease) is sent again in a new session, until the deadline;
   *   - any other command (reserve above all) is NOT re-run: the SESSION_EXPIRED answer
   *     goes back to the caller, who must treat the outcome as unknown — a reserve may
   *     have granted, and that grant ends by its TTL or its owner's lease.
   * Exactly-once thus holds per session, and nothing non-idempotent runs twice.
   * Returns true when the command should be sent again.
   */
  #resendAfterSessionLoss(h: ShardHandle, command: Command, r: ShardResult, lost: Session, deadline: number): boolean {
    if (r.ok || r.code !== 'SHARD_ERR_SESSION_EXPIRED') return false;
    const i = h.sessions.indexOf(lost);
    if (i >= 0) h.sessions.splice(i, 1);
    return idempotentOnShard.has(command.type) && Date.now() < deadline && !this.#closed;
  }

  async read(shardId: string, query: ShardQuery, consistency: Consistency = 'linearizable', opts: { deadlineMs?: number } = {}): Promise<unknown> {
    const h = this.#handle(shardId);
    const deadline = Date.now() + (opts.deadlineMs ?? this.#deadlineMs);
    // A stale read may go to any replica; a linearizable one is cheapest on the leader.
    return this.#withRetries(h, deadline, false, async (conn, timeoutMs) => (await conn.request({ op: 'read', shard: h.id, query, consistency, timeoutMs }, timeoutMs)).result);
  }

  /** Reads a replica's own status (not forwarded to the leader). */
  async replicaStatus(shardId: string, replicaId: string, timeoutMs = clientStatusTimeoutMsDefault): Promise<unknown> {
    const conn = await this.#conn(this.#handle(shardId), replicaId);
    return (await conn.request({ op: 'read', shard: shardId, query: { type: 'status' }, consistency: 'stale', timeoutMs }, timeoutMs)).result;
  }

  /** One round of asking replicas (default: all of the shard's) for their own status: the
   * one that says it leads, in the highest term among those that do; null if none does.
   * A replica that does not answer within `timeoutMs` is left out. */
  async leaderStatus(shardId: string, replicaIds?: readonly string[], timeoutMs = clientStatusTimeoutMsDefault): Promise<RaftStatus | null> {
    const ids = replicaIds ?? this.#handle(shardId).replicas.map((r) => r.id);
    const statuses = await Promise.all(ids.map((id) => this.replicaStatus(shardId, id, timeoutMs).then((s) => s as RaftStatus, () => null)));
    const leaders = statuses.filter((s): s is RaftStatus => s !== null && s.role === 'leader');
    return leaders.length === 0 ? null : leaders.reduce((a, b) => (b.term > a.term ? b : a));
  }

  /** Follows a shard's change feed from `fromIndex`; moves to another replica and resumes
   * from the last index seen when the followed one fails: its link dies (closed, or
   * silent past its keepalive), it refuses the feed, its heartbeats say it has heard no
   * leader for clientFeedLeaderlessMsMax (connected, but cut off from its quorum: it
   * would send nothing new), or no page at all comes for clientFeedSilenceMsMax.
   * Heartbeat pages (`leader` set, no changes) are not passed to `onPage`. `onLive` is
   * called on every page that shows the followed replica current: one with changes, or a
   * heartbeat saying it hears its leader (a reader that has had none for a while knows its
   * view may be behind, though the feed has not moved on yet). `onLost` is called each
   * time the followed replica is given up (for any of the reasons above, not when the
   * caller stops): until the next replica shows itself current, the reader's view may
   * miss what was committed meanwhile, and unlike a quiet feed it knows so at once.
   * Returns a function that stops it. */
  follow(shardId: string, fromIndex: number, onPage: (page: FeedPage) => void, onLive?: () => void, onLost?: () => void): () => void {
    const h = this.#handle(shardId);
    let stopped = false;
    let index = fromIndex;
    let stopCurrent: (() => void) | null = null;
    let replica = h.leader ?? h.replicas[0]!.id;
    if (h.isDown(replica)) replica = h.nextLive(replica);
    const run = async (): Promise<void> => {
      while (!stopped && !this.#closed) {
        let linkFailed = false;
        try {
          const conn = await this.#conn(h, replica);
          if (stopped) return;
          linkFailed = await this.#followOn(conn, h.id, () => index, (page) => {
            index = Math.max(index, page.index);
            onPage(page);
          }, (stop) => (stopCurrent = stop), onLive);
        } catch {
          linkFailed = true;
        }
        if (stopped) return;
        onLost?.();
        // A link that failed is its store's: the replicas it hosts are skipped for a while
        // (as a failed request marks them), so the feed does not dial back into a cut.
        if (linkFailed) h.markDown(replica, Date.now() + this.#replicaDownMs);
        replica = h.nextLive(replica);
        await sleep(100);
      }
    };
    void run();
    return () => {
      stopped = true;
      stopCurrent?.();
    };
  }

  /** One subscription of follow() on `conn`, until the link fails (resolves true), or
   * the feed is refused, its replica hears no leader too long, it goes silent, or the
   * caller stops (false). */
  #followOn(conn: RpcConnection, shardId: string, from: () => number, onPage: (page: FeedPage) => void, setStop: (stop: () => void) => void, onLive: (() => void) | undefined): Promise<boolean> {
    if (conn.closed) return Promise.resolve(true);
    return new Promise<boolean>((resolve) => {
      let pagedAtMs = Date.now();
      let leaderlessSinceMs: number | null = null;
      const end = (linkFailed: boolean): void => {
        clearInterval(watch);
        stopFeed();
        offClose();
        resolve(linkFailed);
      };
      const offClose = conn.onClose(() => end(true));
      const stopFeed = conn.feed(shardId, from(), (page) => {
        pagedAtMs = Date.now();
        if (page.leader === undefined) {
          onPage(page);
          return onLive?.();
        }
        if (page.leader) {
          leaderlessSinceMs = null;
          onLive?.();
        } else if (leaderlessSinceMs === null) leaderlessSinceMs = pagedAtMs;
        else if (pagedAtMs - leaderlessSinceMs >= clientFeedLeaderlessMsMax) end(false);
      }, () => end(false));
      // Ticks the silence check only; a busy feed pays one clock read per page.
      const watch = setInterval(() => {
        if (Date.now() - pagedAtMs >= clientFeedSilenceMsMax) end(false);
      }, clientFeedSilenceMsMax / 3);
      watch.unref();
      setStop(() => end(false));
    });
  }

  /** Connections open or opening now: one per replica or store this client has talked to. */
  get connections(): number {
    return this.#links.conns.size;
  }

  close(): void {
    this.#closed = true;
    for (const c of this.#links.conns.values()) c.then((conn) => conn.close(), () => {});
    this.#links.conns.clear();
  }

  #handle(shardId: string): ShardHandle {
    const h = this.#shards.get(shardId);
    if (!h) throw new ShardClientError('SHARD_ERR_UNKNOWN_SHARD', `unknown shard ${JSON.stringify(shardId)}`, false);
    return h;
  }

  /** A session with room in its window, opening another one when all are full. */
  async #session(h: ShardHandle, deadline: number): Promise<{ session: Session; seq: number }> {
    // The request number is taken in the same synchronous step as the window check, or
    // concurrent callers would all squeeze into one session.
    const take = (session: Session): { session: Session; seq: number } => {
      const seq = session.nextSeq++;
      session.outstanding.add(seq);
      return { session, seq };
    };
    for (;;) {
      const free = h.sessions.find((s) => s.nextSeq - oldestOutstanding(s) < clientSessionWindowMax);
      if (free) return take(free);
      if (h.sessions.length < clientSessionsPerShardMax) {
        h.opening ??= this.#openSession(h, deadline).finally(() => (h.opening = null));
        await h.opening;
        continue;
      }
      if (Date.now() > deadline) throw new ShardClientError('SHARD_ERR_TIMEOUT', `shard ${h.id}: every session is full`, false);
      await sleep(2);
    }
  }

  async #openSession(h: ShardHandle, deadline: number): Promise<Session> {
    const res = (await this.#propose(h, { session: null, command: { type: 'openSession' } }, deadline)) as ShardResult;
    if (!res.ok || res.type !== 'session') throw new ShardClientError('SHARD_ERR_SESSION', `openSession failed: ${JSON.stringify(res)}`, false);
    const session: Session = { clientId: res.clientId, nextSeq: 1, outstanding: new Set<number>() };
    h.sessions.push(session);
    return session;
  }

  #propose(h: ShardHandle, proposal: Proposal, deadline: number): Promise<unknown> {
    let text: string;
    try {
      text = Buffer.from(encodeProposal(proposal)).toString('utf8');
    } catch (err) {
      return Promise.reject(new ShardClientError('SHARD_ERR_BAD_COMMAND', (err as Error).message, false));
    }
    return this.#withRetries(h, deadline, true, async (conn, timeoutMs) => (await conn.request({ op: 'propose', shard: h.id, proposal: text, timeoutMs }, timeoutMs)).result);
  }

  async #withRetries(h: ShardHandle, deadline: number, isWrite: boolean, attempt: (c: RpcConnection, timeoutMs: number) => Promise<unknown>): Promise<unknown> {
    let replica = h.leader ?? h.replicas[0]!.id;
    // A store whose link just failed hosts a replica of many shards: each of them starts
    // elsewhere instead of paying a connect timeout of its own (behind a partition, one
    // attempt timeout per shard).
    if (h.isDown(replica)) replica = h.nextLive(replica);
    let sent = false;
    let lastError = 'no attempt made';
    for (;;) {
      if (this.#closed) throw new ShardClientError('SHARD_ERR_CLOSED', 'client closed', isWrite && sent);
      const remaining = deadline - Date.now();
      if (remaining <= 0) {
        throw new ShardClientError('SHARD_ERR_TIMEOUT', `shard ${h.id}: deadline passed (${lastError})`, isWrite && sent);
      }
      try {
        const conn = await this.#conn(h, replica);
        sent = true;
        const result = await attempt(conn, Math.min(this.#attemptTimeoutMs, remaining));
        // Only a committed write proves leadership: a follower answers reads too.
        if (isWrite) h.leader = replica;
        return result;
      } catch (err) {
        const e = err as RpcError;
        // Only an RPC failure may be retried, and only when the catalogue says another
        // replica may answer (the command may or may not have run).
        if (!(e instanceof RpcError) || !isRetryable(e.code)) {
          throw new ShardClientError(codeOf(e), e.message, false);
        }
        lastError = `${replica}: ${e.code} ${e.message}`;
        if (e.code === 'SHARD_ERR_UNAVAILABLE') h.markDown(replica, Date.now() + this.#replicaDownMs);
        // Right after a leader dies, followers still name it until an election ends: a hint
        // naming a replica whose link just failed would only bounce off a closed port.
        // A hint is a replica id (a group's members are its replicas, on a store too); the
        // connection it leads to is its store's.
        const hint = e.code === 'RAFT_ERR_NOT_LEADER' ? e.leaderHint : null;
        if (hint && e.leaderAt !== null) h.learn(hint, e.leaderAt);
        if (hint && hint !== replica && h.replica(hint) !== undefined && !h.isDown(hint)) {
          replica = hint;
          h.leader = replica;
          continue;
        }
        if (h.leader === replica) h.leader = null;
        replica = e.code === 'RAFT_ERR_OVERLOADED' ? replica : h.nextLive(replica);
        // No leader known: an election is under way; give it a moment instead of spinning.
        await sleep(e.code === 'RAFT_ERR_NOT_LEADER' ? 20 : 10);
      }
    }
  }

  /** The connection to the listener serving `replicaId` (its store's, if it has one). */
  async #conn(h: ShardHandle, replicaId: string): Promise<RpcConnection> {
    const r = h.replica(replicaId);
    if (!r) throw new RpcError('SHARD_ERR_UNAVAILABLE', `unknown replica ${replicaId}`);
    const key = linkKey(r);
    const conns = this.#links.conns;
    for (;;) {
      const existing = conns.get(key);
      if (existing === undefined) break;
      try {
        const c = await existing;
        if (!c.closed) return c;
      } catch {
        // reconnect below
      }
      if (conns.get(key) === existing) conns.delete(key);
    }
    if (this.#closed) throw new RpcError('SHARD_ERR_UNAVAILABLE', 'client closed');
    const p = RpcConnection.open(r.client.host, r.client.port, { secret: this.#auth.secret, principal: this.#auth.principal, replicaId: r.store ?? r.id });
    conns.set(key, p);
    const forget = (): void => {
      if (conns.get(key) === p) conns.delete(key);
    };
    p.then((c) => c.onClose(forget), forget);
    return p;
  }
}
