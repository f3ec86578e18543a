// RaftGroup: the driver that turns the pure core (raft/core.ts) into a running replica.
// It owns the clock (a tick interval), the storage, the group's transport registration
// and the state machine, and runs the Ready loop in the order raft/types.ts prescribes:
// persist (fsync when mustSync) → send → install snapshot / apply → serve reads →
// advance. One Ready is in flight at a time; steps, ticks and proposals only schedule the
// loop (setImmediate, or the host's one Ready pass per turn), so what one turn — or one
// fsync — gathers leaves in one Ready: group commit. Opened by a RaftHost (host.ts), a
// group has no timer of its own: the host's ticker calls hostTick, snapshots wait for the
// host's turn and its log share, and the group may quiesce (quiesce.ts).
//
// Outcomes reported to callers (RaftGroupError codes):
// - RAFT_ERR_NOT_LEADER (+ leaderHint): refused by a non-leader, or the proposal's index
//   was committed with another term (so it was certainly not applied).
// - RAFT_ERR_TIMEOUT: outcome unknown — no answer in time, the index was reused after a
//   truncation, a snapshot covered it, or the leader stepped down with it uncommitted and
//   no successor known (check-quorum, store liveness). Retry idempotently.
// - RAFT_ERR_FAILED: storage failed; this replica stopped acknowledging anything.
// - RAFT_ERR_CLOSED: close() was called first.
// - others from the core as is (RAFT_ERR_OVERLOADED, RAFT_ERR_CONF_CHANGE_PENDING, …).

import assert from 'node:assert';
import { silentLogger, type Logger } from '../../common/logger.js';
import { createRaftCore, decodeConfChange, defaultRaftConfig } from '../core.js';
import { applyConfChange } from '../core/conf.js';
import { RaftGroupError } from '../errors.js';
import { splitEarlyMessages } from './early-messages.js';
import { HardStateWrites } from './hard-state-writes.js';
import { snapshotDue } from './snapshot-phase.js';
import { quiesceIdleFiringsMin, requestTimeoutMsDefault, snapshotEveryEntriesDefault, tickCatchUpMax, tickMsDefault } from './limits.js';
import { followerMayQuiesce, isQuiesceNotice, leaderMayQuiesce, wakesQuiesced, type WakeReason } from './quiesce.js';
import { TickClock } from './tick-clock.js';
import { ProposalWaiters } from './proposal-waiters.js';
import { Waiter } from './waiter.js';
import { ioError } from '../io-error.js';
import { ownBytes } from '../codec-bytes.js';
import type {
  ConfChange, ConfState, Entry, HardState, LogIndex, Message, NodeId, RaftConfig, RaftCore, RaftStatus, Ready, Snapshot, SoftState, Term,
} from '../types.js';
import type { ProposeResult, RaftGroupOptions, RequestOptions, StateMachine } from './group-options.js';

export type { ProposeResult, RaftGroupOptions, RequestOptions, StateMachine };

type ReadWait = { index: LogIndex | null; waiter: Waiter<void> };
type Listener<T> = (v: T) => void;
/** What saving no held hard state returns, shared: most ticks of a busy group hold none. */
const nothingHeld: Promise<void> = Promise.resolve();

export class RaftGroup {
  private readonly core: RaftCore;
  private readonly logger: Logger;
  private readonly sm: StateMachine;
  private readonly snapshotEveryEntries: number;
  private readonly pending = new ProposalWaiters(() => this.soft.leader);
  private readonly reads = new Map<string, ReadWait>();
  private readonly transfers = new Set<{ to: NodeId; waiter: Waiter<void> }>();
  private readonly roleListeners: Listener<SoftState>[] = [];
  private readonly appliedListeners: Listener<LogIndex>[] = [];
  private readonly failedListeners: Listener<Error>[] = [];
  private soft: SoftState;
  private applied: LogIndex;
  private appliedTerm: Term;
  private appliedConf: ConfState;
  private snapshotIndex: LogIndex;
  private readonly hardStates: HardStateWrites;
  private compacting = false;
  private readSeq = 0;
  private tickTimer: NodeJS.Timeout | null = null;
  /** Ticks made per firing of the tick timer: one heartbeat interval's worth. */
  private readonly ticksPerFiring: number;
  private readonly electionTimeoutTicks: number;
  /** Not ticked (see quiesce.ts); only a host's groups quiesce. */
  private quiescent = false;
  /** Consecutive host firings at which the leader found the group idle. */
  private idleFirings = 0;
  private scheduled = false;
  #readies = 0;
  private loop: Promise<void> | null = null;
  private closed = false;
  private failure: string | null = null;

