// The fault injector: store crashes and restarts, network partitions between stores that
// come and go (symmetric, one-way, a leader's store cut off, random splits), membership
// changes of one group at a time (add a learner, promote it, remove a voter) and leader
// transfers, each on its own timer drawn from the run's profile. `calm()` ends the
// storm: heal, restart, stop changing.

import type { NodeId } from '../types.js';
import type { Cluster } from './cluster.js';
import { calmDelayMsMax, joinRoundsMax, nodesLiveMax, promoteLagEntriesMax, storesMax, votersInitial } from './limits.js';
import type { Prng } from './prng.js';
import type { FaultProfile } from './profile.js';
import type { Scheduler } from './scheduler.js';
import { inConf } from './sim-node.js';
import type { Trace } from './trace.js';

export class Faults {
  private stopped = false;
  private partitionEpoch = 0;
  private nextNodeNumber: number;
  /** `group/node` of learners added and not yet seen in the applied membership. */
  private readonly joining = new Map<string, number>();

  constructor(
    private readonly sched: Scheduler,
    private readonly prng: Prng,
    private readonly profile: FaultProfile,
    private readonly cluster: Cluster,
    private readonly trace: Trace,
  ) {
    this.nextNodeNumber = cluster.stores.size + 1;
  }

  start(): void {
    const p = this.profile;
    if (p.crashEveryMs !== null) this.every(p.crashEveryMs, () => this.crashOne());
    if (p.partitionEveryMs !== null) this.every(p.partitionEveryMs, () => this.partition());
    if (p.membershipEveryMs !== null) this.every(p.membershipEveryMs, () => this.membership());
    if (p.transferEveryMs !== null) this.every(p.transferEveryMs, () => this.transfer());
  }

  /** The storm ends: heal the network, restart every store, inject nothing more. */
  calm(): void {
    this.stopped = true;
    this.partitionEpoch++;
    this.cluster.network.heal();
    this.cluster.network.calm(calmDelayMsMax);
    this.cluster.becomeCalm();
    for (const s of this.cluster.stores.values()) this.cluster.restart(s);
    this.trace.record(this.sched.nowMs, 'calm');
  }

  /** Runs `fn` at random intervals averaging `meanMs`. */
  private every(meanMs: number, fn: () => void): void {
    const next = (): void => {
      this.sched.after(meanMs * (0.2 + 1.6 * this.prng.next()), () => {
        if (this.stopped) return;
        fn();
        next();
      });
    };
    next();
  }

  /** A random group's leader, if it has one. */
  private someLeader(): NodeId | null {
    return this.cluster.leader(this.prng.int(this.cluster.groups.length))?.id ?? null;
  }

  private crashOne(): void {
    const live = this.cluster.liveStores();
    if (live.length === 0) return;
    // Stores leading groups are the interesting victims: prefer them half of the time.
    const most = this.cluster.storeLeadingMost();
    const victim = most !== null && this.prng.chance(0.5) ? most.store : this.prng.pick(live);
    this.cluster.crash(victim, 'injected', true);
  }

  private partition(): void {
    const epoch = ++this.partitionEpoch;
    const net = this.cluster.network;
    net.heal();
    const all = [...this.cluster.activeStores()];
    if (all.length < 2) return;
    const leader = this.someLeader() ?? this.prng.pick(all);
    const r = this.prng.next();
    if (r < 0.35) {
      net.isolate([leader], all);
    } else if (r < 0.5) {
      net.isolate([this.prng.pick(all)], all);
    } else if (r < 0.6) {
      for (const o of all) if (o !== leader) net.cutLink(o, leader); // leader hears nobody
    } else if (r < 0.7) {
      for (const o of all) if (o !== leader) net.cutLink(leader, o); // nobody hears the leader
    } else if (r < 0.8) {
      const a = this.prng.pick(all);
      const b = this.prng.pick(all.filter((x) => x !== a));
      net.cutLink(a, b);
      if (this.prng.chance(0.5)) net.cutLink(b, a);
    } else {
      net.isolate(all.filter(() => this.prng.chance(0.5)), all);
    }
    this.trace.record(this.sched.nowMs, `partition ${net.describeCuts()}`);
    const p = this.profile;
    this.sched.after(this.prng.range(p.partitionMsMin, p.partitionMsMax), () => {
      if (this.partitionEpoch !== epoch) return;
      net.heal();
      this.trace.record(this.sched.nowMs, 'heal');
    });
  }

