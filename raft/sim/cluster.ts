// The simulated cluster: nodes driven exactly as the real driver drives a core (persist,
// then send, then apply, then serve reads, then advance), over the simulated network and
// disks, with crashes that may strike between any two of those steps. Every Ready is fed
// to the safety checks. The cluster is also the clients' way in (ClientPort).

import assert from 'node:assert';
import type { ConfChange, ConfState, Message, NodeId, RaftBoot, Ready } from '../types.js';
import { defaultRaftConfig } from '../core.js';
import type { PlantedBugs } from '../core/planted-bugs.js';
import type { SafetyChecks } from './checks.js';
import type { ClientPort, ClientReply } from './clients.js';
import type { RegisterCommand } from './cas-register.js';
import { CasRegister, decodeCommand, encodeCommand } from './cas-register.js';
import { compactEveryEntriesMax, compactEveryEntriesMin, readyRoundsMax, tickMsBase } from './limits.js';
import { Network } from './network.js';
import { type BugName, createRaftCoreWithBugs, plantBugs } from './planted-bugs.js';
import type { Prng } from './prng.js';
import type { FaultProfile } from './profile.js';
import type { Scheduler } from './scheduler.js';
import { applyConfChange, SimNode } from './sim-node.js';
import type { Trace } from './trace.js';

const decoder = new TextDecoder();

export type ClusterOptions = Readonly<{
  sched: Scheduler;
  prng: Prng;
  profile: FaultProfile;
  bugs: ReadonlySet<BugName>;
  trace: Trace;
  checks: SafetyChecks;
  initialVoters: readonly NodeId[];
}>;

export class Cluster implements ClientPort {
  readonly nodes = new Map<NodeId, SimNode>();
  readonly network: Network;
  readonly initialConf: ConfState;
  private readonly sched: Scheduler;
  private readonly prng: Prng;
  private readonly profile: FaultProfile;
  private readonly trace: Trace;
  private readonly checks: SafetyChecks;
  private readonly bugs: PlantedBugs;
  restarts = 0;
  crashes = 0;

  constructor(o: ClusterOptions) {
    this.sched = o.sched;
    this.prng = o.prng;
    this.profile = o.profile;
    this.trace = o.trace;
    this.checks = o.checks;
    this.bugs = plantBugs(o.bugs);
    this.initialConf = { voters: [...o.initialVoters], learners: [] };
    this.network = new Network(o.sched, o.prng.fork('network'), o.profile.network, (m) => this.deliver(m));
    for (const id of o.initialVoters) this.addNode(id);
  }

  /** Creates a node with an empty disk and starts it. */
  addNode(id: NodeId): SimNode {
    assert(!this.nodes.has(id), `node ${id} exists`);
    const p = this.prng;
    const skew = 1 + (p.next() * 2 - 1) * this.profile.tickSkewMax;
    const tickMs = tickMsBase * (skew >= 1 ? skew : 1 / (2 - skew));
    const rate = 1 + (p.next() * 2 - 1) * 0.001;
    const offsetMs = (p.next() * 2 - 1) * this.profile.clockOffsetMsMax;
    const node = new SimNode(id, p.fork(`node-${id}`), tickMs, rate, offsetMs, this.initialConf);
    this.nodes.set(id, node);
    this.boot(node);
    return node;
  }

  members(): readonly NodeId[] {
    const ids: NodeId[] = [];
    for (const n of this.nodes.values()) if (!n.removed) ids.push(n.id);
    return ids;
  }

  liveNodes(): SimNode[] {
    return [...this.nodes.values()].filter((n) => n.up);
  }

  /** The live node claiming leadership at the highest term, if any. */
  leader(): SimNode | null {
    let best: SimNode | null = null;
    let bestTerm = -1;
    for (const n of this.nodes.values()) {
      if (n.core === null) continue;
      const st = n.core.status();
      if (st.role === 'leader' && st.term > bestTerm) {
        best = n;
        bestTerm = st.term;
      }
    }
    return best;
  }

  // ---- life cycle -------------------------------------------------------------------

