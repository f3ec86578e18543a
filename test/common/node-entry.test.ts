// The node arguments that start one of our processes (common/node-entry.ts): tsx from the
// sources unless a compiled tree is named and holds the module; the JavaScript itself in a
// compiled tree. Under `npm test` (RINGFENCE_BUILD_DIR set to the tree it just built, tap
// run inside it: cluster/build-tree.ts) the test files run from JavaScript without tsx,
// and the built CLI must run as the sources' does.
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { nodeEntryArgs } from '../../common/node-entry.js';
import { tempDir } from '../support/temp-dir.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const cli = join(root, 'cluster/cli.ts');

t.test('from the sources: tsx, unless RINGFENCE_BUILD_DIR holds the module', async (t) => {
  t.same(nodeEntryArgs(cli, {}), ['--import', 'tsx', cli], 'no build named: tsx');
  const build = tempDir(t, 'node-entry-build');
  t.same(nodeEntryArgs(cli, { RINGFENCE_BUILD_DIR: build }), ['--import', 'tsx', cli], 'a build without the module: tsx');
  mkdirSync(join(build, 'cluster'), { recursive: true });
  writeFileSync(join(build, 'cluster/cli.js'), '');
  t.same(nodeEntryArgs(cli, { RINGFENCE_BUILD_DIR: build }), [join(build, 'cluster/cli.js')], 'a build with it: its JavaScript');
  t.same(nodeEntryArgs('/elsewhere/cli.ts', { RINGFENCE_BUILD_DIR: build }), ['--import', 'tsx', '/elsewhere/cli.ts'], 'a module outside the sources: tsx');
  t.throws(() => nodeEntryArgs(join(root, 'cluster/cli.js'), {}), /not a TypeScript entry point/, 'only .ts entry points');
});

t.test('in a compiled tree (no .ts beside the .js): the JavaScript', async (t) => {
  const tree = tempDir(t, 'node-entry-tree');
  writeFileSync(join(tree, 'cli.js'), '');
  t.same(nodeEntryArgs(join(tree, 'cli.ts'), {}), [join(tree, 'cli.js')]);
});

const built = process.env.RINGFENCE_BUILD_DIR;
t.test('the tree npm test built runs the CLI', { skip: built ? false : 'RINGFENCE_BUILD_DIR is not set (npm test sets it)' }, async (t) => {
  t.match(fileURLToPath(import.meta.url), /\/test\/common\/node-entry\.test\.js$/, 'this test file runs from its JavaScript');
  t.notOk(process.execArgv.some((a) => a.includes('tsx')), `and without tsx (${process.execArgv.join(' ')})`);
  const args = nodeEntryArgs(cli);
  t.notSame(args.slice(0, 2), ['--import', 'tsx'], `the CLI runs from the build (${args.join(' ')})`);
  const fromBuild = spawnSync(process.execPath, [...args, '--version'], { encoding: 'utf8', timeout: 60_000 });
  const fromSource = spawnSync(process.execPath, ['--import', 'tsx', cli, '--version'], { encoding: 'utf8', timeout: 60_000 });
  t.equal(fromBuild.status, 0, `it exits 0 (${fromBuild.stderr.slice(0, 300)})`);
  t.equal(fromBuild.stdout, fromSource.stdout, `--version prints what the sources print (${fromSource.stdout.trim()})`);
});
