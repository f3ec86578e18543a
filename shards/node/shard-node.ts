// One replica of one DN shard: a Raft group (LevelDB log, authenticated TCP peers) driving
// the shard state machine, a client RPC server, the leader's timer duties (expire
// reservations that outlived their TTL, expire the leases of SIP nodes that stopped
// renewing, tick wrap-ups due, replicate the cluster file's shard map), and the change feed.
import { performance } from 'node:perf_hooks';
import { hostPortOf, type ClusterConfig, type ReplicaConfig, type ShardConfig } from '../../common/config.js';
import { exitCodes, exitFatal } from '../../common/last-resort.js';
import type { Logger } from '../../common/logger.js';
import { RaftGroupError } from '../../raft/errors.js';
import { RaftGroup, type StateMachine } from '../../raft/group/group.js';
import { LevelRaftStorage } from '../../raft/storage/level-storage.js';
import { TcpRaftTransport } from '../../raft/transport/tcp-transport.js';
import type { RaftTransport } from '../../raft/transport/transport.js';
import type { ConfState, RaftStatus } from '../../raft/types.js';
import { decodeProposal, encodeProposal } from '../commands.js';
import { ShardError } from '../errors.js';
import {
  leaderDutyProposalTimeoutMs,
  preferredHandoffTimeoutMs,
  preferredLagEntriesMax,
  preferredLeaderSettleMs,
  preferredSilenceMsMax,
} from '../limits.js';
import { shardMapVersion, type ShardMap } from '../shard-map.js';
import { ShardStateMachine } from '../state-machine.js';
import type { MemberPlacement, Proposal, ShardResult } from '../types.js';
import type { Consistency, FeedPage, LeaderAddress, ShardQuery } from '../rpc/protocol.js';
import { LeaderDutyTimer } from './duty-timer.js';
import { LeaderClock } from './leader-clock.js';
import { LeaseWatch } from './lease-watch.js';
import { ShardMetrics } from './metrics.js';
import type { ShardService } from './rpc-server.js';

export type ShardNodeOptions = Readonly<{
  config: ClusterConfig;
  shard: ShardConfig;
  replica: ReplicaConfig;
  /** Where the Raft transport listens (may differ from the advertised address, e.g. port 0 in tests). */
  raftListen?: { host: string; port: number };
  log: Logger;
  metrics: ShardMetrics;
  /** The Raft log could not be written (disk full, I/O error): the group already stopped
   * acknowledging, and this replica must not go on serving reads from a state machine
   * that no longer follows the log. Default: log `storage failed` and end the process
   * with exit 74 (EX_IOERR) so its supervisor acts — a process that stays up looks
   * healthy to systemd while serving stale answers. Tests hosting replicas in-process
   * pass their own. */
  onStorageFailure?: (err: Error) => void;
  /** The process's one leader-duty timer, when it hosts several replicas (default: one of
   * this replica's own). */
  duties?: LeaderDutyTimer;
  /** Change records this replica keeps for feeds (default limits.changeFeedMax; a store
   * shares its budget among its shards: change-feed.ts changeFeedCapacityFor). */
  changeFeedMax?: number;
}>;

/** Called with the shard's member placements (placeMember) once the group opened, if it
 * has any, and again whenever they change: the transport then routes to the members the
 * cluster file this process started with does not name. */
export type PlacementsListener = (placements: ReadonlyMap<string, MemberPlacement>) => void;

/** Proposals this replica made, keyed by the bytes proposed (see ShardNode.propose). */
type ProposedHere = WeakMap<Uint8Array, Proposal>;

/** What a group factory gets from the node: the state machine to drive, the clock the
 * leader stamps entries with (leader-clock.ts), and the bootstrap voters. */
export type GroupParts = Readonly<{ stateMachine: StateMachine; nowMs: () => number; initialConf: ConfState }>;

/** A replica whose Raft group, transport and duty timer come from its host (a store,
 * shards/node/store.ts) instead of being its own. */
export type HostedShardNodeOptions = Omit<ShardNodeOptions, 'raftListen' | 'duties'> & Readonly<{
  /** Opens the group of this replica on the host (its storage, ticker and transport). */
  openGroup: (parts: GroupParts) => Promise<RaftGroup>;
  /** The host's transport; the node never closes it. */
  transport: RaftTransport;
  /** The host's one timer for every leading replica's duties. */
  duties: LeaderDutyTimer;
  /** The host's routes to placed members (a stand-alone replica sets its own peers). */
  onPlacements?: PlacementsListener;
}>;

