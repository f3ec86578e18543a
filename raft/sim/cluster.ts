// The simulated cluster: stores, each hosting one replica of several groups, driven as a
// store drives them. Each store turn takes one Ready from every group that has one,
// writes them all to the store's shared disk as one batch, fsyncs it once if any of them
// needs it, and only when that fsync returns sends the messages that depend on it (a
// leader's appends leave at once, as raft/group sends them), applies and advances; each
// turn's messages to a peer store go in one frame. While the fsync runs the
// cores keep taking messages and ticks; their next Readies wait for the next batch.
// A store's ticker ticks every awake replica; leaders quiesce idle groups, liveness pings
// between stores wake quiesced groups whose leader's store went silent (quiesce.ts).
// Crashes strike whole stores between any two steps. Every Ready is fed to its group's
// safety checks.

import assert from 'node:assert';
import type { ConfState, Message, NodeId, RaftBoot, Ready } from '../types.js';
import { defaultRaftConfig } from '../core.js';
import type { PlantedBugs } from '../core/planted-bugs.js';
import { SafetyChecks } from './checks.js';
import type { Violation } from './checks.js';
import type { ClientPort, ClientReply } from './clients.js';
import type { RegisterCommand } from './cas-register.js';
import { CasRegister, encodeCommand } from './cas-register.js';
import { livenessPingMs, readyRoundsMax, tickMsBase } from './limits.js';
import { Network } from './network.js';
import { type BugName, createRaftCoreWithBugs, type DriverBugs, driverBugs, plantBugs } from './planted-bugs.js';
import type { Prng } from './prng.js';
import type { FaultProfile } from './profile.js';
import { Quiescer } from './quiescer.js';
import { applyEntry, compactReplica, failReads, installSnapshot, queueReads, resetCompaction, serveReads } from './replica.js';
import type { Scheduler } from './scheduler.js';
import { SimNode } from './sim-node.js';
import type { Frame } from './store.js';
import { SimStore } from './store.js';
import type { Trace } from './trace.js';

export type ClusterOptions = Readonly<{
  sched: Scheduler;
  prng: Prng;
  profile: FaultProfile;
  bugs: ReadonlySet<BugName>;
  trace: Trace;
  /** Where every group's safety checks report. */
  violations: Violation[];
  groups: number;
  initialVoters: readonly NodeId[];
}>;

export type SimGroup = { readonly id: number; readonly replicas: Map<NodeId, SimNode>; readonly checks: SafetyChecks; readonly port: ClientPort };

export type ClusterStats = {
  crashes: number;
  restarts: number;
  /** Shared batches written, and those that needed an fsync. */
  batches: number;
  syncedBatches: number;
  /** Readies that needed an fsync: with several groups per store, more than syncedBatches. */
  syncedReadies: number;
  frames: number;
  /** Raft messages sent, and the frames (pings aside) that carried them. */
  messages: number;
  messageFrames: number;
  /** Groups a leader quiesced, followers that quiesced on a notice, replicas woken. */
  quiesces: number;
  followerQuiesces: number;
  wakes: number;
  silences: number;
  /** Followers whose leader's store went silent, their election timeout counted as run out. */
  campaignsHastened: number;
  /** Leaders that stepped down because a majority of their voters' stores went silent. */
  leadersSteppedDown: number;
  /** Replica ticks made, and those skipped because the replica was quiesced. */
  ticks: number;
  ticksSkipped: number;
};

/** A Ready in the store's batch, with the messages still to send once it is durable. */
type Pending = { node: SimNode; rd: Ready; late: readonly Message[] };

