// RaftHost: one process (a store) hosting one replica of many Raft groups — TiKV's
// raftstore, CockroachDB's store, Dragonboat's NodeHost. Everything per-process is shared:
//
// - one transport (one connection per peer store; frames tagged by group), given by the
//   caller, as is the storage (one LevelDB for every group, raft/storage/);
// - one ticker: a single timer drives the ticks of every awake group, in one event-loop
//   turn, so all of their heartbeats to a peer store leave in one frame (the transport
//   coalesces what one turn sends); it stops while every group is quiesced;
// - quiescence (quiesce.ts): an idle group stops ticking; store liveness from the
//   transport wakes the quiesced groups whose leader's store went silent (they campaign
//   at once) and the quiesced leaders whose follower's store went silent (check-quorum
//   must be able to step an isolated leader down); a leader that hears a majority of its
//   voters' stores silent steps down at once, and its waiting proposals are answered
//   "outcome unknown", so their clients retry on the side that can elect a new leader;
// - staggered snapshots: at most one group serializes its snapshot per event-loop turn;
// - a log budget (log-budget.ts): the entries the groups hold in memory are capped
//   together and shared by how busy each group is, resharing once a second;
// - one Ready pass per turn: a group with work queues itself, and one setImmediate starts
//   the Ready of every queued group in turn, instead of one immediate (and its
//   bookkeeping) per group; their writes still share the shared log's batch and their
//   messages the transport's frame, as both gather what one turn produces.
//
// A group keeps its full RaftGroup API; closing it (or its storage failing) takes it off
// the host. Closing the host closes its groups, not the transport or the storage.

import assert from 'node:assert';
import { silentLogger, type Logger } from '../../common/logger.js';
import { heartbeatTicksDefault } from '../limits.js';
import type { RaftStorage } from '../storage/storage.js';
import type { RaftTransport } from '../transport/transport.js';
import type { ConfState, NodeId, RaftConfig } from '../types.js';
import { hasQuorum } from '../core/quorum.js';
import { LogBudgetShares, type LogBudget } from './log-budget.js';
import { RaftGroup, type StateMachine } from './group.js';
import type { GroupHostLink } from './host-link.js';
import { logBudgetSweepMsDefault, tickCatchUpMax } from './limits.js';
import { wakeReasons, type WakeReason } from './quiesce.js';
import { TickClock } from './tick-clock.js';

export type RaftHostOptions = {
  /** The store id (the transport's identity). */
  id: string;
  /** Shared by every group (TcpRaftTransport or LoopRaftTransport); owned by the caller. */
  transport: RaftTransport;
  /** Each group's durable home (SharedLogDb.group in production); owned by the caller,
   * except that a group's close() closes its own RaftStorage handle. */
  storage: (groupId: string) => RaftStorage;
  tickMs: number;
  /** Defaults for every group (electionTimeoutTicks, heartbeatTicks, ...). */
  raft?: Partial<RaftConfig>;
  /** Whether idle groups stop ticking (default true). */
  quiesce?: boolean;
  /** The log entries the groups may hold in memory together, shared by activity; each
   * group snapshots after its share when that is less than its own interval. Absent:
   * each group keeps its own interval. */
  logBudget?: LogBudget;
  /** How often the log budget is reshared (default logBudgetSweepMsDefault). */
  logBudgetSweepMs?: number;
  logger?: Logger;
};

export type OpenGroupOptions = {
  groupId: string;
  id: NodeId;
  initialConf: ConfState;
  stateMachine: StateMachine;
  snapshotEveryEntries?: number;
  raft?: Partial<RaftConfig>;
  logger?: Logger;
};

export type RaftHostStats = {
  groups: number;
  quiesced: number;
  /** Times a group stopped ticking. */
  quiescings: number;
  /** Liveness of every peer store the transport pings. */
  peerStoresAlive: Record<string, boolean>;
  /** Times a quiesced group woke, in all and by reason. */
  wakes: number;
  wakesByReason: Record<WakeReason, number>;
  /** Follower replicas told to campaign soon because their leader's store went silent
   * (quiesced or not). */
  campaignsHastened: number;
  /** Leaders that stepped down because a majority of their voters' stores went silent. */
  leadersSteppedDown: number;
  /** Groups waiting for their turn to serialize a snapshot. */
  snapshotsQueued: number;
  /** Snapshots taken through the host's queue. */
  snapshotsTaken: number;
  /** Ready passes run: one setImmediate each, however many groups it drove. */
  readyPasses: number;
  /** Readies the open groups handled (each group's persist, send, apply round). */
  readies: number;
  /** Ticker firings that ticked at least one group. */
  tickerFirings: number;
  /** The shared transport's frames and messages sent (messages / frames is the
   * coalescing factor), pings sent, and messages dropped as misrouted. */
  framesSent: number;
  messagesSent: number;
  pingsSent: number;
  misrouted: number;
};