  private constructor(
    private readonly opts: RaftGroupOptions,
    loaded: { snapshot: Snapshot | null; boot: Parameters<typeof createRaftCore>[1] },
  ) {
    this.logger = (opts.logger ?? silentLogger).child({ group: opts.groupId, node: opts.id });
    this.sm = opts.stateMachine;
    this.snapshotEveryEntries = opts.snapshotEveryEntries ?? snapshotEveryEntriesDefault;
    const s = loaded.snapshot;
    if (s) this.sm.restore(s.data);
    this.applied = s?.meta.index ?? 0;
    this.appliedTerm = s?.meta.term ?? 0;
    this.appliedConf = s?.meta.conf ?? opts.initialConf;
    this.snapshotIndex = this.applied;
    this.hardStates = new HardStateWrites(loaded.boot.hardState);
    const random = opts.random ?? Math.random;
    const config: RaftConfig = { ...defaultRaftConfig(opts.id, random, Date.now), ...opts.raft, id: opts.id };
    this.core = createRaftCore(config, loaded.boot);
    this.ticksPerFiring = Math.max(1, config.heartbeatTicks);
    this.electionTimeoutTicks = config.electionTimeoutTicks;
    const st = this.core.status();
    this.soft = { leader: st.leader, role: st.role };
  }

  /** Loads the group's durable state, restores the state machine from the snapshot,
   * starts ticking and joins the transport. Entries committed before a restart are
   * re-applied through the normal path (they arrive as committed in the first Readies). */
  static async open(opts: RaftGroupOptions): Promise<RaftGroup> {
    const loaded = await opts.storage.load();
    const applied = loaded.snapshot?.meta.index ?? 0;
    const boot = { hardState: loaded.hardState, snapshot: loaded.snapshot, entries: loaded.entries, initialConf: opts.initialConf, applied };
    const group = new RaftGroup(opts, { snapshot: loaded.snapshot, boot });
    group.start();
    return group;
  }

  private start(): void {
    this.opts.transport.register(this.opts.groupId, (m) => this.onMessage(m));
    if (this.opts.host === undefined) {
      // tick-clock.ts says why one firing per heartbeat interval, and how late firings
      // catch up.
      const clock = new TickClock(this.opts.tickMs ?? tickMsDefault, this.ticksPerFiring, tickCatchUpMax, performance.now());
      this.tickTimer = setInterval(() => {
        // The ticks are made in setImmediate, after this turn's poll phase: libuv runs
        // timers before it reads sockets, so a process waking from a stall would otherwise
        // count the stall before reading the heartbeats that arrived during it, and
        // campaign for nothing.
        const due = clock.due(performance.now());
        setImmediate(() => this.tickBy(due));
      }, clock.firingMs);
    }
    this.schedule();
  }

  private tickBy(due: number): void {
    if (this.closed || this.failure !== null) return;
    for (let i = 0; i < due; i++) this.core.tick();
    void this.saveHeldHardState(this.hardStates.atFiring());
    // Most firings of a busy store's ticker change nothing in most groups (no heartbeat
    // due, no election): a Ready pass for each would find nothing to do, 5,000 times a
    // second on a store of 100 groups.
    if (this.core.hasReady()) this.schedule();
  }