export class Cluster {
  /** Every store ever made, retired ones included (their disks outlive them). */
  readonly stores = new Map<NodeId, SimStore>();
  /** The ids of stores not retired, in the order they were made. */
  private active: NodeId[] = [];
  readonly groups: SimGroup[] = [];
  readonly network: Network<Frame>;
  readonly initialConf: ConfState;
  readonly stats: ClusterStats = {
    crashes: 0, restarts: 0, batches: 0, syncedBatches: 0, syncedReadies: 0, frames: 0, messages: 0, messageFrames: 0, quiesces: 0, followerQuiesces: 0, wakes: 0, silences: 0, campaignsHastened: 0, leadersSteppedDown: 0, ticks: 0, ticksSkipped: 0,
  };
  private readonly sched: Scheduler;
  private readonly prng: Prng;
  private readonly profile: FaultProfile;
  private readonly trace: Trace;
  private readonly coreBugs: PlantedBugs;
  readonly driverBugs: DriverBugs;
  private readonly quiescer: Quiescer;
  /** After the storm no crash strikes inside a turn any more. */
  private calm = false;

  constructor(o: ClusterOptions) {
    assert(o.groups >= 1, 'a cluster needs a group');
    this.sched = o.sched;
    this.prng = o.prng;
    this.profile = o.profile;
    this.trace = o.trace;
    this.coreBugs = plantBugs(o.bugs);
    this.driverBugs = driverBugs(o.bugs);
    this.quiescer = new Quiescer({
      sched: o.sched, trace: o.trace, stats: this.stats, bugs: this.driverBugs, electionTimeoutTicks: o.profile.core.electionTimeoutTicks,
    });
    this.initialConf = { voters: [...o.initialVoters], learners: [] };
    this.network = new Network<Frame>(o.sched, o.prng.fork('network'), o.profile.network, (f) => this.deliverFrame(f));
    for (const id of o.initialVoters) this.createStore(id);
    for (let g = 0; g < o.groups; g++) {
      const label = o.groups === 1 ? '' : `group ${g}: `;
      const checks = new SafetyChecks(() => this.sched.nowMs, o.violations, label);
      this.groups.push({ id: g, replicas: new Map(), checks, port: this.portOf(g) });
      for (const id of o.initialVoters) this.addReplica(g, id);
    }
    for (const s of this.stores.values()) this.bootStore(s);
  }

  get crashes(): number {
    return this.stats.crashes;
  }

  private createStore(id: NodeId): SimStore {
    assert(!this.stores.has(id), `store ${id} exists`);
    const p = this.prng;
    const skew = 1 + (p.next() * 2 - 1) * this.profile.tickSkewMax;
    const tickMs = tickMsBase * (skew >= 1 ? skew : 1 / (2 - skew));
    const rate = 1 + (p.next() * 2 - 1) * 0.001;
    const offsetMs = (p.next() * 2 - 1) * this.profile.clockOffsetMsMax;
    const s = new SimStore(id, p.fork(`store-${id}`), tickMs, rate, offsetMs);
    this.stores.set(id, s);
    this.active.push(id);
    return s;
  }

  /** Places a replica of `group` on store `id` (created and started if new), with an empty
   * log; started at once if its store is up. */
  addReplica(group: number, id: NodeId): SimNode {
    const g = this.groups[group]!;
    assert(!g.replicas.has(id), `group ${group} has a replica on ${id}`);
    let s = this.stores.get(id);
    const fresh = s === undefined;
    if (s === undefined) s = this.createStore(id);
    assert(!s.hostedEver.has(group), `store ${id} hosted group ${group} before`);
    const node = new SimNode(id, group, s.disk.open(), s.prng.fork(`group-${group}`), this.initialConf);
    s.replicas.set(group, node);
    s.hostedEver.add(group);
    g.replicas.set(id, node);
    if (fresh) this.bootStore(s);
    else if (s.up) {
      this.bootReplica(s, node);
      this.kick(s);
    }
    return node;
  }

  /** A store that may take a new replica of `group`: an active one that never hosted it,
   * or a new one while fewer than storesMax are active. */
  storeForNewReplica(group: number, newId: () => NodeId, storesMax: number): NodeId | null {
    const candidates = this.active.filter((id) => !this.stores.get(id)!.hostedEver.has(group));
    if (candidates.length > 0 && (this.active.length >= storesMax || this.prng.chance(0.5))) return this.prng.pick(candidates);
    return this.active.length < storesMax ? newId() : null;
  }