  private boot(node: SimNode): void {
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
    node.compactAt = node.applied + this.compactInterval(node);
    const boot: RaftBoot = { hardState: d.hardState, snapshot: d.snapshot, entries: d.entries, initialConf: this.initialConf, applied: node.applied };
    const incarnation = ++node.incarnation;
    const clock = (): number => this.sched.nowMs * node.clockRate + node.clockOffsetMs;
    const random = node.prng.fork(`core-${incarnation}`);
    const config = { ...defaultRaftConfig(node.id, () => random.next(), clock), ...this.profile.core };
    node.core = createRaftCoreWithBugs(config, boot, this.bugs);
    this.trace.record(this.sched.nowMs, `boot ${node.id} term=${d.hardState.term} vote=${d.hardState.vote} commit=${d.hardState.commit} last=${node.disk.lastIndex()}`);
    const tick = (): void => {
      if (node.incarnation !== incarnation || node.core === null) return;
      node.core.tick();
      if (node.prng.chance(this.profile.flushPerTickP)) node.disk.flush();
      this.drive(node);
      this.sched.after(node.tickMs, tick);
    };
    this.sched.after(node.prng.next() * node.tickMs, tick);
    this.drive(node);
  }

  crash(node: SimNode, why: string, restart: boolean): void {
    if (node.core === null) return;
    this.crashes++;
    this.trace.record(this.sched.nowMs, `crash ${node.id} (${why})`);
    node.core = null;
    node.incarnation++;
    node.disk.crash();
    node.abandonClients('crash');
    if (!restart) return;
    const incarnation = node.incarnation;
    const p = this.profile;
    this.sched.after(this.prng.range(p.restartDelayMsMin, p.restartDelayMsMax), () => {
      if (node.incarnation === incarnation && !node.removed) this.restart(node);
    });
  }

  restart(node: SimNode): void {
    if (node.core !== null || node.removed) return;
    this.restarts++;
    this.boot(node);
  }

  /** Out of the cluster for good. */
  decommission(node: SimNode): void {
    this.trace.record(this.sched.nowMs, `decommission ${node.id}`);
    this.crash(node, 'decommissioned', false);
    node.removed = true;
  }

  private compactInterval(node: SimNode): number {
    return node.prng.range(compactEveryEntriesMin, compactEveryEntriesMax);
  }

  // ---- message and ready handling -----------------------------------------------------

  private deliver(m: Message): void {
    const node = this.nodes.get(m.to);
    if (node === undefined || node.core === null) return;
    this.trace.record(this.sched.nowMs, `${m.type} ${m.from}>${m.to} t${m.term}`);
    node.core.step(m);
    this.drive(node);
  }

  drive(node: SimNode): void {
    for (let i = 0; node.core !== null && node.core.hasReady(); i++) {
      assert(i < readyRoundsMax, `${node.id}: hasReady() stays true`);
      this.handleReady(node, node.core.ready());
    }
  }

  private handleReady(node: SimNode, rd: Ready): void {
    const core = node.core!;
    const p = this.profile;
    if (p.crashMidReadyP > 0 && this.prng.chance(p.crashMidReadyP)) return this.crash(node, 'before persisting a ready', true);
    // 1. persist
    if (rd.snapshot !== null || rd.entries.length > 0 || rd.hardState !== null) {
      node.disk.write({ snapshot: rd.snapshot, entries: rd.entries, hardState: rd.hardState }, rd.mustSync);
    }
    if (rd.entries.length > 0) this.checks.onPersist(node.id, rd.entries, node.disk);
    // A leader that was just elected or just moved its commit index is at the moments
    // Raft's subtle cases hinge on (figure 8): those get their own crash chance.
    let pivotal = false;
    if (rd.hardState !== null && rd.hardState.commit > node.commitSeen) {
      this.checks.onCommit(node.id, rd.hardState.term, node.commitSeen, rd.hardState.commit, node.disk);
      node.commitSeen = rd.hardState.commit;
      pivotal = rd.softState.role === 'leader';
    }
    if (rd.softState.role === 'leader') {
      const term = core.status().term;
      if (term !== node.leaderTerm) {
        node.leaderTerm = term;
        pivotal = true;
        this.trace.record(this.sched.nowMs, `leader ${node.id} term ${term}`);
        this.checks.onLeader(node.id, term, node.disk);
      }
    }
    if (p.crashMidReadyP > 0 && this.prng.chance(p.crashMidReadyP)) return this.crash(node, 'between persisting and sending', true);
    if (pivotal && p.crashPivotalLeaderP > 0 && this.prng.chance(p.crashPivotalLeaderP)) {
      return this.crash(node, 'leader elected or committing, before sending', true);
    }
    // 2. send
    for (const m of rd.messages) this.network.send(m);
    if (p.crashAfterAckP > 0 && rd.messages.some(isAck) && this.prng.chance(p.crashAfterAckP)) {
      return this.crash(node, 'right after granting a vote', true);
    }
    // 3. install the snapshot, apply committed entries
    if (rd.snapshot !== null) this.installSnapshot(node, rd);
    for (const e of rd.committed) this.apply(node, e);
    // 4. reads
    for (const rs of rd.readStates) {
      const read = node.reads.get(rs.context);
      if (read === undefined) continue;
      node.reads.delete(rs.context);
      node.readWaits.push({ index: rs.index, read });
    }
    for (const rf of rd.readFailures) {
      const read = node.reads.get(rf.context);
      if (read === undefined) continue;
      node.reads.delete(rf.context);
      read.done({ type: 'fail', reason: rf.reason, leaderHint: rd.softState.leader });
    }
    this.serveReads(node);
    // 5. advance
    core.advance(rd);
    if (node.applied >= node.compactAt) this.compact(node);
  }

