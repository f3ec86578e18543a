// Proves LevelRaftStorage's sync saves survive a SIGKILL: a child process appends batches
// with sync=true and reports each one after save() resolved; the parent kills it with
// SIGKILL while it is writing, reopens the directory and checks that the log is a
// contiguous prefix starting at 1, every entry decodes with a valid CRC and the expected
// payload, and every batch the child reported is present. Three kill/reopen rounds run on
// the same directory, so a log recovered after a crash is also appended to and killed.
// (SIGKILL keeps the OS page cache; power loss is not simulated here.)

import t from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { LevelRaftStorage } from '../../../raft/storage/level-storage.js';
import { payloadFor } from './fixtures/payload.js';

const writer = fileURLToPath(new URL('./fixtures/sync-writer.ts', import.meta.url));
const children = new Set<ChildProcess>();
t.teardown(() => {
  for (const c of children) c.kill('SIGKILL');
});

/** Runs the writer until it reported `killAfter` saves, SIGKILLs it, returns the highest reported index. */
function runAndKill(dir: string, killAfter: number): Promise<{ reported: number; started: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', writer, dir, '100000'], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    let reported = 0;
    let started = -1;
    let saves = 0;
    let buffered = '';
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout.on('data', (d: Buffer) => {
      buffered += d.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop()!;
      for (const line of lines) {
        const [word, n] = line.split(' ');
        if (word === 'ready') started = Number(n);
        if (word === 'saved') {
          reported = Number(n);
          if (++saves === killAfter) child.kill('SIGKILL');
        }
      }
    });
    child.on('exit', (code, signal) => {
      children.delete(child);
      if (signal === 'SIGKILL') resolve({ reported, started });
      else reject(new Error(`writer exited ${code} before the kill: ${stderr}`));
    });
  });
}

t.test('every reported sync save survives SIGKILL and the log stays a contiguous prefix', async (t) => {
  const dir = t.testdir();
  let previousReported = 0;
  for (const killAfter of [25, 40, 15]) {
    const { reported, started } = await runAndKill(dir, killAfter);
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