export class RaftHost {
  private readonly byId = new Map<string, RaftGroup>();
  /** The groups the ticker ticks: open, not failed, not quiesced. */
  private readonly awake = new Set<RaftGroup>();
  private readonly quiet = new Set<RaftGroup>();
  private readonly opening = new Set<string>();
  private readonly clock: TickClock;
  private readonly logger: Logger;
  private readonly quiesce: boolean;
  private timer: NodeJS.Timeout | null = null;
  private readonly logShares: LogBudgetShares<RaftGroup> | null;
  private readonly logSweepTimer: NodeJS.Timeout | null = null;
  private readonly snapshotQueue: (() => void)[] = [];
  /** Groups' Ready runs queued for the next pass; swapped out as a pass starts, so a group
   * queued during a pass runs in the next one (as its own setImmediate would). */
  private readyRuns: (() => void)[] = [];
  private readyPassScheduled = false;
  private readyPasses = 0;
  /** Readies of the groups closed since the host opened: the count stays a running total. */
  private readiesOfClosed = 0;
  private snapshotPumpScheduled = false;
  private snapshotsTaken = 0;
  private tickerFirings = 0;
  private quiescings = 0;
  private campaignsHastened = 0;
  private leadersSteppedDown = 0;
  private readonly wakes: Record<WakeReason, number>;
  /** Peer stores liveness reports silent now. */
  private readonly silentStores = new Set<NodeId>();
  private closed = false;

  constructor(private readonly opts: RaftHostOptions) {
    assert(opts.id.length > 0, 'RaftHost needs a store id');
    assert(opts.transport.id === opts.id, `RaftHost ${opts.id} given the transport of ${opts.transport.id}`);
    this.logger = (opts.logger ?? silentLogger).child({ store: opts.id });
    this.quiesce = opts.quiesce ?? true;
    const heartbeatTicks = opts.raft?.heartbeatTicks ?? heartbeatTicksDefault;
    this.clock = new TickClock(opts.tickMs, heartbeatTicks, tickCatchUpMax, performance.now());
    this.wakes = Object.fromEntries(wakeReasons.map((r) => [r, 0])) as Record<WakeReason, number>;
    this.logShares = opts.logBudget === undefined ? null : new LogBudgetShares(opts.logBudget);
    if (this.logShares !== null) {
      // unref: the sweep alone keeps no process alive; one wake a second on an idle store.
      this.logSweepTimer = setInterval(() => this.sweepLogBudget(), opts.logBudgetSweepMs ?? logBudgetSweepMsDefault).unref();
    }
    opts.transport.onPeerLiveness((peer, alive) => {
      if (alive) this.storeBack(peer);
      else this.storeSilent(peer);
    });
  }

  get id(): string {
    return this.opts.id;
  }

  /** The open groups by group id. */
  get groups(): ReadonlyMap<string, RaftGroup> {
    return this.byId;
  }

  /** Opens this store's replica of a group (RaftGroup.open with the host's transport,
   * storage, ticker and defaults). One replica per group per host. */
  async openGroup(o: OpenGroupOptions): Promise<RaftGroup> {
    if (this.closed) throw new Error(`raft host ${this.id} is closed`);
    if (this.byId.has(o.groupId) || this.opening.has(o.groupId)) throw new Error(`raft group ${o.groupId} is already open on store ${this.id}`);
    this.opening.add(o.groupId);
    const holder: { group: RaftGroup | null } = { group: null };
    try {
      const group = await RaftGroup.open({
        groupId: o.groupId,
        id: o.id,
        initialConf: o.initialConf,
        storage: this.opts.storage(o.groupId),
        transport: this.opts.transport,
        stateMachine: o.stateMachine,
        tickMs: this.opts.tickMs,
        // Busy groups' heartbeats are redundant with their appends (types.ts says when).
        raft: { heartbeatsSkipBusy: true, commitRidesAlong: true, ...this.opts.raft, ...o.raft },
        ...(o.snapshotEveryEntries !== undefined ? { snapshotEveryEntries: o.snapshotEveryEntries } : {}),
        logger: o.logger ?? this.logger,
        host: this.link(holder),
      });
      holder.group = group;
      if (this.closed) {
        await group.close();
        throw new Error(`raft host ${this.id} closed while ${o.groupId} was opening`);
      }
      this.byId.set(o.groupId, group);
      this.logShares?.add(group, group.appliedIndex);
      this.awake.add(group);
      this.ensureTicker();
      return group;
    } finally {
      this.opening.delete(o.groupId);
    }
  }

