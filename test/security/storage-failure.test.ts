// Threat: after a storage failure (disk full, I/O error) a replica process stayed up —
// refusing writes, yet serving reads from a state machine that no longer followed the
// log — so systemd saw a healthy process and never restarted it. Proves, with real
// processes: a 3-replica shard whose leader's data directory sits on a 4 MiB tmpfs; the
// tmpfs is filled; writes keep arriving through the cluster's client. The leader's next
// LevelDB batch fails with ENOSPC, and it logs `storage failed` and exits 74 (EX_IOERR);
// the other two keep quorum; every write the client saw acknowledged — before, during and
// after — is in the shard afterwards; no other process exited. Freed, the disk takes the
// replica back. Needs root (mount); skipped otherwise, failed when REQUIRE_ROOT=1.
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { ProcessSet, writeLocalClusterConfig } from '../../cluster/local-cluster.js';
import { exitCodes } from '../../common/last-resort.js';
import { ShardClient, ShardClientError } from '../../shards/client/shard-client.js';
import type { Agent } from '../../shards/types.js';
import { tempDir } from '../support/temp-dir.js';
import { fillUp, mountTmpfs, unmountTmpfs } from '../support/tmpfs.js';

const isRoot = process.getuid?.() === 0;
const skip = isRoot ? false : process.env.REQUIRE_ROOT === '1' ? false : 'needs root to mount a tmpfs (REQUIRE_ROOT=1 makes this a failure)';

t.test('a replica that cannot write exits 74 and loses no acknowledged write', { skip, timeout: 300_000 }, async (t) => {
  t.ok(isRoot, 'running as root (REQUIRE_ROOT=1)');
  if (!isRoot) return;
  const dir = tempDir(t, 'storage-failure');
  const mnt = join(dir, 'tmpfs');
  mountTmpfs(mnt);
  const victim = 's1-a';
  const victimData = join(mnt, victim);
  // s1-a is the preferred leader, so the failing disk is the leader's: the case where an
  // acknowledgement could run ahead of the disk.
  const { path, config } = await writeLocalClusterConfig({ dir, shards: 1, preferredLeaders: true });
  const procs = new ProcessSet(path, { logFile: join(dir, 'processes.log') });
  const client = new ShardClient({ shards: config.shards, auth: { secret: config.secret, principal: 'launcher' }, attemptTimeoutMs: 1000, deadlineMs: 20_000 });
  const exits: { id: string; code: number | null; signal: string | null }[] = [];
  let tearingDown = false;
  procs.onExit = (id, code, signal) => {
    if (!tearingDown) exits.push({ id, code, signal });
  };
  const killAll = (): void => procs.killAllNow();
  process.once('exit', killAll);
  t.teardown(async () => {
    tearingDown = true;
    client.close();
    await procs.stopAll(2000);
    process.removeListener('exit', killAll);
    unmountTmpfs(mnt);
  });

  await Promise.all(config.shards[0]!.replicas.map((r) => procs.start('shard', r.id, r.id === victim ? ['--data', victimData] : [], 120_000)));
  for (let i = 0; ; i++) {
    const leader = await client.leaderStatus('s1');
    if (leader?.id === victim) break;
    if (i >= 600) throw new Error(`${victim} never took the lead (leader: ${leader?.id})`);
    await new Promise((r) => setTimeout(r, 100));
  }

  const acked: string[] = [];
  let nextDn = 3000;
  let failedAttempts = 0;
  const write = async (): Promise<void> => {
    const dn = String(nextDn++);
    try {
      const r = await client.command(dn, { type: 'provision', dn, name: `Agent ${dn}`, skills: { support: 50 }, wrapUpMs: 0, maxNoAnswer: 0, credentials: null });
      if (r.ok) acked.push(dn);
    } catch (err) {
      if (!(err instanceof ShardClientError)) throw err;
      failedAttempts++;
    }
  };
  for (let i = 0; i < 20; i++) await write();
  t.equal(acked.length, 20, 'the healthy shard acknowledges writes');

  const filled = fillUp(join(mnt, 'filler'));
  t.ok(filled > 0, `filled the tmpfs (${filled} bytes)`);
  // Writes keep coming, 8 at a time, until the victim is gone and 100 more were acknowledged.
  let afterExit = 0;
  for (let round = 0; round < 500 && afterExit < 100; round++) {
    const gone = !procs.isRunning(victim);
    const before = acked.length;
    await Promise.all(Array.from({ length: 8 }, () => write()));
    if (gone) afterExit += acked.length - before;
  }
  t.notOk(procs.isRunning(victim), `${victim} is no longer running`);
  t.same(exits, [{ id: victim, code: exitCodes.storage, signal: null }], `only ${victim} exited, with ${exitCodes.storage} (EX_IOERR)`);
  t.ok(afterExit >= 100, `the other two replicas kept acknowledging writes (${afterExit} after the exit; ${failedAttempts} attempts failed)`);

  const log = readFileSync(join(dir, 'processes.log'), 'utf8');
  const storageLines = log.split('\n').filter((l) => l.includes('"msg":"storage failed"')).map((l) => JSON.parse(l) as Record<string, unknown>);
  t.equal(storageLines.length, 1, 'one "storage failed" line');
  t.match(storageLines[0], { level: 'error', replica: victim, exitCode: exitCodes.storage, err: /ENOSPC|No space left|IO error/i }, 'it names the replica and the disk error');

  const agents = (await client.read('s1', { type: 'agents', filter: {} }, 'linearizable')) as Agent[];
  const present = new Set(agents.map((a) => a.dn));
  const lost = acked.filter((dn) => !present.has(dn));
  t.same(lost, [], `all ${acked.length} acknowledged writes are in the shard`);

  // The supervisor's part: with the disk freed, the same data directory starts again.
  rmSync(join(mnt, 'filler'));
  await procs.start('shard', victim, ['--data', victimData], 120_000);
  t.ok(procs.isRunning(victim), `${victim} restarts on its freed disk`);
  await write();
  t.equal(acked[acked.length - 1], String(nextDn - 1), 'the shard acknowledges writes with the replica back');
  t.same(exits.slice(1), [], 'nothing else exited');
});