  /** Stores not retired (a store is retired once it hosts no replica any more). */
  activeStores(): readonly NodeId[] {
    return this.active;
  }

  members(group: number): NodeId[] {
    const ids: NodeId[] = [];
    for (const n of this.groups[group]!.replicas.values()) if (!n.removed) ids.push(n.id);
    return ids;
  }

  liveStores(): SimStore[] {
    return this.active.map((id) => this.stores.get(id)!).filter((s) => s.up);
  }

  /** The live replica of `group` claiming leadership at the highest term, if any. */
  leader(group: number): SimNode | null {
    let best: SimNode | null = null;
    let bestTerm = -1;
    for (const n of this.groups[group]!.replicas.values()) {
      if (n.core === null) continue;
      const st = n.core.status();
      if (st.role === 'leader' && st.term > bestTerm) {
        best = n;
        bestTerm = st.term;
      }
    }
    return best;
  }

  /** The store leading the most groups (ties: the first made), or null with no leader. */
  storeLeadingMost(): { store: SimStore; groups: number } | null {
    const count = new Map<NodeId, number>();
    for (const g of this.groups) {
      const l = this.leader(g.id);
      if (l !== null) count.set(l.id, (count.get(l.id) ?? 0) + 1);
    }
    let best: { store: SimStore; groups: number } | null = null;
    for (const s of this.stores.values()) {
      const c = count.get(s.id) ?? 0;
      if (c > 0 && (best === null || c > best.groups)) best = { store: s, groups: c };
    }
    return best;
  }

  // ---- life cycle -------------------------------------------------------------------

  private bootStore(s: SimStore): void {
    s.up = true;
    const incarnation = ++s.incarnation;
    s.bootMs = this.sched.nowMs;
    s.turnScheduled = false;
    s.syncing = false;
    s.outbox.clear();
    s.lastHeardMs.clear();
    s.silent.clear();
    for (const node of s.replicas.values()) if (!node.removed) this.bootReplica(s, node);
    const tick = (): void => {
      if (s.incarnation !== incarnation) return;
      this.tickStore(s);
      this.sched.after(s.tickMs, tick);
    };
    this.sched.after(s.prng.next() * s.tickMs, tick);
    const ping = (): void => {
      if (s.incarnation !== incarnation) return;
      for (const other of this.active) if (other !== s.id) this.sendFrame({ from: s.id, to: other, items: [] });
      this.sched.after(livenessPingMs, ping);
    };
    this.sched.after(s.prng.next() * livenessPingMs, ping);
    this.kick(s);
  }

  private bootReplica(s: SimStore, node: SimNode): void {
    const d = node.disk.load();
    node.sm = new CasRegister();
    node.appliedConf = this.initialConf;
    node.applied = 0;
    if (d.snapshot !== null) {
      node.sm.restore(d.snapshot.data);
      node.applied = d.snapshot.meta.index;
      node.appliedConf = d.snapshot.meta.conf;
    }
    node.commitSeen = Math.max(d.hardState.commit, node.applied);
    node.leaderTerm = 0;
    node.durableTerm = d.hardState.term;
    node.inflight = null;
    node.quiesced = false;
    node.idleTicks = 0;
    node.progressKey = '';
    resetCompaction(node);
    const boot: RaftBoot = { hardState: d.hardState, snapshot: d.snapshot, entries: d.entries, initialConf: this.initialConf, applied: node.applied };
    const clock = (): number => this.sched.nowMs * s.clockRate + s.clockOffsetMs;
    const random = node.prng.fork(`core-${s.incarnation}`);
    const config = { ...defaultRaftConfig(node.id, () => random.next(), clock), ...this.profile.core };
    node.core = createRaftCoreWithBugs(config, boot, this.coreBugs);
    this.trace.record(this.sched.nowMs, `boot ${node.group}/${node.id} term=${d.hardState.term} vote=${d.hardState.vote} commit=${d.hardState.commit} last=${node.disk.lastIndex()}`);
  }

