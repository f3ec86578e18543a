// The Raft safety properties (Raft paper, figure 3), checked as the run goes:
//  - election safety: at most one leader per term, ever;
//  - log matching: two logs holding an entry of the same index and term hold the same
//    entry there, and the same entry before it (checked inductively: an entry (i, t) must
//    always sit on the same predecessor term and carry the same payload);
//  - leader completeness: an entry committed at term T is in the log of every leader of
//    a term > T (the commit term recorded is the term of the node that reported the
//    commit, an upper bound on the term the entry was committed in);
//  - state machine safety: no two nodes apply different entries at one index.
// The first violation is kept with the simulated time and a short reason. A store hosts
// several groups: each group has checks of its own (indexes and terms are per group),
// writing to one list of violations for the run, their reasons naming the group.

import type { Entry, NodeId, Term } from '../types.js';
import type { SimDisk } from './disk.js';

export type ViolationKind =
  | 'election-safety'
  | 'log-matching'
  | 'leader-completeness'
  | 'state-machine-safety'
  | 'linearizability'
  | 'exception'
  | 'liveness';

export type Violation = Readonly<{ kind: ViolationKind; timeMs: number; reason: string }>;

const decoder = new TextDecoder();

function identity(e: Entry): string {
  return `${e.term}/${e.kind}/${decoder.decode(e.data)}`;
}

type Recorded = { id: string; prevTerm: Term | null };

export class SafetyChecks {
  private readonly leaderOfTerm = new Map<Term, NodeId>();
  private readonly byIndexTerm = new Map<string, Recorded>();
  private readonly applied = new Map<number, { id: string; node: NodeId }>();
  private readonly committed = new Map<number, { id: string; term: Term; node: NodeId }>();
  elections = 0;
  committedMax = 0;

  constructor(
    private readonly now: () => number,
    readonly violations: Violation[] = [],
    /** Prefixed to reasons ('group 3: '), empty for a run of one group. */
    private readonly label = '',
  ) {}

  private fail(kind: ViolationKind, reason: string): void {
    this.violations.push({ kind, timeMs: this.now(), reason: this.label + reason });
  }

  /** A node reports itself leader of `term`; its log is what its disk view holds. */
  onLeader(node: NodeId, term: Term, disk: SimDisk): void {
    const known = this.leaderOfTerm.get(term);
    if (known === node) return;
    if (known !== undefined) {
      this.fail('election-safety', `two leaders in term ${term}: ${known} and ${node}`);
      return;
    }
    this.leaderOfTerm.set(term, node);
    this.elections++;
    const base = disk.snapshotIndex();
    for (const [index, c] of this.committed) {
      if (c.term >= term || index <= base) continue;
      const e = disk.entryAt(index);
      if (e === null || identity(e) !== c.id) {
        this.fail(
          'leader-completeness',
          `leader ${node} of term ${term} lacks entry ${index} committed by term ${c.term} (${c.id}); it has ${e === null ? 'nothing' : identity(e)}`,
        );
        return;
      }
    }
  }

  /** Entries a node just wrote to its log (its disk view already holds them). */
  onPersist(node: NodeId, entries: readonly Entry[], disk: SimDisk): void {
    for (const e of entries) {
      if (e.index <= disk.snapshotIndex()) continue;
      const key = `${e.index}:${e.term}`;
      const id = identity(e);
      const prevTerm = disk.termAt(e.index - 1);
      const r = this.byIndexTerm.get(key);
      if (r === undefined) {
        this.byIndexTerm.set(key, { id, prevTerm });
        continue;
      }
      if (r.id !== id) {
        this.fail('log-matching', `${node} holds entry ${key} as ${id}, another log as ${r.id}`);
        return;
      }
      if (r.prevTerm !== null && prevTerm !== null && r.prevTerm !== prevTerm) {
        this.fail('log-matching', `${node} holds entry ${key} after term ${prevTerm}, another log after term ${r.prevTerm}`);
        return;
      }
      if (r.prevTerm === null) r.prevTerm = prevTerm;
    }
  }

  /** A node's commit index moved from `from` to `to` while it was at `term`. */
  onCommit(node: NodeId, term: Term, from: number, to: number, disk: SimDisk): void {
    for (let i = Math.max(from, disk.snapshotIndex()) + 1; i <= to; i++) {
      const e = disk.entryAt(i);
      if (e === null) {
        this.fail('log-matching', `${node} commits index ${i} it does not hold (log ends at ${disk.lastIndex()})`);
        return;
      }
      const id = identity(e);
      const c = this.committed.get(i);
      if (c === undefined) {
        this.committed.set(i, { id, term, node });
        continue;
      }
      if (c.id !== id) {
        this.fail('state-machine-safety', `index ${i} committed as ${c.id} on ${c.node} and as ${id} on ${node}`);
        return;
      }
      if (term < c.term) c.term = term;
    }
    if (to > this.committedMax) this.committedMax = to;
  }

  onApply(node: NodeId, e: Entry): void {
    const id = identity(e);
    const a = this.applied.get(e.index);
    if (a === undefined) {
      this.applied.set(e.index, { id, node });
      if (e.index > this.committedMax) this.committedMax = e.index;
      return;
    }
    if (a.id !== id) this.fail('state-machine-safety', `index ${e.index} applied as ${a.id} on ${a.node} and as ${id} on ${node}`);
  }

  report(kind: ViolationKind, reason: string): void {
    this.fail(kind, reason);
  }
}