  stats(): RaftHostStats {
    const wakes = Object.values(this.wakes).reduce((a, b) => a + b, 0);
    const tr = this.opts.transport.stats();
    return {
      groups: this.byId.size,
      quiesced: this.quiet.size,
      quiescings: this.quiescings,
      campaignsHastened: this.campaignsHastened,
      leadersSteppedDown: this.leadersSteppedDown,
      peerStoresAlive: this.opts.transport.peerLiveness(),
      wakes,
      wakesByReason: { ...this.wakes },
      snapshotsQueued: this.snapshotQueue.length,
      snapshotsTaken: this.snapshotsTaken,
      tickerFirings: this.tickerFirings,
      readyPasses: this.readyPasses,
      readies: [...this.byId.values()].reduce((n, g) => n + g.readiesHandled, this.readiesOfClosed),
      framesSent: tr.framesSent,
      messagesSent: tr.messagesSent,
      pingsSent: tr.pingsSent,
      misrouted: tr.misrouted,
    };
  }

  /** Closes every group (each waits for its Ready in flight and closes its storage
   * handle). The transport stays open: it belongs to the caller. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.stopTicker();
    if (this.logSweepTimer !== null) clearInterval(this.logSweepTimer);
    await Promise.all([...this.byId.values()].map((g) => g.close()));
    // Queued snapshots of closed groups resolve without running (their take() sees closed).
    for (const run of this.snapshotQueue.splice(0)) run();
  }

  // ---------------------------------------------------------------- ticker

  private ensureTicker(): void {
    if (this.timer !== null || this.closed || this.awake.size === 0) return;
    this.clock.restart(performance.now());
    this.timer = setInterval(() => {
      const due = this.clock.due(performance.now());
      // Ticks in setImmediate, after the poll phase (group.ts says why); all groups in the
      // same turn, so their heartbeats to one peer store share a frame.
      setImmediate(() => this.tickAll(due));
    }, this.clock.firingMs);
  }

  private stopTicker(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  private tickAll(due: number): void {
    if (this.closed) return;
    if (this.awake.size === 0) {
      this.stopTicker(); // nothing to tick: an idle store wakes no more (a wake restarts it)
      return;
    }
    this.tickerFirings++;
    for (const g of [...this.awake]) g.hostTick(due);
  }

  // ---------------------------------------------------------------- Ready pass

  private runSoon(run: () => void): void {
    this.readyRuns.push(run);
    if (this.readyPassScheduled) return;
    this.readyPassScheduled = true;
    setImmediate(this.readyPass);
  }

  private readonly readyPass = (): void => {
    this.readyPassScheduled = false;
    const runs = this.readyRuns;
    this.readyRuns = [];
    this.readyPasses++;
    for (const run of runs) run();
  };

  // ---------------------------------------------------------------- liveness

  /** Store liveness says `peer` went silent: wake the quiesced leaders with a member
   * there, and make every follower of a leader there campaign soon. Awake followers are
   * included: one woken a moment ago (by a survivor's pre-vote, which it refused while its
   * frozen lease still held) would otherwise wait a whole election timeout more. */
  private storeSilent(peer: NodeId): void {
    this.silentStores.add(peer);
    const route = (n: NodeId): NodeId => this.opts.transport.route(n);
    let followers = 0;
    let leaders = 0;
    let steppedDown = 0;
    for (const g of [...this.byId.values()]) {
      if (g.failedReason !== null) continue;
      const st = g.status();
      if (st.role === 'leader') {
        if (!hasQuorum(st.conf.voters, (m) => m === st.id || !this.silentStores.has(route(m)))) {
          g.quorumStoresSilent();
          steppedDown++;
          continue;
        }
        if (!g.quiesced) continue;
        const members = [...st.conf.voters, ...st.conf.learners].filter((m) => m !== st.id);
        if (members.some((m) => route(m) === peer)) {
          g.wake('peerStoreSilent');
          leaders++;
        }
      } else if ((st.role === 'follower' || st.role === 'learner') && st.leader !== null && route(st.leader) === peer) {
        g.leaderStoreSilent();
        followers++;
      }
    }
    this.campaignsHastened += followers;
    this.leadersSteppedDown += steppedDown;
    this.logger.info('peer store silent; groups woken', { peer, followers, leaders, steppedDown });
  }

