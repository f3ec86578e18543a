// Proves every RaftStorage implementation keeps the contract written in
// raft/storage/storage.ts: what is saved comes back after a re-open, entries overwrite and
// truncate, compaction and snapshots replace the log prefix, gaps are refused. Each case
// runs against MemoryRaftStorage, LevelRaftStorage in a temp directory, and a SharedLogDb
// group view — re-opened both as a restart (view and database closed, database opened
// again) and as a replica re-created on a live store (view closed, group opened again on
// the same database). The shared kinds keep a neighbour group writing beside g1, so a key
// of one group leaking into another's log shows up as a gap or a wrong entry.

import t from 'tap';
import { LevelRaftStorage } from '../../../raft/storage/level-storage.js';
import { MemoryRaftStorage } from '../../../raft/storage/memory-storage.js';
import { SharedLogDb } from '../../../raft/storage/shared-log.js';
import type { RaftStorage } from '../../../raft/storage/storage.js';
import { entries, entry } from './helpers.js';

type Kind = { name: string; open(dir: string): Promise<RaftStorage>; reopen(s: RaftStorage, dir: string): Promise<RaftStorage> };

const kinds: Kind[] = [
  {
    name: 'memory',
    open: async () => new MemoryRaftStorage(),
    reopen: async (s) => {
      await s.close();
      return s;
    },
  },
  {
    name: 'level',
    open: async (dir) => LevelRaftStorage.open(dir, { groupId: 'g1' }),
    reopen: async (s, dir) => {
      await s.close();
      return LevelRaftStorage.open(dir, { groupId: 'g1' });
    },
  },
  sharedKind('shared (restart)', true),
  sharedKind('shared (view re-opened)', false),
];

/** Databases behind the shared views, closed after all tests (a view's close releases
 * only the view). */
const sharedDbs = new Map<RaftStorage, SharedLogDb>();
t.teardown(async () => {
  for (const db of new Set(sharedDbs.values())) await db.close();
});

/** Closes a storage a test is done with, and the database behind a shared view with it:
 * tap removes the test's directory as the test ends, and an open LevelDB may still be
 * writing there (once: ENOTEMPTY on the removal, in a clean-clone CI run). */
async function closeStorage(s: RaftStorage): Promise<void> {
  await s.close();
  const db = sharedDbs.get(s);
  if (db === undefined) return;
  sharedDbs.delete(s);
  await db.close();
}

function sharedKind(name: string, restart: boolean): Kind {
  return {
    name,
    open: async (dir) => {
      const db = await SharedLogDb.open(dir);
      // 'g' sorts just before 'g1' and 'g10' just after: neighbours on both sides.
      for (const id of ['g', 'g10']) {
        const other = db.group(id);
        await other.load();
        void other.save({ hardState: { term: 7, vote: 'z', commit: 0 }, entries: entries(1, 9, 7), snapshot: null }, true);
      }
      const s = db.group('g1');
      sharedDbs.set(s, db);
      return s;
    },
    reopen: async (s, dir) => {
      let db = sharedDbs.get(s)!;
      await s.close();
      sharedDbs.delete(s);
      if (restart) {
        await db.close();
        db = await SharedLogDb.open(dir);
      }
      const again = db.group('g1');
      sharedDbs.set(again, db);
      return again;
    },
  };
}

const conf = { voters: ['a', 'b', 'c'], learners: ['d'] };

