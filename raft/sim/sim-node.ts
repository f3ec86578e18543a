// One simulated server: a Raft core (null while the node is down), its disk, its
// register state machine and the bookkeeping a driver keeps (applied index, the
// membership as of the applied index, proposals and reads waiting for an answer).

import type { ConfChange, ConfState, NodeId, RaftCore } from '../types.js';
import type { ClientReply } from './clients.js';
import type { RegisterCommand } from './cas-register.js';
import { CasRegister } from './cas-register.js';
import { SimDisk } from './disk.js';
import type { Prng } from './prng.js';

export type PendingProposal = { command: RegisterCommand; done: (r: ClientReply) => void };
export type PendingRead = { key: string; done: (r: ClientReply) => void };

export class SimNode {
  core: RaftCore | null = null;
  readonly disk = new SimDisk();
  sm = new CasRegister();
  applied = 0;
  appliedConf: ConfState;
  /** Bumped at every crash and restart, so timers of a previous life do nothing. */
  incarnation = 0;
  /** Decommissioned after removal from the cluster: never restarted. */
  removed = false;
  commitSeen = 0;
  leaderTerm = 0;
  compactAt = 0;
  readonly proposals = new Map<number, PendingProposal>();
  readonly reads = new Map<string, PendingRead>();
  readWaits: { index: number; read: PendingRead }[] = [];

  constructor(
    readonly id: NodeId,
    readonly prng: Prng,
    readonly tickMs: number,
    /** This node's wall clock: simulated time × rate + offset. */
    readonly clockRate: number,
    readonly clockOffsetMs: number,
    initialConf: ConfState,
  ) {
    this.appliedConf = initialConf;
  }

  get up(): boolean {
    return this.core !== null;
  }

  /** Every pending client call ends: the connection to this node dropped. */
  abandonClients(reason: string): void {
    for (const p of this.proposals.values()) p.done({ type: 'info', reason });
    for (const r of this.reads.values()) r.done({ type: 'info', reason });
    for (const w of this.readWaits) w.read.done({ type: 'info', reason });
    this.proposals.clear();
    this.reads.clear();
    this.readWaits = [];
  }
}

export function applyConfChange(conf: ConfState, c: ConfChange): ConfState {
  const voters = conf.voters.filter((v) => v !== c.node);
  const learners = conf.learners.filter((l) => l !== c.node);
  if (c.type === 'addLearner') return { voters, learners: [...learners, c.node] };
  if (c.type === 'promote') return { voters: [...voters, c.node], learners };
  return { voters, learners };
}

export function inConf(conf: ConfState, id: NodeId): boolean {
  return conf.voters.includes(id) || conf.learners.includes(id);
}