  /** The store's process dies: every replica at once, and the disk's unsynced tail of
   * every group's log with it. */
  crash(s: SimStore, why: string, restart: boolean): void {
    if (!s.up) return;
    this.stats.crashes++;
    this.trace.record(this.sched.nowMs, `crash ${s.id} (${why})`);
    s.up = false;
    s.incarnation++;
    s.outbox.clear();
    s.disk.crash([...s.replicas.values()].map((n) => n.disk.log));
    for (const node of s.replicas.values()) {
      node.core = null;
      node.inflight = null;
      node.quiesced = false;
      node.abandonClients('crash');
    }
    if (!restart) return;
    const incarnation = s.incarnation;
    const p = this.profile;
    this.sched.after(this.prng.range(p.restartDelayMsMin, p.restartDelayMsMax), () => {
      if (s.incarnation === incarnation) this.restart(s);
    });
  }

  /** The storm is over: crashes inside turns stop (the fault injector stops the rest). */
  becomeCalm(): void {
    this.calm = true;
  }

  private strikes(p: number): boolean {
    return p > 0 && !this.calm && this.prng.chance(p);
  }

  restart(s: SimStore): void {
    if (s.up || s.retired) return;
    this.stats.restarts++;
    this.bootStore(s);
  }

  /** The replica of `group` on `id` leaves for good (its store lives on). */
  decommission(group: number, id: NodeId): void {
    const node = this.groups[group]!.replicas.get(id);
    if (node === undefined || node.removed) return;
    this.trace.record(this.sched.nowMs, `decommission ${group}/${id}`);
    node.removed = true;
    node.core = null;
    node.inflight = null;
    node.abandonClients('decommissioned');
    const s = this.stores.get(id)!;
    for (const n of s.replicas.values()) if (!n.removed) return;
    // Nothing left to host: the store is shut down for good, as an operator would, so the
    // fleet of stores (and their liveness pings) stays bounded while membership churns.
    this.trace.record(this.sched.nowMs, `retire ${s.id}`);
    s.retired = true;
    s.up = false;
    s.incarnation++;
    s.outbox.clear();
    this.active = this.active.filter((x) => x !== s.id);
  }

  storeOf(node: SimNode): SimStore {
    return this.stores.get(node.id)!;
  }

  // ---- ticks, quiescence, liveness ----------------------------------------------------

  private tickStore(s: SimStore): void {
    for (const node of s.replicas.values()) {
      if (node.core === null) continue;
      if (node.quiesced || this.quiescer.maybeQuiesce(s, node)) {
        this.stats.ticksSkipped++;
        continue;
      }
      this.stats.ticks++;
      node.core!.tick();
    }
    if (s.prng.chance(this.profile.flushPerTickP)) s.disk.flush();
    this.quiescer.checkSilence(s, this.active);
    this.flushOutbox(s);
    this.kick(s);
  }

  /** A replica is asked to do work (propose, read, transfer, change membership). */
  wakeForWork(node: SimNode, why: string): void {
    this.quiescer.wakeForWork(node, why);
  }

  // ---- frames -----------------------------------------------------------------------

  private sendFrame(f: Frame): void {
    this.stats.frames++;
    if (f.items.length > 0) {
      this.stats.messageFrames++;
      this.stats.messages += f.items.length;
    }
    this.network.send(f);
  }

  private flushOutbox(s: SimStore): void {
    if (s.outbox.size === 0) return;
    for (const [to, items] of s.outbox) this.sendFrame({ from: s.id, to, items });
    s.outbox.clear();
  }

  private deliverFrame(f: Frame): void {
    const s = this.stores.get(f.to);
    if (s === undefined || !s.up) return;
    s.lastHeardMs.set(f.from, this.sched.nowMs);
    if (s.silent.delete(f.from)) this.quiescer.storeBack(s, f.from);
    if (f.items.length === 0) return;
    for (const item of f.items) {
      const node = s.replicas.get(item.group);
      const m = item.message;
      if (node === undefined || node.core === null) continue;
      this.trace.record(this.sched.nowMs, `${m.type === 'heartbeat' && m.quiesce === true ? 'notice' : m.type} ${item.group}/${m.from}>${m.to} t${m.term}`);
      this.quiescer.onMessage(node, m);
    }
    this.kick(s);
  }

