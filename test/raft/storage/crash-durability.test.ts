// Proves LevelRaftStorage's sync saves survive a SIGKILL: a child process appends batches
// with sync=true and reports each one after save() resolved; the parent kills it with
// SIGKILL while it is writing, reopens the directory and checks that the log is a
// contiguous prefix starting at 1, every entry decodes with a valid CRC and the expected
// payload, and every batch the child reported is present. Three kill/reopen rounds run on
// the same directory, so a log recovered after a crash is also appended to and killed.
// (SIGKILL keeps the OS page cache; power loss is not simulated here.)

import t, { type Test } from 'tap';
import { LevelRaftStorage } from '../../../raft/storage/level-storage.js';
import { payloadFor } from './fixtures/payload.js';
import { fixtureArgs, runChild } from './helpers.js';

/** Runs the writer until it reported `killAfter` saves, SIGKILLs it, returns the highest reported index. */
async function runAndKill(t: Test, dir: string, killAfter: number): Promise<{ reported: number; started: number }> {
  let reported = 0;
  let started = -1;
  let saves = 0;
  const end = await runChild(t, process.execPath, fixtureArgs('sync-writer.ts', dir, '100000'), (line, child) => {
    const [word, n] = line.split(' ');
    if (word === 'ready') started = Number(n);
    if (word === 'saved') {
      reported = Number(n);
      if (++saves === killAfter) child.kill('SIGKILL');
    }
  });
  if (end.signal !== 'SIGKILL') throw new Error(`writer exited ${end.code} before the kill: ${end.stderr}`);
  return { reported, started };
}

t.test('every reported sync save survives SIGKILL and the log stays a contiguous prefix', async (t) => {
  const dir = t.testdir();
  let previousReported = 0;
  for (const killAfter of [25, 40, 15]) {
    const { reported, started } = await runAndKill(t, dir, killAfter);
    t.ok(started >= previousReported, `child resumed at ${started}, after the ${previousReported} reported before`);
    const s = await LevelRaftStorage.open(dir, { groupId: 'crash' });
    const { entries, hardState } = await s.load();
    await s.close();
    const last = entries.length ? entries[entries.length - 1]!.index : 0;
    t.ok(last >= reported, `log reaches ${last}, child reported ${reported}`);
    t.ok(hardState.commit >= reported, `hard state commit ${hardState.commit} covers the reported saves`);
    const contiguous = entries.every((e, i) => e.index === i + 1);
    t.ok(contiguous, 'indexes are 1..last without a gap');
    const intact = entries.every((e) => Buffer.compare(Buffer.from(e.data), Buffer.from(payloadFor(e.index))) === 0);
    t.ok(intact, 'every payload matches what the child wrote');
    previousReported = reported;
  }
});
