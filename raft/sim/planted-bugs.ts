// Simulator and test only: the deliberate core bugs that prove the safety checks can fail
// (`npm run sim -- --bug NAME`, the `bugs=` option of interaction scripts). plantBugs() is
// the only maker of the branded hook the core accepts (raft/core/planted-bugs.ts), and
// createRaftCoreWithBugs() the only way to hand one to a core; production code builds
// cores with createRaftCore() (raft/core.ts), which cannot take one.
import type { RaftBoot, RaftConfig, RaftCore } from '../types.js';
import { Raft } from '../core/raft.js';
import { type PlantedBugs, plantedBugsBrand } from '../core/planted-bugs.js';

/** Deliberately wrong behaviours, by the names the CLI and scripts use. */
export type BugName =
  | 'vote-not-persisted'
  | 'commit-old-term-by-count'
  | 'no-truncate-on-conflict'
  | 'read-without-readindex'
  | 'vote-for-stale-log';

/** Every bug, in the order the CLI lists them. */
export const bugNames = [
  'vote-not-persisted',
  'commit-old-term-by-count',
  'no-truncate-on-conflict',
  'read-without-readindex',
  'vote-for-stale-log',
] as const satisfies readonly BugName[];
// Fails to compile when a BugName is added above but not listed in bugNames.
const everyBugListed: Exclude<BugName, (typeof bugNames)[number]> extends never ? true : never = true;
void everyBugListed;

/** The hook with exactly `names` switched on (none: behaves as production). */
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
