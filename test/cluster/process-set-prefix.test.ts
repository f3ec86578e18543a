// ProcessSet.commandPrefix runs a role inside something (cluster/netns.ts uses `ip netns
// exec <ns>`); the prefix must exec the role in place, so the pid the set holds, reports
// and SIGKILLs is the role's own. Here the prefix is `env VAR=...`, which also execs in
// place, so the test runs without root: the ready line's pid is the held pid, that pid is
// a node process carrying the variable, the prefix saw the role and id, and a kill ends it.
import { existsSync, readFileSync } from 'node:fs';
import t from 'tap';
import { ProcessSet, writeLocalClusterConfig, type ProcRole } from '../../cluster/local-cluster.js';
import { tempDir } from '../support/temp-dir.js';

t.test('a command prefix runs the role in place: the pid held is the role\'s own', async (t) => {
  const dir = tempDir(t, 'process-set-prefix');
  const { path } = await writeLocalClusterConfig({ dir, shards: 1, gateways: 1 });
  const procs = new ProcessSet(path);
  t.teardown(() => procs.stopAll(2000));
  const asked: string[] = [];
  procs.commandPrefix = (role: ProcRole, id: string) => {
    asked.push(`${role}:${id}`);
    return ['env', 'RINGFENCE_PREFIX_PROBE=1'];
  };
  const ready = await procs.start('gateway', 'gw1', [], 120_000);
  const pid = procs.pid('gw1')!;
  t.same(asked, ['gateway:gw1'], 'the prefix is asked with the role and id');
  t.equal(ready.pid, pid, 'the ready line\'s pid is the one the set holds');
  t.match(readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0], /node/, 'that pid is the node process, not the prefix');
  t.ok(readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').includes('RINGFENCE_PREFIX_PROBE=1'), 'started through the prefix');
  await procs.kill('gw1');
  t.notOk(existsSync(`/proc/${pid}`) && !readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z'), 'SIGKILL by that pid ended it');
});