export class ShardNode implements ShardService {
  readonly #feeds = new Set<{ index: number; onPage: (p: FeedPage) => void }>();
  #feedFlushScheduled = false;
  #leading = false;
  #closed = false;
  readonly #expiring = new Set<string>();
  readonly #leaseWatch = new LeaseWatch();
  /** Owners whose expireLease is in flight, proposed once at a time. */
  readonly #expiringLeases = new Set<string>();
  #tickInFlight = false;
  #shardMapInFlight = false;
  readonly #fileShardMapVersion: number;
  #shardMapSkewLogged = false;
  #shardMapSeen: ShardMap | null = null;
  /** Since when the preferred leader has been seen caught up, while this replica leads. */
  #preferredReadySinceMs: number | null = null;
  #preferredHeardAtMs = 0;
  #handingOff = false;
  /** Set once storage failed; nothing is served after it. */
  #failed: Error | null = null;

  private constructor(
    readonly shardId: string,
    readonly replicaId: string,
    readonly group: RaftGroup,
    readonly stateMachine: ShardStateMachine,
    readonly transport: RaftTransport,
    /** Whether close() closes the transport (a stand-alone replica's own). */
    private readonly ownsTransport: boolean,
    private readonly duties: LeaderDutyTimer,
    private readonly log: Logger,
    private readonly metrics: ShardMetrics,
    private readonly preferredLeader: string | null,
    /** Entry timestamps and deadlines: wall time at the monotonic rate (leader-clock.ts). */
    private readonly clock: LeaderClock,
    /** The shard ids of this replica's cluster file, sorted: the map it replicates. */
    private readonly fileShardIds: readonly string[],
    /** Proposals made here, by the bytes proposed, until they apply. */
    private readonly proposed: ProposedHere,
  ) {
    this.#fileShardMapVersion = shardMapVersion(fileShardIds);
  }

  /** A stand-alone replica: its own Raft transport (listening), LevelDB and duty timer. */
  static async start(opts: ShardNodeOptions): Promise<ShardNode> {
    const { config, shard, replica, log } = opts;
    const peers: Record<string, { host: string; port: number }> = {};
    for (const r of shard.replicas) if (r.id !== replica.id) peers[r.id] = r.raft;
    const listen = opts.raftListen ?? replica.raft;
    const transport = await TcpRaftTransport.listen({ id: replica.id, host: listen.host, port: listen.port, secret: config.secret, peers, logger: log });
    try {
      const storage = await LevelRaftStorage.open(replica.data);
      const openGroup = (parts: GroupParts): Promise<RaftGroup> => RaftGroup.open({
        groupId: shard.id,
        id: replica.id,
        initialConf: parts.initialConf,
        storage,
        transport,
        stateMachine: parts.stateMachine,
        tickMs: config.raft.tickMs,
        raft: { electionTimeoutTicks: config.raft.electionTimeoutTicks, heartbeatTicks: config.raft.heartbeatTicks, nowMs: parts.nowMs },
        snapshotEveryEntries: config.raft.snapshotEveryEntries,
        logger: log,
      });
      // A member added over the REST is one of this shard's replicas, by its own address.
      const onPlacements: PlacementsListener = (placements) => {
        for (const p of placements.values()) {
          if (p.replica === replica.id) continue;
          if (p.store !== null) {
            log.warn('member placed on a store, but this shard\'s replicas are stand-alone: not routed', { member: p.replica, store: p.store });
            continue;
          }
          // Checked when the placement was decoded (or restored from a snapshot).
          const addr = hostPortOf(p.raft);
          if (addr !== null) transport.setPeer(p.replica, addr);
        }
      };
      return await ShardNode.#open({ ...opts, openGroup, transport, duties: opts.duties ?? new LeaderDutyTimer(), onPlacements }, true);
    } catch (err) {
      await transport.close();
      throw err;
    }
  }

  /** A replica hosted by a store: group, transport and duty timer are the store's. */
  static open(opts: HostedShardNodeOptions): Promise<ShardNode> {
    return ShardNode.#open(opts, false);
  }