  // ---------------------------------------------------------------- driven by a RaftHost

  /** @internal RaftHost's ticker: `due` ticks, or quiesce instead when the leader finds
   * the group idle for long enough. A quiesced group is not ticked at all. */
  hostTick(due: number): void {
    if (this.closed || this.failure !== null || this.quiescent) return;
    if (this.opts.host?.quiesce === true && this.leaderIdle()) {
      if (++this.idleFirings >= quiesceIdleFiringsMin) {
        this.quiesceAsLeader();
        return;
      }
    } else {
      this.idleFirings = 0;
    }
    this.tickBy(due);
  }

  /** Readies handled since open (the host sums them in its stats). */
  get readiesHandled(): number {
    return this.#readies;
  }

  /** Whether the group is quiesced (not ticking). */
  get quiesced(): boolean {
    return this.quiescent;
  }

  /** @internal Ticks again (the host counts `reason`). */
  wake(reason: WakeReason): void {
    if (!this.quiescent) return;
    this.quiescent = false;
    this.idleFirings = 0;
    this.opts.host?.woke(reason);
  }

  /** @internal The store of this group's leader went silent (store liveness): wake, and
   * count 1.5 election timeouts as run out (detecting the silence took longer), so the
   * campaign starts within the rest of the randomized [1, 2) timeouts: prompt, yet random
   * enough that two survivors do not split their votes forever. Also lifts the leader
   * lease that would make the other survivor ignore the pre-vote. */
  leaderStoreSilent(): void {
    if (this.closed || this.failure !== null) return;
    this.wake('leaderStoreSilent');
    if (this.core.status().role === 'leader') return;
    this.tickBy(this.electionTimeoutTicks + Math.floor(this.electionTimeoutTicks / 2));
  }

  /** @internal A majority of the voters' stores went silent: a leader steps down now, not
   * at check-quorum, and its waiting proposals are answered (noteSoftState). */
  quorumStoresSilent(): void {
    if (this.closed || this.failure !== null || this.core.status().role !== 'leader') return;
    this.logger.warn('a majority of the voters\' stores is silent; stepping down');
    this.core.stepDown();
    this.schedule();
  }

  private leaderIdle(): boolean {
    const pendingRequests = this.pending.size + this.reads.size + this.transfers.size;
    // A follower, or a busy leader, is not an idle leader: known without building its
    // status, at every firing. (The soft state lags the core by a Ready at most, and a
    // Ready not yet handled is itself a reason not to be idle.)
    if (this.soft.role !== 'leader' || pendingRequests > 0 || this.loop !== null || this.scheduled || this.hardStates.holding) return false;
    const st = this.core.status();
    if (st.role !== 'leader') return false;
    const readyPending = this.core.hasReady();
    const host = this.opts.host;
    const silentMembers = host === undefined ? [] : [...st.conf.voters, ...st.conf.learners].filter((m) => m !== this.opts.id && host.storeSilent(m));
    return leaderMayQuiesce({ self: this.opts.id, role: st.role, conf: st.conf, term: st.term, commit: st.commit, lastIndex: st.lastIndex, applied: st.applied, peers: st.peers, pendingRequests, readyPending, silentMembers });
  }

  /** Tells every member to stop ticking with us. The notice is a heartbeat: it needs no
   * durable write, and the core of a member that refuses it handles it as one. */
  private quiesceAsLeader(): void {
    const st = this.core.status();
    const host = this.opts.host;
    const members = [...st.conf.voters, ...st.conf.learners].filter((id) => id !== this.opts.id && host?.storeSilent(id) !== true);
    // min(match, commit) as in every core heartbeat: were leaderMayQuiesce ever wrong, a
    // follower would otherwise commit older-term entries it holds (the simulator showed it).
    const match = new Map(st.peers.map((p) => [p.id, p.matchIndex]));
    const notices = members.map((to) => ({ type: 'heartbeat' as const, from: this.opts.id, to, term: st.term, commit: Math.min(match.get(to) ?? 0, st.commit), context: '', quiesce: true }));
    this.opts.transport.send(this.opts.groupId, notices);
    this.quiescent = true;
    this.idleFirings = 0;
    this.opts.host?.quiesced();
  }