  // ---- the store's turn: one batch, one fsync -----------------------------------------

  kick(s: SimStore): void {
    if (s.turnScheduled || !s.up) return;
    s.turnScheduled = true;
    const incarnation = s.incarnation;
    this.sched.after(0, () => {
      if (s.incarnation !== incarnation) return;
      s.turnScheduled = false;
      this.turn(s);
      this.flushOutbox(s);
    });
  }

  private turn(s: SimStore): void {
    const p = this.profile;
    for (let round = 0; s.up && !s.syncing; round++) {
      assert(round < readyRoundsMax, `${s.id}: Readies keep coming`);
      const batch: Pending[] = [];
      let mustSync = false;
      for (const node of s.replicas.values()) {
        const core = node.core;
        if (core === null || node.inflight !== null || !core.hasReady()) continue;
        const rd = core.ready();
        node.inflight = rd;
        if (this.strikes(p.crashMidReadyP)) return this.crash(s, 'before persisting a batch', true);
        const pivotal = this.persist(node, rd);
        // A leader just elected or just committing is at the moments Raft's subtle cases
        // hinge on (figure 8): its process may be killed right after this write, before
        // anything of the Ready leaves. A killed process leaves its writes in the OS page
        // cache, which reaches the disk (unlike a power loss, which crash() models).
        if (pivotal && this.strikes(p.crashPivotalLeaderP)) {
          s.disk.flush();
          return this.crash(s, 'leader elected or committing: killed after writing, before sending', true);
        }
        batch.push({ node, rd, late: this.sendEarly(s, node, rd) });
        if (rd.mustSync) {
          mustSync = true;
          this.stats.syncedReadies++;
        }
      }
      if (batch.length === 0) return;
      this.stats.batches++;
      if (!mustSync) {
        this.finish(s, batch);
        continue;
      }
      this.stats.syncedBatches++;
      const upTo = s.disk.beginSync();
      const incarnation = s.incarnation;
      const fsyncMs = 0.05 + this.prng.next() * p.fsyncMsMax;
      if (this.driverBugs.sharedBatchAckedBeforeSync) {
        this.sched.after(fsyncMs, () => {
          if (s.incarnation === incarnation) s.disk.completeSync(upTo);
        });
        this.finish(s, batch);
        continue;
      }
      s.syncing = true;
      this.sched.after(fsyncMs, () => {
        if (s.incarnation !== incarnation) return;
        s.syncing = false;
        s.disk.completeSync(upTo);
        this.finish(s, batch);
        this.flushOutbox(s);
        this.kick(s);
      });
      return;
    }
  }

  /** Writes one Ready to the page cache and shows it to the checks; returns whether it
   * finds a leader at a pivotal moment (just elected, or just advanced its commit). */
  private persist(node: SimNode, rd: Ready): boolean {
    const checks = this.groups[node.group]!.checks;
    if (rd.snapshot !== null || rd.entries.length > 0 || rd.hardState !== null) {
      node.disk.write({ snapshot: rd.snapshot, entries: rd.entries, hardState: rd.hardState }, false);
    }
    if (rd.entries.length > 0) checks.onPersist(node.id, rd.entries, node.disk);
    let pivotal = false;
    if (rd.hardState !== null && rd.hardState.commit > node.commitSeen) {
      checks.onCommit(node.id, rd.hardState.term, node.commitSeen, rd.hardState.commit, node.disk);
      node.commitSeen = rd.hardState.commit;
      pivotal = rd.softState.role === 'leader';
    }
    if (rd.softState.role === 'leader') {
      const term = node.core!.status().term;
      if (term !== node.leaderTerm) {
        node.leaderTerm = term;
        pivotal = true;
        this.trace.record(this.sched.nowMs, `leader ${node.group}/${node.id} term ${term}`);
        checks.onLeader(node.id, term, node.disk);
      }
    }
    return pivotal;
  }