  static async #open(opts: HostedShardNodeOptions, ownsTransport: boolean): Promise<ShardNode> {
    const { config, shard, replica, log, transport } = opts;
    const stateMachine = new ShardStateMachine(opts.changeFeedMax === undefined ? {} : { changeFeedMax: opts.changeFeedMax });
    const metrics = opts.metrics;
    const clock = new LeaderClock();
    const proposed: ProposedHere = new WeakMap();
    const group = await opts.openGroup({
      initialConf: { voters: shard.replicas.filter((r) => !r.join).map((r) => r.id), learners: [] },
      nowMs: clock.nowMs,
      stateMachine: {
        apply: (entry) => {
          const started = performance.now();
          // The leader applies its own proposals from the bytes it proposed (the log hands
          // back the same array): their decoded form saves a second parse and validation.
          const decoded = proposed.get(entry.data);
          if (decoded !== undefined) proposed.delete(entry.data);
          const result = stateMachine.apply(entry, decoded);
          metrics.observeApply(performance.now() - started);
          return result;
        },
        snapshot: () => stateMachine.snapshot(),
        restore: (data) => stateMachine.restore(data),
      },
    });
    const fileShardIds = config.shards.map((s) => s.id).sort();
    const node = new ShardNode(shard.id, replica.id, group, stateMachine, transport, ownsTransport, opts.duties, log, metrics, shard.preferredLeader ?? null, clock, fileShardIds, proposed);
    group.on('failed', (err) => node.#storageFailed(err, opts.onStorageFailure ?? ((e) => exitFatal(log, 'storage failed', e, exitCodes.storage))));
    let placementsSeen = stateMachine.placements;
    if (placementsSeen.size > 0) opts.onPlacements?.(placementsSeen);
    group.on('applied', () => {
      node.#scheduleFeedFlush();
      // What applied may have set a deadline (a TTL, a wrap-up, a lease): the duties look
      // within one period, as they did when they ran every period.
      if (node.#leading) node.duties.nudge(node);
      if (stateMachine.placements !== placementsSeen) {
        placementsSeen = stateMachine.placements;
        opts.onPlacements?.(placementsSeen);
      }
      // A new map (or a first one) comes through the log: notice skew when it applies.
      if (node.stateMachine.shardMap !== node.#shardMapSeen) {
        node.#shardMapSeen = node.stateMachine.shardMap;
        node.shardMapSkew();
      }
    });
    group.on('role', (s) => {
      metrics.role(s.role, s.leader);
      node.#leaderDutiesWhile(s.role === 'leader');
    });
    // A group that led before the listener was attached (a one-voter shard elects itself
    // on open) would otherwise never start its duties.
    if (group.isLeader()) node.#leaderDutiesWhile(true);
    return node;
  }

  status(): RaftStatus {
    return this.group.status();
  }

  /** Proposes `data`, which must be the encoding of `proposal` (decodeProposal(data)'s
   * proposal): the leader applies it from `proposal` without decoding it again. */
  async propose(proposal: Proposal, data: Uint8Array, timeoutMs: number): Promise<{ result: unknown; index: number }> {
    this.metrics.proposals.inc();
    this.proposed.set(data, proposal);
    try {
      const r = await this.group.propose(data, { timeoutMs });
      if (proposal.command.type === 'reserve') this.metrics.observeReserve(r.result);
      return r;
    } catch (err) {
      throw this.#withHint(err);
    }
  }

  /** Replicates where member `placement.replica` receives its Raft messages (see the
   * placeMember command); resolves once it applied here, so this replica routes to it. */
  async placeMember(placement: MemberPlacement, timeoutMs: number): Promise<ShardResult> {
    const data = encodeProposal({ session: null, command: { type: 'placeMember', ...placement } });
    // Validated as every replica will decode it: the leader applies its own proposal
    // from the object, and a command its followers refuse would part their states.
    const decoded = decodeProposal(data);
    if (!decoded.ok) return decoded;
    return (await this.propose(decoded.proposal, data, timeoutMs)).result as ShardResult;
  }

  async read(query: ShardQuery, consistency: Consistency, timeoutMs: number): Promise<unknown> {
    if (this.#failed !== null) throw new RaftGroupError('RAFT_ERR_FAILED', `replica ${this.replicaId} stopped: ${this.#failed.message}`, null);
    if (query.type === 'status') return this.group.status();
    if (consistency === 'linearizable') {
      try {
        await this.group.read({ timeoutMs });
      } catch (err) {
        throw this.#withHint(err);
      }
    }
    switch (query.type) {
      case 'agent': {
        const agent = this.stateMachine.getAgent(query.dn);
        if (!agent) throw new ShardError('SHARD_ERR_UNKNOWN_DN', `DN ${query.dn} is not provisioned`);
        return agent;
      }
      case 'agents':
        return this.stateMachine.listAgents(query.filter ?? {});
      case 'reservations':
        return this.stateMachine.reservations();
      case 'queue':
        return { appliedIndex: this.stateMachine.appliedIndex, entries: this.stateMachine.queueEntries() };
      case 'services':
        return { appliedIndex: this.stateMachine.appliedIndex, services: this.stateMachine.services() };
      default:
        throw new ShardError('SHARD_ERR_BAD_COMMAND', 'unknown query');
    }
  }

  /** Whether this replica's cluster file lists other shards than the shard's replicated
   * map (null until a map is replicated). Logged once each time it changes. */
  shardMapSkew(): boolean | null {
    const current = this.stateMachine.shardMap;
    if (current === null) return null;
    const skewed = current.version !== this.#fileShardMapVersion;
    if (skewed !== this.#shardMapSkewLogged) {
      this.#shardMapSkewLogged = skewed;
      if (skewed) this.log.warn('this replica\'s cluster file lists other shards than the shard\'s replicated map: make the files agree', { fileShardIds: this.fileShardIds, replicated: current.shardIds, version: current.version });
      else this.log.info('cluster file and replicated shard map agree', { version: current.version });
    }
    return skewed;
  }

  /** For the RPC server's policy (rpc/policy.ts): who owns the grant a confirm or release
   * names, as this replica's state has it now. */
  reservationOwner(dn: string, reservationId: string): string | null {
    const status = this.stateMachine.getAgent(dn)?.status;
    if (status === undefined || (status.state !== 'RESERVED' && status.state !== 'BUSY')) return null;
    return status.reservation.reservationId === reservationId ? status.reservation.owner : null;
  }

  feed(fromIndex: number, onPage: (page: FeedPage) => void): () => void {
    // A stopped replica sends no pages (its state machine no longer follows the log);
    // not a throw, which the RPC server's frame handler does not expect from feed().
    if (this.#failed !== null) return () => {};
    const sub = { index: fromIndex, onPage };
    this.#feeds.add(sub);
    this.#flushFeed(sub);
    return () => this.#feeds.delete(sub);
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#leaderDutiesWhile(false);
    this.#feeds.clear();
    await this.group.close();
    if (this.ownsTransport) await this.transport.close();
  }

  /** Storage failed: stop every duty and feed, refuse every read, then hand over to
   * `onFailure` (by default the process exits). Proposals are already refused by the
   * group with RAFT_ERR_FAILED. */
  #storageFailed(err: Error, onFailure: (err: Error) => void): void {
    if (this.#failed !== null) return;
    this.#failed = err;
    this.#leaderDutiesWhile(false);
    this.#feeds.clear();
    onFailure(err);
  }

  /** Whether storage failed (the replica serves nothing any more). */
  get failed(): boolean {
    return this.#failed !== null;
  }

  /** A follower's NotLeader error names the leader by replica id; the client maps it. */
  #withHint(err: unknown): unknown {
    if (!(err instanceof RaftGroupError) || err.code !== 'RAFT_ERR_NOT_LEADER') return err;
    const leader = this.group.leader();
    const hint = err.leaderHint || (leader && leader !== this.replicaId ? leader : null);
    if (!hint) return err;
    // A leader the shard placed after the cluster files were written: its address goes
    // with the hint, so a client whose file does not list it can still follow.
    const placed = this.stateMachine.placements.get(hint);
    const leaderAt: LeaderAddress | null = placed?.client ? { client: placed.client, store: placed.store } : null;
    if (hint === err.leaderHint && leaderAt === null) return err;
    const withHint = new RaftGroupError(err.code, err.message, hint);
    return leaderAt === null ? withHint : Object.assign(withHint, { leaderAt });
  }

  #scheduleFeedFlush(): void {
    if (this.#feedFlushScheduled || this.#feeds.size === 0) return;
    this.#feedFlushScheduled = true;
    setImmediate(() => {
      this.#feedFlushScheduled = false;
      for (const sub of this.#feeds) this.#flushFeed(sub);
    });
  }

  #flushFeed(sub: { index: number; onPage: (p: FeedPage) => void }): void {
    const applied = this.stateMachine.appliedIndex;
    if (applied <= sub.index && sub.index !== 0) return;
    const page = this.stateMachine.changesSince(sub.index);
    sub.index = applied;
    sub.onPage({ changes: page.changes, truncated: page.truncated, index: applied });
  }

  /** Duties run only while this replica leads: on a follower every firing would be a
   * wake-up that finds nothing to do. The timer is the host's (duty-timer.ts). */
  #leaderDutiesWhile(leading: boolean): void {
    if (leading && !this.#leading && !this.#closed) {
      this.#leading = true;
      this.#leaseWatch.lead(performance.now());
      this.clock.lead(this.stateMachine.timeMs);
      this.duties.start(this, () => this.runLeaderDuties());
    } else if (!leading && this.#leading) {
      this.#leading = false;
      this.duties.stop(this);
      this.#expiring.clear();
      this.#leaseWatch.follow();
      this.clock.follow();
      this.#expiringLeases.clear();
    }
    this.#preferredReadySinceMs = null;
    this.#preferredHeardAtMs = 0;
  }

  /** Only the leader turns time into log entries, so every replica sees the same
   * transitions at the same indexes. Each duty is proposed once at a time. Called by the
   * duty timer while this replica leads; returns the ms until it is due again: the
   * nearest deadline it knows (a reservation's TTL, a wrap-up's end, a contact's expiry,
   * a lease's), or the next period while a proposal of its own is under way or a handoff
   * is being watched for. */
  runLeaderDuties(): number {
    if (!this.group.isLeader()) {
      this.#expiring.clear();
      return Number.POSITIVE_INFINITY;
    }
    const now = this.clock.nowMs();
    const watchingHandoff = this.#handOffToPreferred(now);
    this.#replicateShardMap();
    this.#expireLeases();
    const quietUntilMs = this.stateMachine.quietUntilMs(now);
    if (now >= quietUntilMs) this.#expireAndTick(now);
    const underWay = watchingHandoff || this.#shardMapInFlight || this.#expiring.size > 0 || this.#tickInFlight || this.#expiringLeases.size > 0;
    if (underWay) return this.duties.periodMs;
    // Both clocks run at the monotonic rate (leader-clock.ts), so a difference of one is a
    // wait on the other.
    return Math.min(quietUntilMs - now, this.#leaseWatch.msUntilNextExpiry(performance.now()));
  }

  /** Proposes the expiry of every reservation past its TTL and a tick for due timers. */
  #expireAndTick(now: number): void {
    for (const r of this.stateMachine.expiredReservations(now)) {
      if (this.#expiring.has(r.reservationId)) continue;
      this.#expiring.add(r.reservationId);
      const data = encodeProposal({ session: null, command: { type: 'expire', dn: r.dn, reservationId: r.reservationId } });
      this.group.propose(data, { timeoutMs: leaderDutyProposalTimeoutMs }).then(
        (res) => {
          if ((res.result as ShardResult).ok) this.metrics.expired.inc();
        },
        () => {},
      ).finally(() => this.#expiring.delete(r.reservationId));
    }
    if (!this.#tickInFlight && this.stateMachine.dueTimers(now).length > 0) {
      this.#tickInFlight = true;
      this.group.propose(encodeProposal({ session: null, command: { type: 'tick' } }), { timeoutMs: leaderDutyProposalTimeoutMs }).then(
        () => {},
        (err) => this.log.debug('tick proposal failed', { err: (err as Error).message }),
      ).finally(() => {
        this.#tickInFlight = false;
      });
    }
  }

  /** Makes the cluster file's shard list the shard's replicated map when it differs, so
   * the state machine can refuse DNs this shard does not own (state-machine.ts). A
   * replica whose file differs from the others' would propose its own list when it leads:
   * the map follows the leader's file, and clients are refused until files agree. */
  #replicateShardMap(): void {
    if (this.#shardMapInFlight) return;
    const version = this.#fileShardMapVersion;
    const current = this.stateMachine.shardMap;
    if (current !== null && current.version === version && current.shardId === this.shardId) return;
    this.#shardMapInFlight = true;
    const data = encodeProposal({ session: null, command: { type: 'setShardMap', shardId: this.shardId, shardIds: this.fileShardIds, version } });
    this.group.propose(data, { timeoutMs: leaderDutyProposalTimeoutMs }).then(
      (res) => {
        const r = res.result as ShardResult;
        if (r.ok) this.log.info('shard map replicated', { shardIds: this.fileShardIds, version, was: current?.version ?? null });
        else this.log.warn('shard map refused', { code: r.code, reason: r.reason });
      },
      (err) => this.log.debug('setShardMap proposal failed', { err: (err as Error).message }),
    ).finally(() => {
      this.#shardMapInFlight = false;
    });
  }

  /** Frees the grants of SIP nodes that stopped renewing their lease (lease-watch.ts
   * measures on the monotonic clock); the state machine refuses the proposal if a later
   * renewal applied first. */
  #expireLeases(): void {
    for (const lease of this.#leaseWatch.expired(this.stateMachine.leases(), performance.now())) {
      if (this.#expiringLeases.has(lease.owner)) continue;
      this.#expiringLeases.add(lease.owner);
      const data = encodeProposal({ session: null, command: { type: 'expireLease', owner: lease.owner, renewedIndex: lease.renewedIndex } });
      this.group.propose(data, { timeoutMs: leaderDutyProposalTimeoutMs }).then(
        (res) => {
          const r = res.result as ShardResult;
          if (r.ok && r.type === 'leaseExpired') this.log.warn('lease expired: released the grants of a SIP node that stopped renewing', { owner: lease.owner, ttlMs: lease.ttlMs, released: r.released.length });
        },
        (err) => this.log.debug('expireLease proposal failed', { owner: lease.owner, err: (err as Error).message }),
      ).finally(() => this.#expiringLeases.delete(lease.owner));
    }
  }

  /** Leader placement: with `preferredLeader` set, the shards' leaders sit where the
   * operator spread them (one per host), instead of wherever the last election happened
   * to land: in a CPU profile at 300 calls/s, the co-hosted process that led both shards
   * was busy 77% of the time and the other two 29% and 28%. A leader that won an election
   * hands leadership to the preferred replica once that one has been caught up for a
   * while. A leader that got its leadership by a transfer keeps it: that was an operator's
   * choice (POST /v1/leader/transfer, e.g. to drain a host) or this handoff. */
  #handOffToPreferred(now: number): boolean {
    const preferred = this.preferredLeader;
    if (preferred === null || preferred === this.replicaId) return false;
    if (this.#handingOff) return true;
    const st = this.group.status();
    const peer = st.peers.find((p) => p.id === preferred);
    if (peer?.recentActive === true) this.#preferredHeardAtMs = now;
    const reachable = now - this.#preferredHeardAtMs <= preferredSilenceMsMax;
    const caughtUp = peer !== undefined && peer.voter && reachable && peer.state === 'replicate' && st.lastIndex - peer.matchIndex <= preferredLagEntriesMax;
    if (st.leadership !== 'election' || !caughtUp) {
      this.#preferredReadySinceMs = null;
      return st.leadership === 'election';
    }
    this.#preferredReadySinceMs ??= now;
    if (now - this.#preferredReadySinceMs < preferredLeaderSettleMs || !peer.recentActive) return true;
    this.#handingOff = true;
    this.log.info('handing leadership to the preferred leader', { to: preferred, term: st.term });
    this.group.transferLeadership(preferred, { timeoutMs: preferredHandoffTimeoutMs }).then(
      () => this.metrics.handoffs.inc({ outcome: 'done' }),
      (err) => {
        this.metrics.handoffs.inc({ outcome: 'failed' });
        this.log.warn('handoff to the preferred leader failed', { to: preferred, reason: (err as Error).message });
      },
    ).finally(() => {
      this.#handingOff = false;
      this.#preferredReadySinceMs = null;
    });
    return true;
  }
}

