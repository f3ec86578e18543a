// Proves SharedLogDb's point (issue #20, batched durability): the saves of 100 groups made
// in one event-loop turn become exactly one LevelDB write with one fsync, saves arriving
// while it is in flight become exactly one more, and no save resolves before the write
// holding it completed (each resolution reads the completed-write counter). Also: a batch
// is synced only if one of its saves asked; 50 groups' entries, hard states and snapshots
// survive close and open; groups() lists exactly the groups with state; destroyGroup drops
// one group and no other (ids that prefix each other: shard-1 and shard-10..19); one view
// per group at a time; a batch stops taking saves past its byte limit.

import t from 'tap';
import { logBatchBytesMax } from '../../../raft/storage/limits.js';
import { SharedLogDb } from '../../../raft/storage/shared-log.js';
import type { RaftStorage } from '../../../raft/storage/storage.js';
import { entries, entry } from './helpers.js';

const conf = { voters: ['a', 'b', 'c'], learners: [] };

async function openGroups(db: SharedLogDb, count: number): Promise<RaftStorage[]> {
  const views: RaftStorage[] = [];
  for (let i = 0; i < count; i++) {
    const v = db.group(`shard-${i}`);
    await v.load();
    views.push(v);
  }
  return views;
}

/** Saves one entry per group in this turn; each promise yields the completed-write count
 * seen at the moment it resolved. */
function saveAll(db: SharedLogDb, views: RaftStorage[], index: number, sync: (i: number) => boolean): Promise<number[]> {
  return Promise.all(
    views.map((v, i) =>
      v.save({ hardState: { term: 1, vote: 'a', commit: index - 1 }, entries: [entry(index, 1)], snapshot: null }, sync(i)).then(() => db.stats.writes),
    ),
  );
}

t.test('100 groups saving in one turn: one write, one fsync; saves during it: one more', async (t) => {
  const db = await SharedLogDb.open(t.testdir());
  t.teardown(() => db.close());
  const views = await openGroups(db, 100);
  const first = saveAll(db, views, 1, () => true);
  // The batch starts on the next check phase; this immediate runs right after it started,
  // before its completion can be polled, so these saves arrive while it is in flight.
  await new Promise((resolve) => setImmediate(resolve));
  t.equal(db.stats.writes, 0, 'the first write has not completed yet');
  const second = saveAll(db, views, 2, () => true);
  const [seenFirst, seenSecond] = await Promise.all([first, second]);
  t.ok(seenFirst.every((w) => w >= 1), 'no save of the first turn resolved before the first write completed');
  t.ok(seenSecond.every((w) => w === 2), 'no save of the second wave resolved before the second write completed');
  t.same(db.stats, { writes: 2, syncs: 2, saves: 200, syncedSaves: 200, ops: 400, bytes: db.stats.bytes, largestBatchSaves: 100 });
  t.ok(db.stats.bytes > 200 * 20, `bytes counted (${db.stats.bytes})`);
});

t.test('a batch is synced only when one of its saves asked', async (t) => {
  const db = await SharedLogDb.open(t.testdir());
  t.teardown(() => db.close());
  const views = await openGroups(db, 100);
  await saveAll(db, views, 1, () => false);
  t.match(db.stats, { writes: 1, syncs: 0, saves: 100, syncedSaves: 0 }, 'no save asked: written unsynced');
  await saveAll(db, views, 2, (i) => i === 57);
  t.match(db.stats, { writes: 2, syncs: 1, saves: 200, syncedSaves: 1 }, 'one save asked: the whole batch synced once');
});

