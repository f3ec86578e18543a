// Quiescence as the simulated store applies it, as raft/group (RaftGroup, RaftHost) does:
//  - a leader whose group raft/group/quiesce.ts finds idle for quiesceIdleFiringsMin
//    ticks in a row (nothing pending, all committed and applied, every member holding the
//    whole log and heard from recently — members on a silent store aside while the others
//    make a quorum) stops ticking and sends each member not silent a notice (a heartbeat
//    flagged quiesce, with its commit index); when a silent store is heard again, the
//    quiesced leaders with a member there wake to catch it up;
//  - a member quiesces on a notice from the leader it knew before stepping it, in its
//    term, when its log ends at the notice's commit, committed; otherwise the notice wakes
//    it (refusedNotice);
//  - a quiesced replica is not ticked; any message wakes it except notices and, on a
//    leader, the heartbeat answers to its notices; work (a proposal, a read, a transfer, a
//    membership change) wakes a leader, while a follower refuses it without waking;
//  - when store liveness finds a peer store silent, quiesced leaders with a member there
//    wake, and every follower whose leader is there wakes and counts one and a half
//    election timeouts as run out (it campaigns within half a timeout, grants pre-votes).
// Planted driver bugs switch one condition off each.

import { hasQuorum } from '../core/quorum.js';
import type { Message, NodeId } from '../types.js';
import type { ClusterStats } from './cluster.js';
import { quiesceIdleFiringsMin } from '../group/limits.js';
import { followerMayQuiesce, isQuiesceNotice, leaderMayQuiesce, wakesQuiesced } from '../group/quiesce.js';
import { livenessTimeoutMs } from './limits.js';
import type { DriverBugs } from './planted-bugs.js';
import { leaderView } from './quiesce.js';
import type { Scheduler } from './scheduler.js';
import type { SimNode } from './sim-node.js';
import type { SimStore } from './store.js';
import type { Trace } from './trace.js';

export type QuiescerHost = Readonly<{ sched: Scheduler; trace: Trace; stats: ClusterStats; bugs: DriverBugs; electionTimeoutTicks: number }>;

export class Quiescer {
  constructor(private readonly h: QuiescerHost) {}

  /** Leader only: quiesces the group once the rules found it idle quiesceIdleFiringsMin
   * ticks in a row, telling every member. Returns whether it did (then it is not ticked). */
  maybeQuiesce(s: SimStore, node: SimNode): boolean {
    const core = node.core!;
    const st = core.status();
    if (st.role !== 'leader') return false;
    const members = [...st.conf.voters, ...st.conf.learners];
    const work = {
      pendingRequests: node.proposals.size + node.reads.size + node.readWaits.length,
      readyPending: node.inflight !== null || core.hasReady(),
      silentMembers: members.filter((id) => id !== node.id && s.silent.has(id)),
    };
    if (!leaderMayQuiesce(leaderView(st, work, this.h.bugs.quiesceWithLaggingFollower))) {
      node.idleTicks = 0;
      return false;
    }
    if (++node.idleTicks < quiesceIdleFiringsMin) return false;
    node.quiesced = true;
    node.idleTicks = 0;
    this.h.stats.quiesces++;
    this.h.trace.record(this.h.sched.nowMs, `quiesce ${node.group}/${node.id} t${st.term} commit=${st.commit}`);
    const match = new Map(st.peers.map((p) => [p.id, p.matchIndex]));
    for (const to of members) {
      if (to === node.id || s.silent.has(to)) continue;
      // min(match, commit), as raft/group/group.ts quiesceAsLeader sends it.
      const message: Message = { type: 'heartbeat', from: node.id, to, term: st.term, commit: Math.min(match.get(to) ?? 0, st.commit), context: '', quiesce: true };
      s.queue(to, { group: node.group, message });
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
      for (const node of s.replicas.values()) {
        if (node.core === null) continue;
        const st = node.core!.status();
        if (st.role === 'leader') {
          // As RaftHost does: a majority of the voters' stores silent steps the leader down.
          if (!hasQuorum(st.conf.voters, (m) => m === node.id || !s.silent.has(m))) {
            this.wake(node, `voters' stores silent`);
            node.core!.stepDown();
            this.h.stats.leadersSteppedDown++;
            this.h.trace.record(now, `stepdown ${node.id} leaves leadership of term ${st.term}: a majority of its voters' stores is silent`);
          } else if (node.quiesced && st.peers.some((p) => p.id === other)) this.wake(node, `follower store ${other} silent`);
        } else if ((st.role === 'follower' || st.role === 'learner') && st.leader === other) {
          if (this.h.bugs.noWakeOnLeaderStoreLoss) continue;
          this.wake(node, `leader store ${other} silent`);
          const ticks = this.h.electionTimeoutTicks + Math.floor(this.h.electionTimeoutTicks / 2);
          for (let i = 0; i < ticks; i++) node.core!.tick();
          this.h.stats.campaignsHastened++;
        }
      }
    }
  }

  /** `peer` is heard again after being silent: quiesced leaders with a member there (they
   * may have quiesced past it) wake to catch it up. */
  storeBack(s: SimStore, peer: NodeId): void {
    this.h.trace.record(this.h.sched.nowMs, `heard ${s.id} hears ${peer} again`);
    for (const node of s.replicas.values()) {
      if (node.core === null || !node.quiesced) continue;
      const st = node.core.status();
      if (st.role !== 'leader') continue;
      if ([...st.conf.voters, ...st.conf.learners].some((m) => m !== node.id && m === peer)) this.wake(node, `member store ${peer} back`);
    }
  }

  /** A message for `node`, stepped after this: a notice is judged, anything else wakes a
   * quiesced replica unless it answers a notice. */
  onMessage(node: SimNode, m: Message): void {
    if (isQuiesceNotice(m)) return this.onNotice(node, m);
    if (node.quiesced && wakesQuiesced(node.core!.status().role, m)) this.wake(node, m.type);
    node.core!.step(m);
  }

  /** A leader's notice: stepped as the heartbeat it is (the core takes any heartbeat of its
   * term as its leader's, so the leader is the one known before), then judged. */
  private onNotice(node: SimNode, m: Extract<Message, { type: 'heartbeat' }>): void {
    const known = node.core!.status();
    node.core!.step(m);
    const st = node.core!.status();
    const leader = known.leader === st.leader && known.term === st.term ? st.leader : null;
    const ok = followerMayQuiesce({ role: st.role, term: st.term, leader, lastIndex: st.lastIndex, commit: st.commit }, { from: m.from, term: m.term, commit: m.commit });
    if (!ok) {
      this.wake(node, 'refused notice');
      return;
    }
    if (node.quiesced) return;
    node.quiesced = true;
    this.h.stats.followerQuiesces++;
    this.h.trace.record(this.h.sched.nowMs, `quiesce ${node.group}/${node.id} follows ${m.from} t${m.term} commit=${m.commit}`);
  }
}