  /** A leader's notice, stepped as a heartbeat first (it commits and resets the election
   * timer), then followed only if quiesce.ts's follower rule holds — for the leader and
   * term known BEFORE the step too: the core takes any heartbeat of its term as coming
   * from the leader, so a notice from another member would otherwise vouch for itself. */
  private onQuiesceNotice(m: Extract<Message, { type: 'heartbeat' }>): void {
    const known = this.core.status();
    this.core.step(m);
    this.schedule();
    if (this.opts.host?.quiesce !== true) return;
    const st = this.core.status();
    const leader = known.leader === st.leader && known.term === st.term ? st.leader : null;
    const ok = followerMayQuiesce({ role: st.role, term: st.term, leader, lastIndex: st.lastIndex, commit: st.commit }, { from: m.from, term: m.term, commit: m.commit });
    if (ok && !this.quiescent) {
      this.quiescent = true;
      this.opts.host.quiesced();
    } else if (!ok) {
      this.wake('refusedNotice');
    }
  }

  // ---------------------------------------------------------------- client API

  /** Appends `data` to the log; resolves once it is applied here, with the state
   * machine's result. */
  propose(data: Uint8Array, opts: RequestOptions = {}): Promise<ProposeResult> {
    const refused = this.refusal();
    if (refused) return Promise.reject(refused);
    const r = this.core.propose(ownBytes(data));
    if (!r.ok) return Promise.reject(RaftGroupError.from(r.error));
    // Only an accepted request wakes the group: a follower refusing one needs no ticks, and
    // a woken follower of a quiesced leader would time out and disturb it with a pre-vote.
    this.wake('proposal');
    return this.track(r.value, opts);
  }

  /** ReadIndex: resolves once a linearizable read may be served from the local state
   * machine (the leader confirmed its leadership and this replica applied far enough). */
  read(opts: RequestOptions = {}): Promise<void> {
    const refused = this.refusal();
    if (refused) return Promise.reject(refused);
    // A leader's read needs heartbeat rounds; a follower's goes to the leader as a message,
    // which wakes the leader.
    if (this.core.status().role === 'leader') this.wake('read');
    const context = `${this.opts.id}/${++this.readSeq}`;
    const waiter = new Waiter<void>(
      opts.timeoutMs ?? requestTimeoutMsDefault,
      () => ioError('RAFT_ERR_TIMEOUT', `read ${context} timed out`, this.soft.leader),
      () => this.reads.delete(context),
    );
    this.reads.set(context, { index: null, waiter });
    this.core.readIndex(context);
    this.schedule();
    return waiter.promise;
  }

  /** Asks the leader (this replica) to hand leadership to `to`; resolves when `to` is
   * seen as leader here. */
  transferLeadership(to: NodeId, opts: RequestOptions = {}): Promise<void> {
    const refused = this.refusal();
    if (refused) return Promise.reject(refused);
    const r = this.core.transferLeadership(to);
    if (!r.ok) return Promise.reject(RaftGroupError.from(r.error));
    this.wake('transfer');
    if (to === this.opts.id) return Promise.resolve();
    const entry = {
      to,
      waiter: new Waiter<void>(
        opts.timeoutMs ?? requestTimeoutMsDefault,
        () => ioError('RAFT_ERR_TIMEOUT', `leadership transfer to ${to} did not complete`, this.soft.leader),
        () => this.transfers.delete(entry),
      ),
    };
    this.transfers.add(entry);
    this.schedule();
    return entry.waiter.promise;
  }

  addLearner(id: NodeId, opts: RequestOptions = {}): Promise<void> {
    return this.changeConf({ type: 'addLearner', node: id }, opts);
  }