t.test('50 groups survive close and open; groups() lists them; destroyGroup drops one only', async (t) => {
  const dir = t.testdir();
  let db = await SharedLogDb.open(dir);
  const views = await openGroups(db, 50);
  // Every group writes 1..(5+i%7) in term 1+i%3; every third then compacts up to 3, and
  // every fifth installs a snapshot at 20 that replaces its log: all in the same turns.
  const lastOf = (i: number) => 5 + (i % 7);
  await Promise.all(views.map((v, i) => v.save({ hardState: { term: 1 + (i % 3), vote: `n${i}`, commit: 3 }, entries: entries(1, lastOf(i), 1 + (i % 3)), snapshot: null }, true)));
  const snapAt = (i: number) => ({ meta: { index: 20, term: 4, conf }, data: new Uint8Array([i]) });
  const compactAt = (i: number) => ({ meta: { index: 3, term: 1 + (i % 3), conf }, data: new Uint8Array([i, 3]) });
  await Promise.all(
    views.map((v, i) => {
      if (i % 5 === 0) return v.save({ hardState: { term: 4, vote: null, commit: 20 }, entries: [entry(21, 4)], snapshot: snapAt(i) }, true);
      if (i % 3 === 0) return v.compact(compactAt(i));
      return Promise.resolve();
    }),
  );
  await db.close();

  db = await SharedLogDb.open(dir);
  t.teardown(() => db.close());
  const expected = (i: number) => {
    if (i % 5 === 0) return { hardState: { term: 4, vote: null, commit: 20 }, snapshot: snapAt(i), entries: [entry(21, 4)] };
    const hardState = { term: 1 + (i % 3), vote: `n${i}`, commit: 3 };
    if (i % 3 === 0) return { hardState, snapshot: compactAt(i), entries: entries(4, lastOf(i), 1 + (i % 3)) };
    return { hardState, snapshot: null, entries: entries(1, lastOf(i), 1 + (i % 3)) };
  };
  const ids = Array.from({ length: 50 }, (_, i) => `shard-${i}`);
  t.same(await db.groups(), [...ids].sort(), 'groups() lists the 50 groups, in byte order');
  for (let i = 0; i < 50; i++) {
    const v = db.group(ids[i]!);
    t.same(await v.load(), expected(i), `${ids[i]} loads what it saved`);
    await v.close();
  }

  await db.destroyGroup('shard-1');
  t.same(await db.groups(), ids.filter((id) => id !== 'shard-1').sort(), 'only shard-1 is gone');
  const gone = db.group('shard-1');
  t.same(await gone.load(), { hardState: { term: 0, vote: null, commit: 0 }, snapshot: null, entries: [] }, 'shard-1 loads empty');
  await t.rejects(db.destroyGroup('shard-1'), { code: 'RAFT_ERR_STORAGE', message: /open/ }, 'an open group is not destroyed');
  await gone.close();
  for (let i = 10; i < 20; i++) {
    const v = db.group(ids[i]!);
    t.same(await v.load(), expected(i), `${ids[i]} (its id starts with shard-1) is untouched`);
    await v.close();
  }
});

t.test('one view per group at a time; a closed view refuses writes, the group re-opens', async (t) => {
  const db = await SharedLogDb.open(t.testdir());
  t.teardown(() => db.close());
  const v = db.group('g');
  t.throws(() => db.group('g'), { code: 'RAFT_ERR_STORAGE', message: /already open/ });
  t.throws(() => db.group('bad\0id'), { code: 'RAFT_ERR_STORAGE', message: /NUL/ });
  await v.load();
  await v.save({ hardState: null, entries: entries(1, 2, 1), snapshot: null }, true);
  await v.close();
  await t.rejects(v.save({ hardState: null, entries: [entry(3, 1)], snapshot: null }, true), { code: 'RAFT_ERR_STORAGE' });
  const again = db.group('g');
  t.same((await again.load()).entries, entries(1, 2, 1));
  await db.close();
  await t.rejects(again.save({ hardState: null, entries: [entry(3, 1)], snapshot: null }, true), { code: 'RAFT_ERR_STORAGE' }, 'closing the db closes its views');
  t.throws(() => db.group('h'), { code: 'RAFT_ERR_STORAGE' });
});

t.test('a batch past its byte limit takes no more saves; the next batch follows it', async (t) => {
  const batchBytesMax = 64 * 1024;
  t.ok(logBatchBytesMax >= batchBytesMax, 'the default limit is at least the one tried here');
  const db = await SharedLogDb.open(t.testdir(), { batchBytesMax });
  t.teardown(() => db.close());
  const views = await openGroups(db, 3);
  const big = (i: number) => ({ index: 1, term: 1, kind: 'normal' as const, timestampMs: 0, data: new Uint8Array(batchBytesMax / 2 + 1).fill(i) });
  await Promise.all(views.map((v, i) => v.save({ hardState: null, entries: [big(i)], snapshot: null }, true)));
  t.match(db.stats, { writes: 2, syncs: 2, saves: 3, largestBatchSaves: 2 }, 'two saves filled the first batch, the third went to the next');
  for (let i = 0; i < 3; i++) {
    await views[i]!.close();
    t.same((await db.group(`shard-${i}`).load()).entries, [big(i)], `shard-${i} holds its entry`);
  }
});
