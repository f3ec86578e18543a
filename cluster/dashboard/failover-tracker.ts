// Detects failovers from successive polls of the cluster view: a shard whose live leader
// differs from the last leader seen. A pure class (no clock, no I/O): the caller passes
// the poll time, so tests replay any sequence of polls.
//
// A leaderless poll in between does not reset what was seen: kill s1-a, see no leader for
// a poll, then s1-b → one failover s1-a → s1-b. A leader re-elected in a higher term with
// the same id is not a failover (nobody else took over).
import assert from 'node:assert';
import { failoversKeptMax } from './limits.js';

export type LeaderSample = Readonly<{ id: string; leader: string | null; term: number | null }>;
export type Failover = Readonly<{ shard: string; from: string; to: string; term: number | null; atMs: number }>;

export class FailoverTracker {
  readonly #last = new Map<string, string>();
  readonly #recent: Failover[] = [];
  #count = 0;

  constructor(readonly keptMax = failoversKeptMax) {
    assert(Number.isInteger(keptMax) && keptMax >= 1);
  }

  /** Feeds one poll; returns the failovers it revealed. */
  observe(shards: readonly LeaderSample[], atMs: number): Failover[] {
    const found: Failover[] = [];
    for (const s of shards) {
      if (s.leader === null) continue;
      const before = this.#last.get(s.id);
      this.#last.set(s.id, s.leader);
      if (before === undefined || before === s.leader) continue;
      found.push({ shard: s.id, from: before, to: s.leader, term: s.term, atMs });
    }
    this.#count += found.length;
    this.#recent.unshift(...found.reverse());
    this.#recent.length = Math.min(this.#recent.length, this.keptMax);
    return found;
  }

  get count(): number {
    return this.#count;
  }

  /** Newest first. */
  get recent(): readonly Failover[] {
    return this.#recent;
  }
}
