// A store whose disk fails exits 74 (EX_IOERR), as a replica does (test/security/
// storage-failure.test.ts): with one LevelDB for all its groups, one failed batch stops
// every group it hosts, so the process must end rather than serve reads from state
// machines that no longer follow the log. Three stores and 6 shards as real processes;
// store a's data directory is a 4 MiB tmpfs, filled while writes arrive on every shard.
// Store a exits 74 with one `storage failed` line; b and c keep every shard writable; no
// acknowledged write is lost; freed, the disk takes store a back. Needs root (mount);
// skipped otherwise, failed when REQUIRE_ROOT=1.
import { readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import t from 'tap';
import { ProcessSet, writeLocalClusterConfig } from '../../cluster/local-cluster.js';
import { exitCodes } from '../../common/last-resort.js';
import { ShardClient, ShardClientError } from '../../shards/client/shard-client.js';
import type { Agent } from '../../shards/types.js';
import { tempDir } from '../support/temp-dir.js';
import { fillUp, mountTmpfs, unmountTmpfs } from '../support/tmpfs.js';

const isRoot = process.getuid?.() === 0;
const skip = isRoot ? false : process.env.REQUIRE_ROOT === '1' ? false : 'needs root to mount a tmpfs (REQUIRE_ROOT=1 makes this a failure)';

t.test('a store that cannot write exits 74 and loses no acknowledged write', { skip, timeout: 300_000 }, async (t) => {
  t.ok(isRoot, 'running as root (REQUIRE_ROOT=1)');
  if (!isRoot) return;
  const dir = tempDir(t, 'store-storage-failure');
  // writeLocalClusterConfig puts store a's data at <dir>/store-a: mount the tmpfs there.
  const mnt = join(resolve(dir), 'store-a');
  mountTmpfs(mnt);
  const { path, config } = await writeLocalClusterConfig({ dir, shards: 6, stores: 3 });
  t.equal(config.stores![0]!.data, mnt, 'store a\'s data directory is the tmpfs');
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
  await Promise.all(['a', 'b', 'c'].map((id) => procs.start('store', id, [], 120_000)));

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
  for (let i = 0; i < 30; i++) await write();
  t.equal(acked.length, 30, 'the stores acknowledge writes');

  const filled = fillUp(join(mnt, 'filler'));
  t.ok(filled > 0, `filled the tmpfs (${filled} bytes)`);
  let afterExit = 0;
  for (let round = 0; round < 500 && afterExit < 100; round++) {
    const gone = !procs.isRunning('a');
    const before = acked.length;
    await Promise.all(Array.from({ length: 8 }, () => write()));
    if (gone) afterExit += acked.length - before;
  }
  t.notOk(procs.isRunning('a'), 'store a is no longer running');
  t.same(exits, [{ id: 'a', code: exitCodes.storage, signal: null }], `only store a exited, with ${exitCodes.storage} (EX_IOERR)`);
  t.ok(afterExit >= 100, `stores b and c kept acknowledging writes (${afterExit} after the exit; ${failedAttempts} attempts failed)`);
  const log = readFileSync(join(dir, 'processes.log'), 'utf8');
  const storageLines = log.split('\n').filter((l) => l.includes('"msg":"storage failed"')).map((l) => JSON.parse(l) as Record<string, unknown>);
  t.equal(storageLines.length, 1, 'one "storage failed" line');
  t.match(storageLines[0], { level: 'error', store: 'a', exitCode: exitCodes.storage, err: /ENOSPC|No space left|IO error/i }, 'it names the store and the disk error');

  const present = new Set<string>();
  for (const s of config.shards) for (const a of (await client.read(s.id, { type: 'agents', filter: {} }, 'linearizable')) as Agent[]) present.add(a.dn);
  t.same(acked.filter((dn) => !present.has(dn)), [], `all ${acked.length} acknowledged writes are in their shards`);

  rmSync(join(mnt, 'filler'));
  await procs.start('store', 'a', [], 120_000);
  t.ok(procs.isRunning('a'), 'store a restarts on its freed disk');
  await write();
  t.equal(acked[acked.length - 1], String(nextDn - 1), 'writes are acknowledged with store a back');
  t.same(exits.slice(1), [], 'nothing else exited');
});
