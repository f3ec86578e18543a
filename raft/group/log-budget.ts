// The log entries a host's groups may hold in memory together, shared by how busy each
// group is. A group keeps every entry since its last snapshot in memory, so a store of
// many groups caps their sum (the store's budget); an equal share per group made a busy
// group beside idle ones snapshot every few hundred entries — a shard of a thousand
// agents serialized its whole state several times a second, and a store of 100 shards
// with two busy ones ran 1,275 reservation cycles/s where two shards alone ran 1,790
// (`bench reserve --shards 100 --busy-shards 2`). TiKV's raft-log GC likewise compacts by
// what a region holds, not by a fixed count per region.
//
// Every group is guaranteed `groupEntriesMin`; the rest of the budget goes to the groups
// in proportion to the entries each applied recently (an exponentially weighted rate,
// updated once per sweep), or equally when none applied any. So with every group equally
// busy each gets what an equal share gave, and the sum of the shares never exceeds the
// budget unless the floors alone do. A group whose share shrank below what it holds
// (it went quiet, or others got busier) is told to snapshot at the sweep: its entries go
// back to the others; once every group is quiet, each is back to an equal share.

import assert from 'node:assert';

export type LogBudget = Readonly<{
  /** Entries since their last snapshot the host's groups may hold in memory together. */
  entriesMax: number;
  /** The least interval any group is given, whatever the budget says. */
  groupEntriesMin: number;
}>;

/** Weight of the newest sweep's applied count in a group's rate: about three sweeps to
 * follow half of a change in load. */
const rateWeight = 0.25;
/** Entries per sweep below which a group's rate counts as none. */
const idleRateMax = 1;

/** Each group's snapshot interval: its floor plus its share of what the floors leave,
 * weighted by `rates` (equal when they sum to 0). */
export function logShares(budget: LogBudget, rates: readonly number[]): number[] {
  assert(budget.groupEntriesMin >= 1 && budget.entriesMax >= 1, 'a log budget needs positive sizes');
  const n = rates.length;
  if (n === 0) return [];
  const spare = Math.max(0, budget.entriesMax - n * budget.groupEntriesMin);
  const total = rates.reduce((a, r) => a + r, 0);
  return rates.map((r) => budget.groupEntriesMin + Math.floor(spare * (total > 0 ? r / total : 1 / n)));
}

type Share = { applied: number; rate: number; every: number };

/** The shares of a host's groups, keyed by whatever the host keys its groups by. */
export class LogBudgetShares<K> {
  private readonly shares = new Map<K, Share>();

  constructor(readonly budget: LogBudget) {
    assert(budget.groupEntriesMin >= 1 && budget.entriesMax >= 1, 'a log budget needs positive sizes');
  }

  /** A group joins with nothing applied recently: the others' shares are recomputed. */
  add(key: K, applied: number): void {
    this.shares.set(key, { applied, rate: 0, every: this.budget.groupEntriesMin });
    this.reshare();
  }

  delete(key: K): void {
    if (this.shares.delete(key)) this.reshare();
  }

  /** The group's snapshot interval now (the floor for a group not added). */
  every(key: K): number {
    return this.shares.get(key)?.every ?? this.budget.groupEntriesMin;
  }

  /** Folds what each group applied since the last sweep into its rate and reshares. */
  sweep(appliedOf: (key: K) => number): void {
    for (const [key, s] of this.shares) {
      const applied = appliedOf(key);
      // A snapshot installed from the leader may move applied by more than was applied
      // here; a restarted count (never smaller) counts nothing.
      const delta = Math.max(0, applied - s.applied);
      s.applied = applied;
      s.rate = s.rate * (1 - rateWeight) + delta * rateWeight;
      // A decaying rate never reaches 0 by itself, and a group gone quiet would keep its
      // weight among groups all gone quiet: below one entry per sweep it is idle.
      if (s.rate < idleRateMax) s.rate = 0;
    }
    this.reshare();
  }

  private reshare(): void {
    const list = [...this.shares.values()];
    const every = logShares(this.budget, list.map((s) => s.rate));
    list.forEach((s, i) => (s.every = every[i]!));
  }
}