  private installSnapshot(node: SimNode, rd: Ready): void {
    const s = rd.snapshot!;
    if (s.meta.index <= node.applied) return;
    this.trace.record(this.sched.nowMs, `install ${node.id} snapshot ${s.meta.index}`);
    node.sm.restore(s.data);
    node.applied = s.meta.index;
    node.appliedConf = s.meta.conf;
    node.compactAt = node.applied + this.compactInterval(node);
    for (const [index, prop] of node.proposals) {
      if (index > s.meta.index) continue;
      node.proposals.delete(index);
      prop.done({ type: 'info', reason: 'covered by a snapshot' });
    }
  }

  private apply(node: SimNode, e: Ready['committed'][number]): void {
    if (e.index <= node.applied) return;
    if (e.index !== node.applied + 1) {
      this.checks.report('state-machine-safety', `${node.id} applies index ${e.index} after ${node.applied}`);
      return;
    }
    this.checks.onApply(node.id, e);
    node.applied = e.index;
    let result: ClientReply | null = null;
    let command: RegisterCommand | null = null;
    if (e.kind === 'conf') {
      node.appliedConf = applyConfChange(node.appliedConf, JSON.parse(decoder.decode(e.data)) as ConfChange);
    } else if (e.kind === 'normal') {
      command = decodeCommand(e.data);
      const r = node.sm.apply(command);
      result = { type: 'ok', output: command.kind === 'cas' ? { ok: r.ok, current: r.current } : {} };
    }
    const prop = node.proposals.get(e.index);
    if (prop === undefined) return;
    node.proposals.delete(e.index);
    const mine = command !== null && command.client === prop.command.client && command.op === prop.command.op;
    prop.done(mine ? result! : { type: 'fail', reason: 'another entry took the index', leaderHint: null });
  }

  private serveReads(node: SimNode): void {
    if (node.readWaits.length === 0) return;
    const still: typeof node.readWaits = [];
    for (const w of node.readWaits) {
      if (w.index <= node.applied) w.read.done({ type: 'ok', output: { value: node.sm.read(w.read.key) } });
      else still.push(w);
    }
    node.readWaits = still;
  }

  private compact(node: SimNode): void {
    const term = node.disk.termAt(node.applied);
    node.compactAt = node.applied + this.compactInterval(node);
    if (term === null || node.core === null) return;
    const data = node.sm.snapshot();
    node.core.compact(node.applied, data);
    node.disk.compact({ meta: { index: node.applied, term, conf: node.appliedConf }, data });
    this.trace.record(this.sched.nowMs, `compact ${node.id} ${node.applied}`);
  }

  // ---- clients ------------------------------------------------------------------------

  submit(id: NodeId, command: RegisterCommand, done: (r: ClientReply) => void): void {
    const node = this.nodes.get(id);
    if (node === undefined || node.core === null) return done({ type: 'fail', reason: 'unreachable', leaderHint: null });
    const r = node.core.propose(encodeCommand(command));
    if (!r.ok) return done({ type: 'fail', reason: r.error.code, leaderHint: r.error.leaderHint });
    // A proposal still waiting at this index lost its entry to a truncation here; it may
    // yet be committed through another node's log, so its outcome is unknown.
    node.proposals.get(r.value)?.done({ type: 'info', reason: 'index reused after truncation' });
    node.proposals.set(r.value, { command, done });
    this.drive(node);
  }

  read(id: NodeId, key: string, context: string, done: (r: ClientReply) => void): void {
    const node = this.nodes.get(id);
    if (node === undefined || node.core === null) return done({ type: 'fail', reason: 'unreachable', leaderHint: null });
    node.reads.set(context, { key, done });
    node.core.readIndex(context);
    this.drive(node);
  }
}

function isAck(m: Message): boolean {
  return m.type === 'voteResp' && !m.reject;
}