for (const kind of kinds) {
  t.test(kind.name, async (t) => {
    // Regression: the driver saves a commit-only hard state without awaiting it; a save of
    // new entries issued meanwhile must not be refused as leaving a gap.
    t.test('saves issued while another is in flight see its entries', async (t) => {
      const dir = t.testdir();
      const s = await kind.open(dir);
      await s.load();
      await s.save({ hardState: { term: 1, vote: 'a', commit: 0 }, entries: entries(1, 3, 1), snapshot: null }, true);
      const inFlight = s.save({ hardState: { term: 1, vote: 'a', commit: 2 }, entries: [], snapshot: null }, false);
      const more = s.save({ hardState: null, entries: entries(4, 5, 1), snapshot: null }, true);
      await Promise.all([inFlight, more]);
      await s.save({ hardState: null, entries: entries(6, 6, 1), snapshot: null }, true);
      const reopened = await kind.reopen(s, dir);
      const loaded = await reopened.load();
      t.same(loaded.entries.map((e) => e.index), [1, 2, 3, 4, 5, 6], 'every entry is there, no gap refused');
      t.equal(loaded.hardState.commit, 2);
      await closeStorage(reopened);
    });

    // Regression: LevelDB runs batches on pool threads, so an unawaited commit-only write
    // could land after a later one and roll back its term and vote.
    t.test('a later hard state always wins over an earlier one still in flight', async (t) => {
      const dir = t.testdir();
      let s = await kind.open(dir);
      await s.load();
      for (let term = 1; term <= 40; term++) {
        const early = s.save({ hardState: { term, vote: 'a', commit: 0 }, entries: [], snapshot: null }, false);
        const late = s.save({ hardState: { term: term + 1, vote: 'b', commit: 0 }, entries: [], snapshot: null }, true);
        await Promise.all([early, late]);
        s = await kind.reopen(s, dir);
        t.same((await s.load()).hardState, { term: term + 1, vote: 'b', commit: 0 }, `round ${term}`);
      }
      await closeStorage(s);
    });

    // Regression: LevelRaftStorage read the stored entry at a snapshot's index from the
    // database, which does not hold entries still queued, so an installed snapshot matching
    // them dropped the suffix it should keep.
    t.test('a snapshot matching entries still in flight keeps the suffix after it', async (t) => {
      const dir = t.testdir();
      let s = await kind.open(dir);
      await s.load();
      const first = s.save({ hardState: null, entries: entries(1, 6, 2), snapshot: null }, true);
      const second = s.save({ hardState: null, entries: [], snapshot: { meta: { index: 4, term: 2, conf }, data: new Uint8Array([4]) } }, true);
      await Promise.all([first, second]);
      s = await kind.reopen(s, dir);
      const got = await s.load();
      t.equal(got.snapshot?.meta.index, 4);
      t.same(got.entries, entries(5, 6, 2), 'entries 5..6 kept: the stored entry 4 has the snapshot term');
      await closeStorage(s);
    });

    t.test('empty storage loads an empty log', async (t) => {
      const s = await kind.open(t.testdir());
      t.same(await s.load(), { hardState: { term: 0, vote: null, commit: 0 }, snapshot: null, entries: [] });
      await closeStorage(s);
    });

    t.test('saved entries and hard state survive a re-open', async (t) => {
      const dir = t.testdir();
      let s = await kind.open(dir);
      await s.load();
      await s.save({ hardState: { term: 1, vote: 'a', commit: 0 }, entries: entries(1, 3, 1), snapshot: null }, true);
      await s.save({ hardState: { term: 1, vote: 'a', commit: 3 }, entries: entries(4, 5, 1), snapshot: null }, false);
      s = await kind.reopen(s, dir);
      const got = await s.load();
      t.same(got.hardState, { term: 1, vote: 'a', commit: 3 });
      t.same(got.entries, entries(1, 5, 1));
      t.equal(got.snapshot, null);
      await closeStorage(s);
    });

    t.test('entries overwrite from their first index and truncate what follows', async (t) => {
      const dir = t.testdir();
      let s = await kind.open(dir);
      await s.load();
      await s.save({ hardState: null, entries: entries(1, 6, 1), snapshot: null }, true);
      await s.save({ hardState: { term: 2, vote: null, commit: 2 }, entries: entries(3, 4, 2), snapshot: null }, true);
      s = await kind.reopen(s, dir);
      const got = await s.load();
      t.same(got.entries, [...entries(1, 2, 1), ...entries(3, 4, 2)]);
      // appending after the truncation continues the log without a gap
      await s.save({ hardState: null, entries: [entry(5, 2)], snapshot: null }, true);
      s = await kind.reopen(s, dir);
      t.same((await s.load()).entries.map((e) => [e.index, e.term]), [[1, 1], [2, 1], [3, 2], [4, 2], [5, 2]]);
      await closeStorage(s);
    });

    t.test('a batch leaving a gap is refused and writes nothing', async (t) => {
      const s = await kind.open(t.testdir());
      await s.load();
      await s.save({ hardState: null, entries: entries(1, 2, 1), snapshot: null }, true);
      await t.rejects(s.save({ hardState: { term: 9, vote: null, commit: 0 }, entries: [entry(4, 1)], snapshot: null }, true), {
        code: 'RAFT_ERR_STORAGE',
      });
      const got = await s.load();
      t.same(got.entries, entries(1, 2, 1));
      t.equal(got.hardState.term, 0);
      await closeStorage(s);
    });

    t.test('compact stores the snapshot and drops entries up to its index', async (t) => {
      const dir = t.testdir();
      let s = await kind.open(dir);
      await s.load();
      await s.save({ hardState: { term: 1, vote: 'b', commit: 6 }, entries: entries(1, 6, 1), snapshot: null }, true);
      const snap = { meta: { index: 4, term: 1, conf }, data: new Uint8Array([9, 8, 7]) };
      await s.compact(snap);
      await s.compact({ meta: { index: 2, term: 1, conf }, data: new Uint8Array([1]) }); // older: ignored
      s = await kind.reopen(s, dir);
      const got = await s.load();
      t.same(got.snapshot, snap);
      t.same(got.entries, entries(5, 6, 1));
      // entries at or below the snapshot are skipped, the rest still appended
      await s.save({ hardState: null, entries: [entry(4, 1), entry(5, 1), entry(6, 1), entry(7, 1)], snapshot: null }, true);
      await t.rejects(s.save({ hardState: null, entries: [entry(9, 1)], snapshot: null }, true), { code: 'RAFT_ERR_STORAGE' });
      s = await kind.reopen(s, dir);
      t.same((await s.load()).entries, entries(5, 7, 1));
      await closeStorage(s);
    });

    t.test('writes after close reject with RAFT_ERR_STORAGE', async (t) => {
      const s = await kind.open(t.testdir());
      await s.load();
      await closeStorage(s);
      await t.rejects(s.save({ hardState: { term: 1, vote: null, commit: 0 }, entries: [entry(1, 1)], snapshot: null }, true), { code: 'RAFT_ERR_STORAGE' });
      await t.rejects(s.compact({ meta: { index: 1, term: 1, conf }, data: new Uint8Array() }), { code: 'RAFT_ERR_STORAGE' });
    });

    t.test('an installed snapshot beyond the log replaces it', async (t) => {
      const dir = t.testdir();
      let s = await kind.open(dir);
      await s.load();
      await s.save({ hardState: null, entries: entries(1, 3, 1), snapshot: null }, true);
      const snap = { meta: { index: 10, term: 3, conf }, data: new Uint8Array([1, 2]) };
      await s.save({ hardState: { term: 3, vote: null, commit: 10 }, entries: [entry(11, 3)], snapshot: snap }, true);
      s = await kind.reopen(s, dir);
      const got = await s.load();
      t.same(got.snapshot, snap);
      t.same(got.entries, [entry(11, 3)]);
      t.same(got.hardState, { term: 3, vote: null, commit: 10 });
      await closeStorage(s);
    });

    t.test('a snapshot matching a stored entry keeps the suffix; a conflicting one drops it', async (t) => {
      const dir = t.testdir();
      let s = await kind.open(dir);
      await s.load();
      await s.save({ hardState: null, entries: entries(1, 5, 2), snapshot: null }, true);
      await s.save({ hardState: null, entries: [], snapshot: { meta: { index: 3, term: 2, conf }, data: new Uint8Array() } }, true);
      s = await kind.reopen(s, dir);
      t.same((await s.load()).entries, entries(4, 5, 2));
      await s.save({ hardState: null, entries: [], snapshot: { meta: { index: 4, term: 3, conf }, data: new Uint8Array() } }, true);
      s = await kind.reopen(s, dir);
      const got = await s.load();
      t.same(got.entries, []);
      t.equal(got.snapshot?.meta.index, 4);
      // an older snapshot in a later batch is ignored
      await s.save({ hardState: null, entries: [entry(5, 3)], snapshot: { meta: { index: 2, term: 2, conf }, data: new Uint8Array() } }, true);
      s = await kind.reopen(s, dir);
      const again = await s.load();
      t.equal(again.snapshot?.meta.index, 4);
      t.same(again.entries, [entry(5, 3)]);
      await closeStorage(s);
    });
  });
}
