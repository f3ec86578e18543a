// A role that dies before it is ready says why: ProcessSet's error carries the end of
// the child's stderr, since a test's log file may be deleted with its temporary
// directory before anyone reads it (a CI run once showed only "exited (1)").
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { ProcessSet, writeLocalClusterConfig } from '../../common/local-cluster.js';

t.test('an exit before ready reports the stderr it ended with', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ringfence-process-set-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const { path } = await writeLocalClusterConfig({ dir, shards: 1 });
  const procs = new ProcessSet(path);
  t.teardown(() => procs.stopAll(1000));
  await t.rejects(procs.start('shard', 'no-such-replica', [], 60_000), /shard no-such-replica exited \(1\) before it was ready; its stderr ended:\n.*no replica "no-such-replica" in the cluster file/);
});