  promote(id: NodeId, opts: RequestOptions = {}): Promise<void> {
    return this.changeConf({ type: 'promote', node: id }, opts);
  }

  removeMember(id: NodeId, opts: RequestOptions = {}): Promise<void> {
    return this.changeConf({ type: 'remove', node: id }, opts);
  }

  /** Resolves once the membership change is committed and applied here. */
  private async changeConf(change: ConfChange, opts: RequestOptions): Promise<void> {
    const refused = this.refusal();
    if (refused) throw refused;
    const r = this.core.proposeConfChange(change);
    if (!r.ok) throw RaftGroupError.from(r.error);
    this.wake('confChange');
    await this.track(r.value, opts);
  }

  status(): RaftStatus {
    return this.core.status();
  }

  get groupId(): string {
    return this.opts.groupId;
  }

  isLeader(): boolean {
    return this.core.status().role === 'leader';
  }

  leader(): NodeId | null {
    return this.core.status().leader;
  }

  /** 'role' fires with the new SoftState when the role or the known leader changes;
   * 'applied' with the applied index after each batch of applied entries; 'failed' once,
   * with the storage error, when this replica stopped for good (see failStorage) — the
   * library only stops the group, whoever hosts it decides what happens to the process. */
  on(event: 'role', cb: (s: SoftState) => void): void;
  on(event: 'applied', cb: (index: LogIndex) => void): void;
  on(event: 'failed', cb: (err: Error) => void): void;
  on(event: 'role' | 'applied' | 'failed', cb: ((s: SoftState) => void) | ((index: LogIndex) => void) | ((err: Error) => void)): void {
    if (event === 'role') this.roleListeners.push(cb as Listener<SoftState>);
    else if (event === 'applied') this.appliedListeners.push(cb as Listener<LogIndex>);
    else this.failedListeners.push(cb as Listener<Error>);
  }

  /** Why storage failed, or null while it has not. */
  get failedReason(): string | null {
    return this.failure;
  }

  /** Stops ticking and listening, waits for the Ready in flight, rejects every waiting
   * caller with RAFT_ERR_CLOSED and closes the storage. The transport stays open. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.tickTimer) clearInterval(this.tickTimer);
    this.tickTimer = null;
    this.opts.host?.left('closed');
    this.opts.transport.unregister(this.opts.groupId);
    await this.loop;
    if (this.failure === null) await this.saveHeldHardState(this.hardStates.take());
    this.rejectAll(() => ioError('RAFT_ERR_CLOSED', `raft group ${this.opts.groupId} on ${this.opts.id} closed`));
    await this.opts.storage.close();
  }

  // ---------------------------------------------------------------- the Ready loop

  /** Writes a commit-only hard state that was held back (hard-state-writes.ts), unsynced. */
  private saveHeldHardState(hardState: HardState | null): Promise<void> {
    if (hardState === null) return nothingHeld;
    return this.opts.storage.save({ hardState, entries: [], snapshot: null }, false).catch((e) => this.failStorage(e));
  }

  private onMessage(m: Message): void {
    if (this.closed || this.failure !== null) return;
    if (isQuiesceNotice(m)) return this.onQuiesceNotice(m);
    if (this.quiescent && wakesQuiesced(this.core.status().role, m)) this.wake('message');
    this.core.step(m);
    this.schedule();
  }

  private schedule(): void {
    if (this.scheduled || this.closed || this.failure !== null) return;
    this.scheduled = true;
    const host = this.opts.host;
    if (host?.runSoon !== undefined) host.runSoon(this.runScheduled);
    else setImmediate(this.runScheduled);
  }

  private readonly runScheduled = (): void => {
    this.scheduled = false;
    if (this.loop === null) this.loop = this.drain().finally(this.loopDone);
  };

  private readonly loopDone = (): void => {
    this.loop = null;
  };

