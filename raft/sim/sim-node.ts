// One replica of one group on one simulated store: a Raft core (null while its store is
// down), its log on the store's shared disk, its register state machine and the
// bookkeeping a driver keeps (applied index, the membership as of the applied index,
// proposals and reads waiting for an answer, the Ready its store is syncing, quiescence).

import type { ConfChange, ConfState, NodeId, RaftCore, Ready } from '../types.js';
import type { ClientReply } from './clients.js';
import type { RegisterCommand } from './cas-register.js';
import { CasRegister } from './cas-register.js';
import type { SimDisk } from './disk.js';
import type { Prng } from './prng.js';

export type PendingProposal = { command: RegisterCommand; done: (r: ClientReply) => void };
export type PendingRead = { key: string; done: (r: ClientReply) => void };

export class SimNode {
  core: RaftCore | null = null;
  sm = new CasRegister();
  applied = 0;
  appliedConf: ConfState;
  /** Decommissioned after removal from its group: never restarted. */
  removed = false;
  commitSeen = 0;
  leaderTerm = 0;
  /** The term of the last hard state written and synced (a leader's appends leave before
   * its fsync only in a term already durable). */
  durableTerm = 0;
  compactAt = 0;
  /** The Ready handed out and not yet advanced (its store's batch is being synced). */
  inflight: Ready | null = null;
  /** Not ticked until a message, a proposal or store liveness wakes it. */
  quiesced = false;
  /** Leader: ticks since the group last made progress, and that progress. */
  idleTicks = 0;
  progressKey = '';
  readonly proposals = new Map<number, PendingProposal>();
  readonly reads = new Map<string, PendingRead>();
  readWaits: { index: number; read: PendingRead }[] = [];

  constructor(
    /** The replica's id in its group: the id of the store it lives on. */
    readonly id: NodeId,
    readonly group: number,
    readonly disk: SimDisk,
    readonly prng: Prng,
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