  /** As raft/group does (Raft thesis §10.2.1): a leader's appends, heartbeats and snapshot
   * chunks do not depend on its own log being durable — followers may hold entries the
   * leader then loses, as if it had crashed just after sending — so they leave with this
   * turn's frames while the fsync runs; the leader counts itself for commit only after
   * advance(). Not when this Ready changes the term: that must be durable first. Returns
   * the messages that wait for the fsync. */
  private sendEarly(s: SimStore, node: SimNode, rd: Ready): readonly Message[] {
    if (rd.softState.role !== 'leader' || rd.messages.length === 0) return rd.messages;
    if (rd.hardState !== null && rd.hardState.term !== node.durableTerm) return rd.messages;
    const late: Message[] = [];
    for (const m of rd.messages) {
      if (m.type === 'append' || m.type === 'heartbeat' || m.type === 'snapshot') s.queue(m.to, { group: node.group, message: m });
      else late.push(m);
    }
    return late;
  }

  /** The batch is durable (or taken to be): each Ready's messages go to the outbox, then
   * apply, reads, advance — unless the store crashes in between. */
  private finish(s: SimStore, batch: readonly Pending[]): void {
    const incarnation = s.incarnation;
    for (const { node, rd, late } of batch) {
      if (s.incarnation !== incarnation) return;
      if (node.core === null) continue; // decommissioned meanwhile
      this.complete(s, node, rd, late);
    }
  }

  private complete(s: SimStore, node: SimNode, rd: Ready, late: readonly Message[]): void {
    const core = node.core!;
    const p = this.profile;
    node.inflight = null;
    if (rd.hardState !== null) node.durableTerm = rd.hardState.term;
    if (this.strikes(p.crashMidReadyP)) return this.crash(s, 'between persisting and sending', true);
    for (const m of late) s.queue(m.to, { group: node.group, message: m });
    if (late.some(isAck) && this.strikes(p.crashAfterAckP)) {
      this.flushOutbox(s);
      return this.crash(s, 'right after granting a vote', true);
    }
    if (rd.snapshot !== null) installSnapshot(node, rd.snapshot, this.trace, this.sched.nowMs);
    const checks = this.groups[node.group]!.checks;
    for (const e of rd.committed) applyEntry(node, e, checks);
    queueReads(node, rd.readStates);
    failReads(node, rd.readFailures, rd.softState.leader);
    serveReads(node);
    core.advance(rd);
    compactReplica(node, this.trace, this.sched.nowMs);
  }

  // ---- clients ------------------------------------------------------------------------

  private portOf(group: number): ClientPort {
    return {
      members: () => this.members(group),
      submit: (id, command, done) => this.submit(group, id, command, done),
      read: (id, key, context, done) => this.read(group, id, key, context, done),
    };
  }

  submit(group: number, id: NodeId, command: RegisterCommand, done: (r: ClientReply) => void): void {
    const node = this.groups[group]!.replicas.get(id);
    if (node === undefined || node.core === null) return done({ type: 'fail', reason: 'unreachable', leaderHint: null });
    this.wakeForWork(node, 'proposal');
    const r = node.core.propose(encodeCommand(command));
    if (!r.ok) return done({ type: 'fail', reason: r.error.code, leaderHint: r.error.leaderHint });
    // A proposal still waiting at this index lost its entry to a truncation here; it may
    // yet be committed through another node's log, so its outcome is unknown.
    node.proposals.get(r.value)?.done({ type: 'info', reason: 'index reused after truncation' });
    node.proposals.set(r.value, { command, done });
    this.kick(this.storeOf(node));
  }

  read(group: number, id: NodeId, key: string, context: string, done: (r: ClientReply) => void): void {
    const node = this.groups[group]!.replicas.get(id);
    if (node === undefined || node.core === null) return done({ type: 'fail', reason: 'unreachable', leaderHint: null });
    this.wakeForWork(node, 'read');
    node.reads.set(context, { key, done });
    node.core.readIndex(context);
    this.kick(this.storeOf(node));
  }
}

function isAck(m: Message): boolean {
  return m.type === 'voteResp' && !m.reject;
}
