// Completes a compiled tree after `tsc --outDir <dir>`: copies the files the modules read
// beside themselves (the dashboard's page, SIPp scenarios, prompt WAVs, …: every file of
// the source directories that is not TypeScript) and the package.json (module type, and
// the version `--version` prints), so `node <dir>/cluster/cli.js` runs as the sources do.
// `npm test` builds one for the role processes its tests start (common/node-entry.ts).
//   node --import tsx cluster/build-tree.ts <dir>
import { copyFileSync, mkdirSync, readdirSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
/** The directories of modules a role process may load (tests and benches start none). */
const sourceDirs = ['cluster', 'sip', 'gateway', 'shards', 'raft', 'common'];

function copyAssets(from: string, to: string): number {
  let copied = 0;
  for (const entry of readdirSync(from, { withFileTypes: true })) {
    const src = join(from, entry.name);
    if (entry.isDirectory()) {
      copied += copyAssets(src, join(to, entry.name));
    } else if (entry.isFile() && !entry.name.endsWith('.ts')) {
      mkdirSync(to, { recursive: true });
      copyFileSync(src, join(to, entry.name));
      copied++;
    }
  }
  return copied;
}

const outDir = process.argv[2];
if (!outDir) {
  process.stderr.write('usage: build-tree <dir> (the directory tsc --outDir wrote)\n');
  process.exit(2);
}
const out = resolve(outDir);
let copied = 0;
for (const dir of sourceDirs) copied += copyAssets(join(root, dir), join(out, dir));
copyFileSync(join(root, 'package.json'), join(out, 'package.json'));
process.stdout.write(`build-tree: ${copied} files beside the modules and package.json copied into ${relative(root, out) || '.'}\n`);
