// bench/profile-summary.ts names a frame's area from its path in the checkout it runs in,
// so a profile taken in a git worktree (whose node_modules is a symlink to another
// checkout's) is summarized by folder and package, not by raw file URL. Before the fix
// only /work/main paths were recognized.
import t from 'tap';
import { fileURLToPath } from 'node:url';
import { areaOf, repoPathOf } from '../../bench/profile-summary.js';

const root = fileURLToPath(new URL('../../', import.meta.url));

t.test('files of this checkout are named by their folder', async (t) => {
  t.equal(areaOf({ functionName: 'step', url: `file://${root}raft/core/raft.ts`, lineNumber: 1 }), 'raft/core');
  t.equal(areaOf({ functionName: 'x', url: `file://${root}sip/syntax/parser.ts?v=1`, lineNumber: 1 }), 'sip/syntax');
  t.equal(repoPathOf(`file://${root}shards/state-machine.ts`), 'shards/state-machine.ts');
});

t.test('a package is named wherever its node_modules resolves', async (t) => {
  t.equal(areaOf({ functionName: 'put', url: 'file:///elsewhere/checkout/node_modules/classic-level/index.js', lineNumber: 1 }), 'npm:classic-level');
  t.equal(areaOf({ functionName: 'x', url: 'file:///elsewhere/node_modules/@fastify/swagger/index.js', lineNumber: 1 }), 'npm:@fastify/swagger');
});

t.test('a file outside the checkout keeps its URL; node internals their bucket', async (t) => {
  t.equal(areaOf({ functionName: 'x', url: 'file:///opt/other/thing.js', lineNumber: 1 }), 'file:///opt/other/thing.js');
  t.equal(areaOf({ functionName: 'x', url: 'node:internal/timers', lineNumber: 1 }), 'node:timers');
  t.equal(areaOf({ functionName: '(garbage collector)', url: '', lineNumber: 0 }), 'gc');
});