  private transfer(): void {
    const leader = this.cluster.leader(this.prng.int(this.cluster.groups.length));
    if (leader === null || leader.core === null) return;
    this.cluster.wakeForWork(leader, 'transfer');
    const others = leader.core.status().conf.voters.filter((v) => v !== leader.id);
    if (others.length === 0) return;
    const to = this.prng.pick(others);
    const r = leader.core.transferLeadership(to);
    this.trace.record(this.sched.nowMs, `transfer ${leader.group}/${leader.id}>${to} ${r.ok ? 'started' : r.error.code}`);
    this.cluster.kick(this.cluster.storeOf(leader));
  }

  /** One step, in a random group, towards the cycle 3 voters → + learner → promoted (4
   * voters) → a voter removed (3 voters), driven by what its leader has applied. A new
   * learner goes on a store that never hosted the group (a new store if there is room). */
  private membership(): void {
    const group = this.prng.int(this.cluster.groups.length);
    const leader = this.cluster.leader(group);
    if (leader === null || leader.core === null) return;
    const st = leader.core.status();
    const conf = leader.appliedConf;
    const key = (id: NodeId): string => `${group}/${id}`;
    for (const id of conf.learners) this.joining.delete(key(id));
    for (const id of conf.voters) this.joining.delete(key(id));
    // Replicas out of the applied membership (removed, or never got in) are decommissioned.
    // Only a leader that has applied all it knows committed has an up-to-date view.
    if (leader.applied < st.commit) return;
    for (const n of this.cluster.groups[group]!.replicas.values()) {
      if (n.removed || inConf(conf, n.id) || inConf(st.conf, n.id)) continue;
      const rounds = this.joining.get(key(n.id));
      if (rounds !== undefined && rounds < joinRoundsMax) {
        this.joining.set(key(n.id), rounds + 1);
        continue;
      }
      this.joining.delete(key(n.id));
      this.cluster.decommission(group, n.id);
    }
    if (st.conf.voters.length !== conf.voters.length || st.conf.learners.length !== conf.learners.length) return; // a change is in flight
    const propose = (change: Parameters<typeof leader.core.proposeConfChange>[0]): boolean => {
      this.cluster.wakeForWork(leader, 'conf change');
      const r = leader.core!.proposeConfChange(change);
      this.trace.record(this.sched.nowMs, `conf ${group} ${change.type} ${change.node} via ${leader.id}: ${r.ok ? `index ${r.value}` : r.error.code}`);
      if (r.ok && change.type === 'addLearner') {
        // Started once its addition is in the log; until then messages to it are dropped.
        this.cluster.addReplica(group, change.node);
        this.joining.set(key(change.node), 0);
      }
      this.cluster.kick(this.cluster.storeOf(leader));
      return r.ok;
    };
    const learner = conf.learners[0];
    if (learner !== undefined) {
      const node = this.cluster.groups[group]!.replicas.get(learner);
      const peer = st.peers.find((x) => x.id === learner);
      if (node === undefined || node.removed) propose({ type: 'remove', node: learner });
      else if (peer !== undefined && peer.matchIndex >= st.lastIndex - promoteLagEntriesMax) propose({ type: 'promote', node: learner });
      return;
    }
    if (conf.voters.length > votersInitial) {
      const others = conf.voters.filter((v) => v !== leader.id);
      propose({ type: 'remove', node: this.prng.pick(others) });
      return;
    }
    const joiningHere = [...this.joining.keys()].some((k) => k.startsWith(`${group}/`));
    if (this.cluster.members(group).length < nodesLiveMax && !joiningHere && this.prng.chance(0.6)) {
      const target = this.cluster.storeForNewReplica(group, () => `n${this.nextNodeNumber}`, storesMax);
      if (target === null) return;
      if (propose({ type: 'addLearner', node: target }) && target === `n${this.nextNodeNumber}`) this.nextNodeNumber++;
    }
  }
}