  /** Handles Readies one at a time until the core has nothing more to say; one with
   * nothing to persist (a commit, an apply) is handled at once, without a promise. */
  private async drain(): Promise<void> {
    while (!this.closed && this.failure === null && this.core.hasReady()) {
      this.#readies++;
      const saving = this.handleReady(this.core.ready());
      if (saving !== null) await saving;
    }
  }

  private handleReady(rd: Ready): Promise<void> | null {
    this.noteSoftState(rd.softState);
    const { early, late } = splitEarlyMessages(rd, this.hardStates.durableTerm);
    if (early.length > 0) this.opts.transport.send(this.opts.groupId, early);
    // 1. persist, fsync'd when anything sent below may depend on it (a commit-only hard
    // state waits for a ticker firing: hard-state-writes.ts)
    const hardState = this.hardStates.forSave(rd.hardState, rd.entries.length);
    if (rd.snapshot === null && rd.entries.length === 0 && hardState === null) {
      this.afterPersist(rd, late);
      return null;
    }
    let saving: Promise<void>;
    try {
      saving = this.opts.storage.save({ hardState, entries: rd.entries, snapshot: rd.snapshot }, rd.mustSync);
    } catch (e) {
      saving = Promise.reject(e);
    }
    return saving.then(() => {
      if (hardState !== null) this.hardStates.written(hardState);
      if (!this.closed) this.afterPersist(rd, late); // nothing leaves after close(); the next open replays the log
    }, this.failStorage);
  }

  /** 2. send, 3. install and apply, 4. reads, 5. advance. */
  private afterPersist(rd: Ready, late: readonly Message[]): void {
    if (late.length > 0) this.opts.transport.send(this.opts.groupId, late);
    if (rd.snapshot !== null) this.installSnapshot(rd.snapshot);
    const appliedBefore = this.applied;
    for (const e of rd.committed) this.apply(e);
    for (const rs of rd.readStates) {
      const r = this.reads.get(rs.context);
      if (r) r.index = rs.index;
    }
    for (const rf of rd.readFailures) {
      const why = rf.reason === 'notLeader' ? 'no leader could confirm the read' : 'the read was dropped';
      this.reads.get(rf.context)?.waiter.reject(ioError('RAFT_ERR_NOT_LEADER', why, rd.softState.leader));
    }
    this.serveReads();
    // advance, then maybe snapshot what was applied
    this.core.advance(rd);
    if (this.applied !== appliedBefore) for (const cb of this.appliedListeners) cb(this.applied);
    this.snapshotIfDue();
  }

  /** Snapshots if the interval (or the host's smaller log share) ran out, compacting beside
   * the loop; a host also asks a quiet group holding more than its share. */
  snapshotIfDue(): void {
    if (this.closed || this.failure !== null || this.compacting) return;
    const every = Math.min(this.snapshotEveryEntries, this.opts.host?.logShare?.() ?? Infinity);
    if (!snapshotDue(this.applied, this.snapshotIndex, every, this.opts.id, this.appliedConf.voters)) return;
    this.compacting = true;
    const host = this.opts.host;
    void (host ? host.snapshotTurn(this.takeSnapshot) : this.takeSnapshot()).finally(() => (this.compacting = false));
  }

  /** The index applied here (the host's log budget weighs groups by its progress). */
  get appliedIndex(): LogIndex {
    return this.applied;
  }

  private apply(e: Entry): void {
    if (e.index <= this.applied) return;
    if (e.index !== this.applied + 1) assert.fail(`${this.opts.id}: applying ${e.index} after ${this.applied}`);
    let result: unknown;
    if (e.kind === 'normal') result = this.sm.apply(e);
    else if (e.kind === 'conf') this.appliedConf = applyConfChange(this.appliedConf, decodeConfChange(e.data));
    this.applied = e.index;
    this.appliedTerm = e.term;
    this.pending.applied(e.index, e.term, result);
  }

