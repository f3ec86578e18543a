// A store's memory budgets belong to the store, not to each shard (limits.ts: the Raft log
// entries its groups keep in memory, the change records its shards keep for feeds): each
// hosted shard gets an equal share, never below a floor that keeps the shard useful and
// never above what a stand-alone replica would hold.
import assert from 'node:assert';

/** `budget` shared among `hosted` shards (`what` names them in the error), within
 * [floor, cap]. */
export function storeBudgetShare(budget: number, hosted: number, floor: number, cap: number, what: string): number {
  assert(Number.isSafeInteger(hosted) && hosted >= 1, `a store hosts at least one ${what}, got ${hosted}`);
  return Math.min(cap, Math.max(floor, Math.floor(budget / hosted)));
}
