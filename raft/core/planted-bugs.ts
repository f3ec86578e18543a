// The one seam through which deliberately wrong behaviours reach the core. The simulator
// plants them to prove that its checks catch a broken Raft (a checker that never fails
// proves nothing). Production never passes a hook: createRaftCore() leaves the core on
// noPlantedBugs, and RaftConfig has no field for them, so neither a cluster file nor a
// config object literal can switch one on. The core accepts a hook only if it carries
// plantedBugsBrand, which only raft/sim/planted-bugs.ts (plantBugs) puts on an object;
// test/raft/core/planted-bugs.test.ts fails if any other module imports this one.
import assert from 'node:assert';

/** Marks a hook made by plantBugs(); a plain object cannot have it by accident. */
export const plantedBugsBrand: unique symbol = Symbol('ringfence.raft.plantedBugs');

/** Each flag switches one deliberately wrong behaviour on. Read as plain properties on
 * the paths they touch, so the hook costs nothing per message. */
export type PlantedBugs = Readonly<{
  [plantedBugsBrand]: true;
  /** A leader answers readIndex() at its commit index without a quorum round. */
  readWithoutReadIndex: boolean;
  /** The vote is kept in memory but never reaches the hard state, so never disk. */
  voteNotPersisted: boolean;
  /** Votes are granted whatever the candidate's log holds. */
  voteForStaleLog: boolean;
  /** A follower overwrites conflicting entries in place and keeps the stale suffix. */
  noTruncateOnConflict: boolean;
  /** A leader commits entries of earlier terms by counting replicas (§5.4.2 ignored). */
  commitOldTermByCount: boolean;
}>;

/** The production default: every bug off, frozen. */
export const noPlantedBugs: PlantedBugs = Object.freeze({
  [plantedBugsBrand]: true as const,
  readWithoutReadIndex: false,
  voteNotPersisted: false,
  voteForStaleLog: false,
  noTruncateOnConflict: false,
  commitOldTermByCount: false,
});

/** A hook that did not come from plantBugs() is a programming error. */
export function assertPlantedBugs(bugs: PlantedBugs): void {
  assert(
    typeof bugs === 'object' && bugs !== null && bugs[plantedBugsBrand] === true && Object.isFrozen(bugs),
    'planted bugs come only from plantBugs() in raft/sim/planted-bugs.ts',
  );
}