  private installSnapshot(s: Snapshot): void {
    if (s.meta.index <= this.applied) return;
    this.sm.restore(s.data);
    this.applied = s.meta.index;
    this.appliedTerm = s.meta.term;
    this.appliedConf = s.meta.conf;
    this.snapshotIndex = s.meta.index;
    this.pending.coveredBySnapshot(s.meta.index);
  }

  private serveReads(): void {
    for (const r of this.reads.values()) {
      if (r.index !== null && r.index <= this.applied) r.waiter.resolve();
    }
  }

  private readonly takeSnapshot = async (): Promise<void> => {
    if (this.closed || this.failure !== null) return; // closed while waiting for its turn
    const startedMs = performance.now();
    const index = this.applied;
    const data = this.sm.snapshot();
    const snapshot: Snapshot = { meta: { index, term: this.appliedTerm, conf: this.appliedConf }, data };
    this.core.compact(index, data);
    this.snapshotIndex = index;
    const serializedMs = performance.now() - startedMs;
    try {
      await this.opts.storage.compact(snapshot);
    } catch (e) {
      this.failStorage(e);
      return;
    }
    this.logger.info('snapshot taken, log compacted', { index, bytes: data.length, serializeMs: Math.round(serializedMs * 10) / 10, totalMs: Math.round((performance.now() - startedMs) * 10) / 10 });
  };

  private noteSoftState(s: SoftState): void {
    if (s.leader === this.soft.leader && s.role === this.soft.role) return;
    const steppedDownBlind = this.soft.role === 'leader' && s.role !== 'leader' && s.leader === null;
    this.soft = s;
    // A leader stepping down in its own term with no successor known (check-quorum, store
    // liveness) is cut off: its waiting entries may commit under the next leader or be
    // overwritten, perhaps long from now behind a partition. "Outcome unknown" at once lets
    // clients retry on the other side (a session's retry gets the first outcome). Told of
    // a successor or a newer term, it waits: the others' log settles each entry soon.
    if (steppedDownBlind) this.pending.leadershipLostBlind(this.core.term);
    // The one line per role or leader change (bench/failover-timeline.ts reads it).
    this.logger.info('raft role', { role: s.role, leader: s.leader, term: this.core.term });
    for (const t of this.transfers) if (s.leader === t.to) t.waiter.resolve();
    for (const cb of this.roleListeners) cb(s);
  }

  // ---------------------------------------------------------------- bookkeeping

  private track(index: LogIndex, opts: RequestOptions): Promise<ProposeResult> {
    const applied = this.pending.track(index, this.core.term, opts.timeoutMs ?? requestTimeoutMsDefault);
    this.schedule();
    return applied;
  }

  private refusal(): RaftGroupError | null {
    if (this.closed) return ioError('RAFT_ERR_CLOSED', `raft group ${this.opts.groupId} on ${this.opts.id} is closed`);
    if (this.failure !== null) return ioError('RAFT_ERR_FAILED', `raft group ${this.opts.groupId} failed: ${this.failure}`);
    return null;
  }

  /** Storage failed: from now on this replica acknowledges nothing (it may have lost
   * what it would be acknowledging). Restarting the process is the way back. */
  private readonly failStorage = (e: unknown): void => {
    if (this.failure !== null) return; // a second failing write reports nothing new
    const reason = e instanceof Error ? e.message : String(e);
    this.failure = reason;
    this.core.fail(reason);
    if (this.tickTimer) clearInterval(this.tickTimer);
    this.tickTimer = null;
    this.opts.host?.left('failed');
    this.logger.error('raft storage failed; replica stopped', { reason });
    this.rejectAll(() => ioError('RAFT_ERR_FAILED', `raft storage failed: ${reason}`));
    const err = e instanceof Error ? e : new Error(reason);
    for (const cb of this.failedListeners) cb(err);
  };

  private rejectAll(error: () => RaftGroupError): void {
    this.pending.rejectAll(error);
    for (const r of [...this.reads.values()]) r.waiter.reject(error());
    for (const t of [...this.transfers]) t.waiter.reject(error());
  }
}