  /** `peer` is heard again: the leaders that quiesced without its members wake to catch
   * them up (and quiesce again once they are). */
  private storeBack(peer: NodeId): void {
    if (!this.silentStores.delete(peer)) return; // first heard at boot: nothing quiesced past it
    let leaders = 0;
    for (const g of [...this.quiet]) {
      const st = g.status();
      if (st.role !== 'leader') continue;
      if ([...st.conf.voters, ...st.conf.learners].some((m) => m !== st.id && this.opts.transport.route(m) === peer)) {
        g.wake('peerStoreBack');
        leaders++;
      }
    }
    this.logger.info('peer store heard again; leaders woken', { peer, leaders });
  }

  // ---------------------------------------------------------------- what a group gets

  private link(holder: { group: RaftGroup | null }): GroupHostLink {
    return {
      quiesce: this.quiesce,
      runSoon: (run) => this.runSoon(run),
      storeSilent: (member) => this.silentStores.has(this.opts.transport.route(member)),
      snapshotTurn: (take) => this.snapshotTurn(take),
      ...(this.logShares === null ? {} : { logShare: () => (holder.group === null ? Infinity : this.logShares!.every(holder.group)) }),
      quiesced: () => {
        const g = holder.group;
        if (g === null || !this.byId.has(g.groupId)) return;
        this.quiescings++;
        this.awake.delete(g);
        this.quiet.add(g);
      },
      woke: (reason) => {
        this.wakes[reason]++;
        const g = holder.group;
        if (g === null || !this.byId.has(g.groupId)) return;
        this.quiet.delete(g);
        this.awake.add(g);
        this.ensureTicker();
      },
      left: (why) => {
        const g = holder.group;
        if (g === null) return;
        this.awake.delete(g);
        this.quiet.delete(g);
        this.logShares?.delete(g);
        // A failed group stays listed (its failedReason is status); a closed one goes.
        if (why === 'closed' && this.byId.get(g.groupId) === g) {
          this.byId.delete(g.groupId);
          this.readiesOfClosed += g.readiesHandled;
        }
      },
    };
  }

  /** The least and the most entries a group may now hold in memory, or null without a
   * log budget. */
  logShareRange(): { min: number; max: number } | null {
    if (this.logShares === null) return null;
    let min = Infinity;
    let max = 0;
    for (const g of this.byId.values()) {
      const every = this.logShares.every(g);
      min = Math.min(min, every);
      max = Math.max(max, every);
    }
    return this.byId.size === 0 ? null : { min, max };
  }

  /** Reshares the log budget by what each group applied since the last sweep, then has
   * every group over its new share (one gone quiet) snapshot: its entries go to the
   * others. The snapshots take their turns (snapshotTurn). */
  private sweepLogBudget(): void {
    if (this.closed || this.logShares === null) return;
    this.logShares.sweep((g) => g.appliedIndex);
    for (const g of this.byId.values()) g.snapshotIfDue();
  }

  private snapshotTurn(take: () => Promise<void>): Promise<void> {
    return new Promise<void>((resolve) => {
      this.snapshotQueue.push(() => {
        this.snapshotsTaken++;
        take().then(resolve, resolve);
      });
      this.pumpSnapshots();
    });
  }

  /** One queued snapshot per event-loop turn: serializing a state machine blocks the loop,
   * and a hundred groups due at once would otherwise stall every other group's I/O. */
  private pumpSnapshots(): void {
    if (this.snapshotPumpScheduled || this.snapshotQueue.length === 0) return;
    this.snapshotPumpScheduled = true;
    setImmediate(() => {
      this.snapshotPumpScheduled = false;
      this.snapshotQueue.shift()?.();
      this.pumpSnapshots();
    });
  }
}
