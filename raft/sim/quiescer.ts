// Quiescence as the simulated store applies it: the rules of quiesce.ts put to work on a
// store's replicas — a leader quiescing its idle group and sending notices, followers
// quiescing on matching ones, wakes on messages and on work, and store liveness waking
// the quiesced replicas that depend on a store gone silent. Planted driver bugs switch
// one condition off each.

import type { Message, NodeId } from '../types.js';
import type { ClusterStats } from './cluster.js';
import { livenessTimeoutMs, quiesceIdleTicks } from './limits.js';
import type { DriverBugs } from './planted-bugs.js';
import { followerShouldQuiesce, leaderShouldQuiesce, noticeCommit, wakesQuiesced } from './quiesce.js';
import type { Scheduler } from './scheduler.js';
import type { SimNode } from './sim-node.js';
import type { SimStore } from './store.js';
import type { Trace } from './trace.js';

export type QuiescerHost = Readonly<{ sched: Scheduler; trace: Trace; stats: ClusterStats; bugs: DriverBugs; electionTimeoutTicks: number }>;

export class Quiescer {
  constructor(private readonly h: QuiescerHost) {}

  /** Leader only: quiesces the group if quiesce.ts's rule says so, telling followers. */
  maybeQuiesce(s: SimStore, node: SimNode): boolean {
    const core = node.core!;
    const st = core.status();
    if (st.role !== 'leader') return false;
    const key = `${st.term}/${st.lastIndex}/${st.commit}`;
    if (key !== node.progressKey) {
      node.progressKey = key;
      node.idleTicks = 0;
    } else node.idleTicks++;
    const pending = node.proposals.size > 0 || node.reads.size > 0 || node.readWaits.length > 0 || node.inflight !== null || core.hasReady();
    const ok = leaderShouldQuiesce({
      status: st, idleTicks: node.idleTicks, idleTicksMin: quiesceIdleTicks, pending,
      silent: (id) => s.silent.has(id),
      ignoreMatch: this.h.bugs.quiesceWithLaggingFollower,
    });
    if (!ok) return false;
    node.quiesced = true;
    this.h.stats.quiesces++;
    this.h.trace.record(this.h.sched.nowMs, `quiesce ${node.group}/${node.id} t${st.term} commit=${st.commit}`);
    for (const p of st.peers) {
      if (p.id === node.id) continue;
      const message: Message = { type: 'heartbeat', from: node.id, to: p.id, term: st.term, commit: noticeCommit(st, p.id), context: '' };
      s.queue(p.id, { group: node.group, message, quiesce: true });
    }
    return true;
  }

  wake(node: SimNode, why: string): void {
    if (!node.quiesced) return;
    node.quiesced = false;
    node.idleTicks = 0;
    this.h.stats.wakes++;
    this.h.trace.record(this.h.sched.nowMs, `wake ${node.group}/${node.id} (${why})`);
  }

  /** A replica is asked to do work (propose, read, transfer, change membership): a
   * quiesced leader wakes; a follower answers from its state without waking. */
  wakeForWork(node: SimNode, why: string): void {
    if (node.quiesced && node.core?.status().role === 'leader') this.wake(node, why);
  }

  /** Marks peer stores not heard from within livenessTimeoutMs silent, and wakes the
   * quiesced replicas that depend on them. */
  checkSilence(s: SimStore, stores: Iterable<NodeId>): void {
    const now = this.h.sched.nowMs;
    for (const other of stores) {
      if (other === s.id || s.silent.has(other)) continue;
      const heardMs = Math.max(s.lastHeardMs.get(other) ?? 0, s.bootMs);
      if (now - heardMs <= livenessTimeoutMs) continue;
      s.silent.add(other);
      this.h.stats.silences++;
      this.h.trace.record(now, `silent ${s.id} hears nothing from ${other}`);
      for (const node of s.live()) {
        if (!node.quiesced) continue;
        const st = node.core!.status();
        if (st.role === 'leader') {
          if (st.peers.some((p) => p.id === other)) this.wake(node, `follower store ${other} silent`);
        } else if (st.leader === other && !this.h.bugs.noWakeOnLeaderStoreLoss) {
          this.wake(node, `leader store ${other} silent`);
          // As raft/group does: a whole election timeout passes at once, so the follower is
          // out of its leader's lease (it grants pre-votes) and campaigns without delay.
          for (let i = 0; i < this.h.electionTimeoutTicks; i++) node.core!.tick();
        }
      }
    }
  }

  /** A message for `node`: wakes it unless it is the answer to a notice. Returns whether
   * the message is to be stepped. */
  onMessage(node: SimNode, m: Message): boolean {
    if (!node.quiesced) return true;
    if (!wakesQuiesced(node.core!.status().role, m)) return false;
    this.wake(node, m.type);
    return true;
  }

  /** A leader's notice: stepped as the heartbeat it is, then quiesce if it matches. */
  onNotice(node: SimNode, m: Extract<Message, { type: 'heartbeat' }>): void {
    node.core!.step(m);
    const st = node.core!.status();
    if (!followerShouldQuiesce(st, { from: m.from, term: m.term, commit: m.commit })) {
      this.wake(node, 'notice does not match');
      return;
    }
    if (node.quiesced) return;
    node.quiesced = true;
    this.h.stats.followerQuiesces++;
    this.h.trace.record(this.h.sched.nowMs, `quiesce ${node.group}/${node.id} follows ${m.from} t${m.term} commit=${m.commit}`);
  }
}
