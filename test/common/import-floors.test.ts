// Proves the house's floors (STYLE.md): every import of a source file points down the
// list cluster → sip → gateway/shards → raft → common, SIP's own layers point down
// syntax ← transport ← transaction ← node/phones, and the pure cores import no sockets,
// disk or timers. It reads the import lines of every file under the six source folders,
// resolves each relative specifier to the folder it lands in, and names every file whose
// import runs upward; benchmarks import no test code. A checker test on synthetic files
// shows the rule can fail.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const floors = ['cluster', 'sip', 'gateway', 'shards', 'raft', 'common'] as const;
type Floor = (typeof floors)[number];

/** What each floor may import besides itself (node and npm packages always). */
const mayImport: Record<Floor, readonly Floor[]> = {
  cluster: ['sip', 'gateway', 'shards', 'raft', 'common'],
  sip: ['gateway', 'shards', 'common'],
  gateway: ['common'],
  shards: ['raft', 'common'],
  raft: ['common'],
  common: [],
};

/** SIP's RFC 3261 layers, each above the ones it may import. */
const sipLayers: Record<string, readonly string[]> = {
  syntax: [],
  transport: ['syntax'],
  transaction: ['transport', 'syntax'],
  node: ['transaction', 'transport', 'syntax', 'phones'],
  phones: ['transaction', 'transport', 'syntax'],
};

/** Pure cores: no sockets, no disk, no timers (STYLE.md §1). */
const pureCores = ['raft/core/', 'sip/syntax/', 'shards/state-machine.ts', 'shards/agent-ops.ts', 'shards/commands.ts', 'shards/sessions.ts'];
const ioModules = new Set(['node:net', 'node:dgram', 'node:fs', 'node:fs/promises', 'node:timers', 'node:timers/promises', 'node:tls', 'node:http', 'net', 'dgram', 'fs', 'timers']);

/** Every module specifier of a file: static imports and re-exports, side-effect
 * imports and dynamic `import('…')` with a literal. */
export function specifiersOf(source: string): string[] {
  const found: string[] = [];
  const patterns = [/\b(?:import|export)\s[^'";]*?\bfrom\s*['"]([^'"]+)['"]/g, /\bimport\s*['"]([^'"]+)['"]/g, /\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)/g];
  for (const re of patterns) for (const m of source.matchAll(re)) found.push(m[1]!);
  return found;
}

/** The upward imports of one file, as `file → target (reason)` lines. */
export function violationsOf(file: string, source: string): string[] {
  const rel = (p: string) => relative(root, p).split(sep).join('/');
  const fileRel = rel(file);
  const [floor, layer] = fileRel.split('/') as [Floor, string];
  const problems: string[] = [];
  for (const spec of specifiersOf(source)) {
    if (pureCores.some((c) => fileRel.startsWith(c)) && ioModules.has(spec)) problems.push(`${fileRel} → ${spec} (a pure core does no I/O)`);
    if (!spec.startsWith('.')) continue;
    const target = rel(resolve(dirname(file), spec));
    const [targetFloor, targetLayer] = target.split('/') as [string, string];
    if (targetFloor === floor) {
      if (floor === 'sip' && layer in sipLayers && targetLayer in sipLayers && targetLayer !== layer && !sipLayers[layer]!.includes(targetLayer)) {
        problems.push(`${fileRel} → ${target} (sip/${layer} is below sip/${targetLayer})`);
      }
      continue;
    }
    if (!(floors as readonly string[]).includes(targetFloor) || !mayImport[floor].includes(targetFloor as Floor)) {
      problems.push(`${fileRel} → ${target} (${floor}/ may import ${[...mayImport[floor], 'itself'].join(', ')})`);
    }
  }
  return problems;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(p);
    return /\.(ts|js|mjs)$/.test(e.name) ? [p] : [];
  });
}

t.test('the checker names an upward import, and only that', async (t) => {
  const shardFile = join(root, 'shards/node/example.ts');
  t.same(violationsOf(shardFile, "import { clusterViewRoutes } from '../../cluster/cluster-view.js';"), ['shards/node/example.ts → cluster/cluster-view.js (shards/ may import raft, common, itself)']);
  t.same(violationsOf(shardFile, "import '../../cluster/cluster-view.js';"), ['shards/node/example.ts → cluster/cluster-view.js (shards/ may import raft, common, itself)'], 'a side-effect import counts');
  t.same(violationsOf(shardFile, "const m = await import('../../sip/node/node.js');"), ['shards/node/example.ts → sip/node/node.js (shards/ may import raft, common, itself)'], 'a dynamic import counts');
  t.same(violationsOf(shardFile, "import { x } from '../../raft/types.js';\nimport { y } from '../../common/logger.js';\nimport z from 'fastify';"), [], 'downward and package imports pass');
  t.same(violationsOf(join(root, 'raft/x.ts'), "export { a } from '../shards/types.js';"), ['raft/x.ts → shards/types.js (raft/ may import common, itself)'], 'a re-export counts');
  t.same(violationsOf(join(root, 'common/x.ts'), "import { a } from '../test/support/sipp.js';"), ['common/x.ts → test/support/sipp.js (common/ may import itself)'], 'production code never imports test/');
  t.same(violationsOf(join(root, 'sip/syntax/x.ts'), "import { a } from '../transaction/index.js';"), ['sip/syntax/x.ts → sip/transaction/index.js (sip/syntax is below sip/transaction)']);
  t.same(violationsOf(join(root, 'raft/core/x.ts'), "import { setTimeout } from 'node:timers';"), ['raft/core/x.ts → node:timers (a pure core does no I/O)']);
});

t.test('no source file imports upward', async (t) => {
  let files = 0;
  const problems: string[] = [];
  for (const floor of floors) {
    for (const file of sourceFiles(join(root, floor))) {
      files++;
      problems.push(...violationsOf(file, readFileSync(file, 'utf8')));
    }
  }
  t.ok(files > 150, `read the import lines of ${files} files`);
  t.same(problems, [], problems.join('\n'));
});

t.test('benchmarks import no test code', async (t) => {
  const problems: string[] = [];
  const files = sourceFiles(join(root, 'bench'));
  for (const file of files) {
    for (const spec of specifiersOf(readFileSync(file, 'utf8'))) {
      const target = relative(root, resolve(dirname(file), spec)).split(sep).join('/');
      if (spec.startsWith('.') && target.startsWith('test/')) problems.push(`${relative(root, file)} → ${target}`);
    }
  }
  t.ok(files.length > 10, `read the import lines of ${files.length} bench files`);
  t.same(problems, [], problems.join('\n'));
});
