// Proves a failed LevelDB write fails every group of a SharedLogDb and lets nothing after
// it land: a child process (fixtures/shared-failing-writer.ts) runs 20 groups under a
// file-size limit (`ulimit -f`, so the log write gets a real EFBIG from the kernel) and
// saves a round of entries in every group per turn until a write fails, then 3 more
// rounds. Every group's save in the failing round rejects with RAFT_ERR_STORAGE (they
// shared one batch), so does every save after it, and the failure is logged. Reopened
// without the limit, the database holds every acknowledged round of every group and none
// of the rounds after the failing one; the failing round is in all groups or in none.

import t, { type Test } from 'tap';
import { SharedLogDb } from '../../../raft/storage/shared-log.js';
import { groupPayloadFor } from './fixtures/payload.js';
import { fixtureArgs, runChild } from './helpers.js';

const GROUPS = 20;
/** 512-byte blocks: 1 MiB, well under LevelDB's 4 MiB log rotation, so the log outgrows it. */
const FILE_BLOCKS_MAX = 2048;

async function runLimited(t: Test, dir: string): Promise<{ rounds: string[][]; stderr: string }> {
  const rounds: string[][] = [];
  const script = `ulimit -f ${FILE_BLOCKS_MAX} && exec "$0" "$@"`;
  const argv = ['-c', script, process.execPath, ...fixtureArgs('shared-failing-writer.ts', dir, String(GROUPS))];
  const end = await runChild(t, '/bin/sh', argv, (line) => rounds.push(line.split(' ').slice(2)));
  if (end.code !== 0) throw new Error(`writer exited ${end.code ?? end.signal}: ${end.stderr}`);
  return { rounds, stderr: end.stderr };
}

t.test('a failed write rejects every group of its batch and everything after it', async (t) => {
  const dir = t.testdir();
  const { rounds, stderr } = await runLimited(t, dir);
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
