// Proves a failed LevelDB write fails every group of a SharedLogDb and lets nothing after
// it land: a child process (fixtures/shared-failing-writer.ts) runs 20 groups under a
// file-size limit (`ulimit -f`, so the log write gets a real EFBIG from the kernel) and
// saves a round of entries in every group per turn until a write fails, then 3 more
// rounds. Every group's save in the failing round rejects with RAFT_ERR_STORAGE (they
// shared one batch), so does every save after it, and the failure is logged. Reopened
// without the limit, the database holds every acknowledged round of every group and none
// of the rounds after the failing one; the failing round is in all groups or in none.

import t from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { SharedLogDb } from '../../../raft/storage/shared-log.js';
import { groupPayloadFor } from './fixtures/payload.js';

const writer = fileURLToPath(new URL('./fixtures/shared-failing-writer.ts', import.meta.url));
const GROUPS = 20;
/** 512-byte blocks: 1 MiB, well under LevelDB's 4 MiB log rotation, so the log outgrows it. */
const FILE_BLOCKS_MAX = 2048;
const children = new Set<ChildProcess>();
t.teardown(() => {
  for (const c of children) c.kill('SIGKILL');
});

function runLimited(dir: string): Promise<{ rounds: string[][]; stderr: string }> {
  return new Promise((resolve, reject) => {
    const cmd = `ulimit -f ${FILE_BLOCKS_MAX} && exec "$0" --import tsx "$1" "$2" "$3"`;
    const child = spawn('/bin/sh', ['-c', cmd, process.execPath, writer, dir, String(GROUPS)], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('exit', (code, signal) => {
      children.delete(child);
      if (code !== 0) return reject(new Error(`writer exited ${code ?? signal}: ${stderr}`));
      const rounds = stdout
        .trim()
        .split('\n')
        .map((line) => line.split(' ').slice(2));
      resolve({ rounds, stderr });
    });
  });
}

t.test('a failed write rejects every group of its batch and everything after it', async (t) => {
  const dir = t.testdir();
  const { rounds, stderr } = await runLimited(dir);
  const failedAt = rounds.findIndex((outcomes) => outcomes.some((o) => o !== 'ok'));
  t.ok(failedAt > 0, `rounds 0..${failedAt - 1} were acknowledged before round ${failedAt} failed`);
  t.same(rounds[failedAt], Array(GROUPS).fill('RAFT_ERR_STORAGE'), 'the failing round: every group rejected with RAFT_ERR_STORAGE');
  t.equal(rounds.length, failedAt + 4, '3 rounds ran after the failure');
  for (const r of rounds.slice(failedAt + 1)) t.same(r, Array(GROUPS).fill('RAFT_ERR_STORAGE'), 'a later round: every save refused');
  t.match(stderr, /log write failed; every later write is refused/, 'the failure is logged once');
  t.equal(stderr.split('log write failed').length - 1, 1, 'and only once');

  const db = await SharedLogDb.open(dir);
  t.teardown(() => db.close());
  const lastIndexes = new Set<number>();
  const wrong: string[] = [];
  for (let g = 0; g < GROUPS; g++) {
    const { entries } = await db.group(`group-${g}`).load();
    const last = entries.length ? entries[entries.length - 1]!.index : 0;
    lastIndexes.add(last);
    if (!entries.every((e, i) => e.index === i + 1 && Buffer.compare(Buffer.from(e.data), Buffer.from(groupPayloadFor(g, e.index))) === 0)) {
      wrong.push(`group-${g}: log is not its own contiguous 1..${last}`);
    }
    if (last < 4 * failedAt) wrong.push(`group-${g}: acknowledged ${4 * failedAt}, holds ${last}`);
    if (last > 4 * failedAt + 4) wrong.push(`group-${g}: holds ${last}, written after the failure`);
  }
  t.same(wrong, [], 'every acknowledged entry is there, nothing after the failing round');
  t.equal(lastIndexes.size, 1, `the failing round is in all groups or none (last indexes: ${[...lastIndexes].join(', ')})`);
});
