// ReadIndex rounds on a leader (etcd's ReadOnlySafe): a read records the commit index at
// the time it arrived, the leader broadcasts a heartbeat carrying the round's context, and
// once a quorum of voters has answered that heartbeat the leader knows it was still leader
// when the read arrived, so any read at ≥ that index is linearizable.
// Rounds are released in order: a quorum ack for a later round confirms earlier ones too.
// Reads arriving before a round's heartbeats have left join that round (read batching).
import assert from 'node:assert';
import type { LogIndex, NodeId } from '../types.js';
import { hasQuorum } from './quorum.js';

export type ReadRequest = Readonly<{ from: NodeId; context: string }>;

export type ReadRound = {
  readonly ctx: string;
  readonly index: LogIndex;
  readonly requests: ReadRequest[];
  readonly acks: Set<NodeId>;
};

export class ReadOnly {
  private rounds: ReadRound[] = [];
  private readonly byCtx = new Map<string, ReadRound>();
  private seq = 0;
  /** The round whose heartbeats have not left yet, which new reads may join. */
  private open: ReadRound | null = null;

  constructor(private readonly selfId: NodeId, private readonly ctxPrefix: string) {}

  /** Pending read requests (over all rounds). */
  private count = 0;

  get size(): number {
    return this.count;
  }

  /** Adds a read at commit index `index`. Returns the new round (to broadcast its
   * heartbeats for) or null when the read joined a round not yet broadcast. */
  add(index: LogIndex, request: ReadRequest): ReadRound | null {
    this.count += 1;
    if (this.open !== null && this.open.index === index) {
      this.open.requests.push(request);
      return null;
    }
    this.seq += 1;
    const round: ReadRound = {
      ctx: `${this.ctxPrefix}:${this.seq}`,
      index,
      requests: [request],
      acks: new Set([this.selfId]),
    };
    this.rounds.push(round);
    this.byCtx.set(round.ctx, round);
    this.open = round;
    return round;
  }

  /** The open round's heartbeats are leaving: later reads need a new round. */
  seal(): void {
    this.open = null;
  }

  /** Records `from`'s heartbeat ack for `ctx`; returns the rounds now confirmed (in order),
   * removed from the queue. */
  ack(from: NodeId, ctx: string, voters: readonly NodeId[]): ReadRound[] {
    const round = this.byCtx.get(ctx);
    if (round === undefined) return [];
    round.acks.add(from);
    if (!hasQuorum(voters, (id) => round.acks.has(id))) return [];
    const at = this.rounds.indexOf(round);
    assert(at >= 0, 'read round indexed but not queued');
    const released = this.rounds.slice(0, at + 1);
    this.rounds = this.rounds.slice(at + 1);
    for (const r of released) {
      this.count -= r.requests.length;
      this.byCtx.delete(r.ctx);
      if (this.open === r) this.open = null;
    }
    return released;
  }

  /** Removes and returns every pending read (leadership lost). */
  drain(): ReadRequest[] {
    const out = this.rounds.flatMap((r) => r.requests);
    this.rounds = [];
    this.byCtx.clear();
    this.open = null;
    this.count = 0;
    return out;
  }

  /** Contexts of the pending rounds, for re-broadcasting their heartbeats. */
  pendingContexts(): string[] {
    return this.rounds.map((r) => r.ctx);
  }
}
