// Liveness, which safety checks cannot see (a cluster that does nothing is always safe):
//  - all along: a group whose leader and a follower of the same term are both quiesced
//    has that follower at the leader's commit index — no one ticks in a quiesced group,
//    so a follower left behind there would stay behind;
//  - at the end, once the storm is over (network healed, every store restarted): within
//    livenessBoundMs every group has a leader, commits a probe write, and has every live
//    replica of its membership at the leader's commit index; then, once the groups have
//    had time to quiesce, the store leading the most groups is killed for good, and the
//    same must hold again within failoverBoundMs — quiesced followers of the dead
//    leaders must be woken by store liveness and elect new ones.
// A failure is a 'liveness' violation naming the group and what is missing.

import type { NodeId } from '../types.js';
import type { Cluster } from './cluster.js';
import { failoverBoundMs, livenessBoundMs, livenessPollMs, quiesceWaitMsMax } from './limits.js';
import type { Scheduler } from './scheduler.js';
import type { Trace } from './trace.js';

type Probe = { ok: boolean; op: number };

const probeRetryMs = 20;
const probeTimeoutMs = 300;

export class EndCheck {
  done = false;
  /** The store killed for the failover phase, and the groups it led. */
  killed: { store: NodeId; groups: number } | null = null;
  failoverMs: number | null = null;
  private probes: Probe[] = [];
  private ops = 0;
  private round = 0;

  constructor(
    private readonly sched: Scheduler,
    private readonly cluster: Cluster,
    private readonly trace: Trace,
    private readonly report: (reason: string) => void,
  ) {}

  /** The storm ended now: starts the recovery phase. */
  start(): void {
    const deadlineMs = this.sched.nowMs + livenessBoundMs;
    this.startProbes();
    this.poll(deadlineMs, `${livenessBoundMs} ms after the last fault healed`, () => this.waitQuiesced(this.sched.nowMs + quiesceWaitMsMax));
  }

  private waitQuiesced(untilMs: number): void {
    const all = this.cluster.groups.every((g) => this.cluster.leader(g.id)?.quiesced === true);
    if (!all && this.sched.nowMs < untilMs) {
      this.sched.after(livenessPollMs, () => this.waitQuiesced(untilMs));
      return;
    }
    const victim = this.cluster.storeLeadingMost();
    if (victim === null) {
      this.done = true;
      return;
    }
    this.killed = { store: victim.store.id, groups: victim.groups };
    this.cluster.crash(victim.store, 'final kill', false);
    this.startProbes();
    const killMs = this.sched.nowMs;
    const why = `${failoverBoundMs} ms after store ${victim.store.id} (leading ${victim.groups} groups) was killed`;
    this.poll(killMs + failoverBoundMs, why, () => {
      this.failoverMs = this.sched.nowMs - killMs;
      this.done = true;
    });
  }

  private poll(deadlineMs: number, after: string, next: () => void): void {
    let lagging: string | null = null;
    for (const g of this.cluster.groups) {
      const why = this.lacks(g.id);
      if (why !== null) {
        lagging = `group ${g.id}: ${why} ${after}`;
        break;
      }
    }
    if (lagging === null) return next();
    if (this.sched.nowMs >= deadlineMs) {
      this.report(lagging);
      this.done = true;
      return;
    }
    this.sched.after(livenessPollMs, () => this.poll(deadlineMs, after, next));
  }

  /** What group `g` still lacks to count as live, or null. */
  private lacks(g: number): string | null {
    const leader = this.cluster.leader(g);
    if (leader === null) return 'no leader';
    if (!this.probes[g]!.ok) return 'no probe write committed';
    const st = leader.core!.status();
    for (const id of [...st.conf.voters, ...st.conf.learners]) {
      if (id === leader.id) continue;
      const n = this.cluster.groups[g]!.replicas.get(id);
      if (n === undefined || n.removed || n.core === null) continue;
      const commit = n.core.status().commit;
      if (commit < st.commit) return `live replica ${id} at commit ${commit}, leader ${leader.id} at ${st.commit}${n.quiesced ? ' (quiesced)' : ''}`;
    }
    return null;
  }

  private startProbes(): void {
    this.round++;
    this.probes = this.cluster.groups.map(() => ({ ok: false, op: 0 }));
    for (const g of this.cluster.groups) this.probe(g.id, this.round);
  }

  /** Writes the probe key of group `g` through its leader until one write is acknowledged. */
  private probe(g: number, round: number): void {
    const p = this.probes[g]!;
    if (round !== this.round || p.ok || this.done) return;
    const leader = this.cluster.leader(g);
    if (leader === null) {
      this.sched.after(probeRetryMs, () => this.probe(g, round));
      return;
    }
    const op = ++this.ops;
    p.op = op;
    this.trace.record(this.sched.nowMs, `probe ${g} op ${op} via ${leader.id}`);
    this.cluster.submit(g, leader.id, { client: 0, op, kind: 'write', key: 'probe', value: op }, (r) => {
      if (round !== this.round) return;
      if (r.type === 'ok') p.ok = true;
      else if (p.op === op) this.sched.after(probeRetryMs, () => this.probe(g, round));
    });
    this.sched.after(probeTimeoutMs, () => {
      if (p.op === op && !p.ok) this.probe(g, round);
    });
  }
}

/** The standing invariant: a quiesced follower of a quiesced leader (same term, in the
 * leader's membership, on a store the leader's store hears) is at the leader's commit
 * index. Returns what is wrong, or null. */
export function quiescedBehind(cluster: Cluster): string | null {
  for (const g of cluster.groups) {
    const leader = cluster.leader(g.id);
    if (leader === null || !leader.quiesced) continue;
    const st = leader.core!.status();
    const leaderStore = cluster.storeOf(leader);
    for (const id of [...st.conf.voters, ...st.conf.learners]) {
      const n = g.replicas.get(id);
      // A member on a store the leader's store finds silent may be left behind: the leader
      // wakes to catch it up once that store is heard again.
      if (n === undefined || n === leader || !n.quiesced || n.core === null || leaderStore.silent.has(id)) continue;
      const f = n.core.status();
      if (f.term !== st.term || f.leader !== leader.id) continue;
      if (f.commit < st.commit) {
        return `group ${g.id}: leader ${leader.id} and follower ${n.id} both quiesced in term ${st.term} with the follower at commit ${f.commit} < ${st.commit}: nothing would ever catch it up`;
      }
    }
  }
  return null;
}
