// Simulator and test only: the deliberate core bugs that prove the safety checks can fail
// (`npm run sim -- --bug NAME`, the `bugs=` option of interaction scripts). plantBugs() is
// the only maker of the branded hook the core accepts (raft/core/planted-bugs.ts), and
// createRaftCoreWithBugs() the only way to hand one to a core; production code builds
// cores with createRaftCore() (raft/core.ts), which cannot take one.
import type { RaftBoot, RaftConfig, RaftCore } from '../types.js';
import { Raft } from '../core/raft.js';
import { type PlantedBugs, plantedBugsBrand } from '../core/planted-bugs.js';

/** Deliberately wrong behaviours of the core, by the names the CLI and scripts use. */
export type CoreBugName =
  | 'vote-not-persisted'
  | 'commit-old-term-by-count'
  | 'no-truncate-on-conflict'
  | 'read-without-readindex'
  | 'vote-for-stale-log';

/** Deliberately wrong behaviours of the simulated store driver (raft/sim/, not the core):
 *  - quiesce-with-lagging-follower: a leader quiesces while a follower's match index is
 *    behind its last index;
 *  - no-wake-on-leader-store-loss: store liveness never wakes the quiesced followers of a
 *    leader whose store went silent;
 *  - shared-batch-acked-before-sync: a store's shared batch counts as durable (its
 *    messages leave) before its fsync completes. */
export type DriverBugName = 'quiesce-with-lagging-follower' | 'no-wake-on-leader-store-loss' | 'shared-batch-acked-before-sync';

export type BugName = CoreBugName | DriverBugName;

/** The core's bugs, in the order the CLI lists them. */
export const coreBugNames = [
  'vote-not-persisted',
  'commit-old-term-by-count',
  'no-truncate-on-conflict',
  'read-without-readindex',
  'vote-for-stale-log',
] as const satisfies readonly CoreBugName[];

export const driverBugNames = [
  'quiesce-with-lagging-follower',
  'no-wake-on-leader-store-loss',
  'shared-batch-acked-before-sync',
] as const satisfies readonly DriverBugName[];

/** Every bug, in the order the CLI lists them. */
export const bugNames = [...coreBugNames, ...driverBugNames] as const;

/** Which driver bugs are switched on; read as plain flags on the paths they touch. */
export type DriverBugs = Readonly<{ quiesceWithLaggingFollower: boolean; noWakeOnLeaderStoreLoss: boolean; sharedBatchAckedBeforeSync: boolean }>;

export function driverBugs(names: Iterable<BugName>): DriverBugs {
  const on = new Set<BugName>(names);
  return Object.freeze({
    quiesceWithLaggingFollower: on.has('quiesce-with-lagging-follower'),
    noWakeOnLeaderStoreLoss: on.has('no-wake-on-leader-store-loss'),
    sharedBatchAckedBeforeSync: on.has('shared-batch-acked-before-sync'),
  });
}
// Fail to compile when a name is added to a union above but not listed.
const everyCoreBugListed: Exclude<CoreBugName, (typeof coreBugNames)[number]> extends never ? true : never = true;
void everyCoreBugListed;
const everyDriverBugListed: Exclude<DriverBugName, (typeof driverBugNames)[number]> extends never ? true : never = true;
void everyDriverBugListed;


/** The core hook with exactly the core bugs among `names` switched on (none: behaves as
 * production); driver bugs are not the core's business and are ignored here. */
export function plantBugs(names: Iterable<BugName>): PlantedBugs {
  const on = new Set(names);
  return Object.freeze({
    [plantedBugsBrand]: true as const,
    readWithoutReadIndex: on.has('read-without-readindex'),
    voteNotPersisted: on.has('vote-not-persisted'),
    voteForStaleLog: on.has('vote-for-stale-log'),
    noTruncateOnConflict: on.has('no-truncate-on-conflict'),
    commitOldTermByCount: on.has('commit-old-term-by-count'),
  });
}

/** createRaftCore() with bugs planted. */
export function createRaftCoreWithBugs(config: RaftConfig, boot: RaftBoot, bugs: PlantedBugs): RaftCore {
  return new Raft(config, boot, bugs);
}
