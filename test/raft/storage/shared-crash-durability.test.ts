// Proves SharedLogDb's batched sync saves survive a SIGKILL for every group: a child
// process runs 40 groups, each in its own loop saving 2 entries with sync=true and
// reporting each save after it resolved; the parent SIGKILLs it while writes are in
// flight, reopens the directory and checks that every group's log is a contiguous prefix
// starting at 1 with its own payloads (so no entry landed under another group's key) and
// holds every entry the child reported for that group. Two kill/reopen rounds run on the
// same directory, so a recovered database is appended to and killed again. It also reads
// the child's own counters: the 40 groups shared their fsyncs (at most one per 10 saves).
// (SIGKILL keeps the OS page cache; power loss is not simulated here.)

import t, { type Test } from 'tap';
import { SharedLogDb } from '../../../raft/storage/shared-log.js';
import { groupPayloadFor } from './fixtures/payload.js';
import { fixtureArgs, runChild } from './helpers.js';

const GROUPS = 40;

type Round = { reported: Map<number, number>; started: Map<number, number>; saves: number; syncs: number };

/** Runs the writer until it reported `killAfter` saves in all, then SIGKILLs it. */
async function runAndKill(t: Test, dir: string, killAfter: number): Promise<Round> {
  const round: Round = { reported: new Map(), started: new Map(), saves: 0, syncs: 0 };
  const end = await runChild(t, process.execPath, fixtureArgs('shared-sync-writer.ts', dir, String(GROUPS), '100000'), (line, child) => {
    const [word, g, n, , syncs] = line.split(' ');
    if (word === 'ready') round.started.set(Number(g), Number(n));
    if (word === 'saved') {
      round.reported.set(Number(g), Number(n));
      round.syncs = Math.max(round.syncs, Number(syncs));
      if (++round.saves === killAfter) child.kill('SIGKILL');
    }
  });
  if (end.signal !== 'SIGKILL') throw new Error(`writer exited ${end.code} before the kill: ${end.stderr}`);
  return round;
}

t.test('every reported save of every group survives SIGKILL; the groups share fsyncs', async (t) => {
  const dir = t.testdir();
  let previous = new Map<number, number>();
  for (const killAfter of [1500, 2300]) {
    const round = await runAndKill(t, dir, killAfter);
    t.equal(round.started.size, GROUPS, `all ${GROUPS} groups started`);
    t.ok([...previous].every(([g, n]) => (round.started.get(g) ?? -1) >= n), 'each group resumed at or after what it reported before');
    t.ok(round.syncs * 10 <= round.saves, `${round.syncs} fsyncs for ${round.saves} acknowledged sync saves`);
    const db = await SharedLogDb.open(dir);
    t.same(await db.groups(), Array.from({ length: GROUPS }, (_, g) => `group-${g}`).sort(), 'groups() lists every group');
    const failures: string[] = [];
    for (let g = 0; g < GROUPS; g++) {
      const { entries, hardState } = await db.group(`group-${g}`).load();
      const last = entries.length ? entries[entries.length - 1]!.index : 0;
      const reported = round.reported.get(g) ?? 0;
      if (last < reported) failures.push(`group-${g}: log reaches ${last}, child reported ${reported}`);
      if (hardState.commit < reported) failures.push(`group-${g}: commit ${hardState.commit} < reported ${reported}`);
      if (!entries.every((e, i) => e.index === i + 1)) failures.push(`group-${g}: gap in 1..${last}`);
      const foreign = entries.find((e) => Buffer.compare(Buffer.from(e.data), Buffer.from(groupPayloadFor(g, e.index))) !== 0);
      if (foreign) failures.push(`group-${g}: entry ${foreign.index} holds another payload`);
    }
    await db.close();
    t.same(failures, [], `every group holds its ${[...round.reported.values()].reduce((a, b) => a + b, 0)} reported entries, intact`);
    previous = round.reported;
  }
});
