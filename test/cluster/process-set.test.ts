// A role that dies before it is ready says why: ProcessSet's error carries the end of
// the child's stderr, since a test's log file may be deleted with its temporary
// directory before anyone reads it (a CI run once showed only "exited (1)").
import { readFileSync } from 'node:fs';
import { getPriority } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { LOCAL_ROLE_NICE, ProcessSet, writeLocalClusterConfig } from '../../cluster/local-cluster.js';
import { tempDir } from '../support/temp-dir.js';

t.test('an exit before ready reports the stderr it ended with', async (t) => {
  const dir = tempDir(t, 'process-set');
  const { path } = await writeLocalClusterConfig({ dir, shards: 1 });
  const procs = new ProcessSet(path);
  t.teardown(() => procs.stopAll(1000));
  await t.rejects(procs.start('shard', 'no-such-replica', [], 60_000), /shard no-such-replica exited \(2\) before it was ready; its stderr ended:\n.*no replica "no-such-replica" in the cluster file/);
});

// Local clusters give roles a CPU priority the way `Nice=` does in a systemd unit (the
// SIP node runs at -5 by default). Raising priority needs root, lowering it does not, so
// the test lowers a replica's.
t.test('a role starts at the nice value set for it', async (t) => {
  const dir = tempDir(t, 'process-set');
  const { path } = await writeLocalClusterConfig({ dir, shards: 1 });
  const procs = new ProcessSet(path, { nice: { shard: 7 } });
  t.teardown(() => procs.stopAll(3000));
  t.equal(LOCAL_ROLE_NICE.sip, -5, 'the SIP node is favoured by default');
  const ready = await procs.start('shard', 's1-a', [], 120_000);
  const pid = Number(ready.pid);
  t.equal(getPriority(pid), 7, 'the replica runs at nice 7');
  t.equal(procs.pid('s1-a'), pid);
});

t.test('a nice value the system refuses is logged and the role still starts', async (t) => {
  const dir = tempDir(t, 'process-set');
  const { path } = await writeLocalClusterConfig({ dir, shards: 1 });
  const logFile = join(dir, 'processes.log');
  const procs = new ProcessSet(path, { logFile, nice: { shard: -21 } });
  t.teardown(() => procs.stopAll(3000));
  const ready = await procs.start('shard', 's1-a', [], 120_000);
  t.equal(getPriority(Number(ready.pid)), getPriority(), 'the replica runs at the inherited priority');
  t.match(readFileSync(logFile, 'utf8'), /\[s1-a\] nice -21 not applied, running at the inherited priority: .*priority/);
});
