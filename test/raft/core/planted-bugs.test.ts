// Proves that the deliberate core bugs cannot be switched on by accident: RaftConfig has no
// bugs field (a leftover one is refused, not ignored), the core refuses a hook that
// plantBugs() did not make (a plain or copied object), the production default is frozen
// with every bug off, each bug name sets exactly one flag, and no production module (only
// raft/core/ itself, the simulator and tests) imports the planted-bugs modules.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import type { RaftBoot, RaftConfig } from '../../../raft/types.js';
import { createRaftCore, defaultRaftConfig } from '../../../raft/core.js';
import { type PlantedBugs, noPlantedBugs } from '../../../raft/core/planted-bugs.js';
import { bugNames, coreBugNames, createRaftCoreWithBugs, plantBugs } from '../../../raft/sim/planted-bugs.js';

const boot: RaftBoot = {
  hardState: { term: 0, vote: null, commit: 0 }, snapshot: null, entries: [], initialConf: { voters: ['a'], learners: [] }, applied: 0,
};
const config = (): RaftConfig => defaultRaftConfig('a', () => 0.5, () => 0);
const flags = (b: PlantedBugs): boolean[] => [
  b.readWithoutReadIndex, b.voteNotPersisted, b.voteForStaleLog, b.noTruncateOnConflict, b.commitOldTermByCount,
];

t.test('a config object cannot carry bugs', async (t) => {
  const withBugs = { ...config(), bugs: new Set(['read-without-readindex']) } as unknown as RaftConfig;
  t.throws(() => createRaftCore(withBugs, boot), /no bugs field/, 'a leftover bugs field is refused');
  t.doesNotThrow(() => createRaftCore(config(), boot), 'a plain config is fine');
});

t.test('the core takes only a hook made by plantBugs()', async (t) => {
  const forged = { readWithoutReadIndex: true, voteNotPersisted: false, voteForStaleLog: false, noTruncateOnConflict: false, commitOldTermByCount: false };
  t.throws(() => createRaftCoreWithBugs(config(), boot, forged as unknown as PlantedBugs), /plantBugs/, 'a plain object is refused');
  const copied = { ...noPlantedBugs, readWithoutReadIndex: true };
  t.throws(() => createRaftCoreWithBugs(config(), boot, copied), /plantBugs/, 'a copy of the default is refused');
  t.doesNotThrow(() => createRaftCoreWithBugs(config(), boot, plantBugs(['read-without-readindex'])), 'a planted hook is taken');
});

t.test('the default is frozen with every bug off; each name sets one flag', async (t) => {
  t.ok(Object.isFrozen(noPlantedBugs), 'frozen');
  t.same(flags(noPlantedBugs), [false, false, false, false, false], 'every bug off');
  t.same(flags(plantBugs([])), flags(noPlantedBugs), 'planting nothing is production');
  const seen = new Set<number>();
  for (const name of coreBugNames) {
    const on = flags(plantBugs([name]));
    t.equal(on.filter(Boolean).length, 1, `${name} sets one flag`);
    seen.add(on.indexOf(true));
  }
  t.equal(seen.size, coreBugNames.length, 'and every name a different one');
  t.same(flags(plantBugs(bugNames)), [true, true, true, true, true], 'driver bugs set no core flag');
  t.same(flags(plantBugs(coreBugNames)), [true, true, true, true, true], 'all of them set all flags');
});

t.test('only raft/core/, the simulator and tests import the planted-bugs modules', async (t) => {
  const root = join(dirname(fileURLToPath(import.meta.url)), '../../..');
  // .build: `npm test` compiles the whole tree there (tests included); run from the
  // checkout after it, the scan would count those copies as production modules.
  const skip = new Set(['node_modules', '.git', '.tap', 'coverage', 'dist', '.build']);
  const offenders: string[] = [];
  let scanned = 0;
  const walk = (dir: string): void => {
    for (const d of readdirSync(dir, { withFileTypes: true })) {
      if (skip.has(d.name)) continue;
      const path = join(dir, d.name);
      if (d.isDirectory()) walk(path);
      else if (d.name.endsWith('.ts')) {
        const rel = relative(root, path).split('\\').join('/');
        if (rel.startsWith('test/') || rel.startsWith('raft/sim/') || rel.startsWith('raft/core/')) continue;
        scanned += 1;
        if (/planted-bugs\.js['"]/.test(readFileSync(path, 'utf8'))) offenders.push(rel);
      }
    }
  };
  walk(root);
  t.ok(scanned > 50, `scanned ${scanned} production files`);
  t.same(offenders, [], 'no production module imports planted bugs');
});
