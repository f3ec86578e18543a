// Completes a compiled tree after `tsc --outDir <dir>` into one the test suite runs from:
// beside each compiled module it copies every other file of the checkout's code
// directories (the TypeScript sources themselves, the dashboard's page, SIPp scenarios,
// prompt WAVs, test fixtures, bin/), the README and the package.json, whose tap settings
// it points at the compiled test files. So in <dir>:
// - `node cluster/cli.js` runs as the sources do, and the role processes the tests start
//   run from that JavaScript (common/node-entry.ts, RINGFENCE_BUILD_DIR);
// - each test file runs from its JavaScript too, importing compiled modules: tsx compiling
//   (under Node 20, through an off-thread loader hook) every module a test process loads
//   cost 0.3–2.3 CPU-seconds per file (/usr/bin/time on four files), a minute or more of
//   a whole run on two cores;
// - a test that reads a source beside itself, spawns a `.ts` helper through tsx, or lists
//   the sources finds them where it expects.
// `npm test` builds a fresh tree and runs tap in it; a test run by hand runs from the
// sources.
//   node --import tsx cluster/build-tree.ts <dir>
import { copyFileSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
/** The checkout's code directories: what a role process, a test or a bench may load or read. */
const codeDirs = ['cluster', 'sip', 'gateway', 'shards', 'raft', 'common', 'bench', 'test', 'bin'];
/** Top-level files a test reads. */
const topFiles = ['README.md'];

/** Copies every file under `from` into `to`. The sources hold no `.js` of their own beside
 * a `.ts`, so nothing tsc wrote is overwritten. */
function copyTree(from: string, to: string): number {
  let copied = 0;
  for (const entry of readdirSync(from, { withFileTypes: true })) {
    const src = join(from, entry.name);
    if (entry.isDirectory()) {
      copied += copyTree(src, join(to, entry.name));
    } else if (entry.isFile()) {
      mkdirSync(to, { recursive: true });
      copyFileSync(src, join(to, entry.name));
      copied++;
    }
  }
  return copied;
}

type PackageJson = { tap?: { include?: string[]; 'node-arg'?: string[] } & Record<string, unknown> } & Record<string, unknown>;

/** The package.json of the tree: tap runs the compiled test files, with the compiled
 * fast-check seed module and without tsx (nothing a test file loads is TypeScript there). */
function treePackageJson(pkg: PackageJson): PackageJson {
  const tap = pkg.tap ?? {};
  const nodeArgs = (tap['node-arg'] ?? []).filter((a) => a !== '--import=tsx').map((a) => a.replace(/^(--import=\.\/.*)\.ts$/, '$1.js'));
  const include = (tap.include ?? []).map((p) => p.replace(/\.ts$/, '.js'));
  return { ...pkg, tap: { ...tap, 'node-arg': nodeArgs, include } };
}

const outDir = process.argv[2];
if (!outDir) {
  process.stderr.write('usage: build-tree <dir> (the directory tsc --outDir wrote)\n');
  process.exit(2);
}
const out = resolve(outDir);
let copied = 0;
for (const dir of codeDirs) copied += copyTree(join(root, dir), join(out, dir));
for (const f of topFiles) copyFileSync(join(root, f), join(out, f));
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as PackageJson;
writeFileSync(join(out, 'package.json'), `${JSON.stringify(treePackageJson(pkg), null, 2)}\n`);
process.stdout.write(`build-tree: ${copied} files beside the modules, ${topFiles.join(', ')} and package.json (tap on the compiled tests) in ${relative(root, out) || '.'}\n`);
