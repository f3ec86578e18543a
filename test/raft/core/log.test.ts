// Proves the in-memory Raft log: term lookup across the snapshot boundary, conflict
// detection, truncation that never touches committed entries (an assert), fast
// backtracking by term, size-bounded slices, stable/unstable tracking and compaction.
import t from 'tap';
import type { Entry } from '../../../raft/types.js';
import { RaftLog } from '../../../raft/core/log.js';

const e = (index: number, term: number, bytes = 0): Entry => ({
  index, term, kind: 'normal', timestampMs: 0, data: new Uint8Array(bytes),
});
const terms = (log: RaftLog): number[] => log.all().map((x) => x.term);

t.test('terms, bounds and up-to-date check', async (t) => {
  const log = new RaftLog(null, [e(1, 1), e(2, 1), e(3, 2)], 2);
  t.equal(log.firstIndex(), 1);
  t.equal(log.lastIndex(), 3);
  t.equal(log.lastTerm(), 2);
  t.equal(log.term(0), 0, 'index 0 has term 0');
  t.equal(log.term(4), undefined, 'beyond the end');
  t.equal(log.committed, 2);
  t.ok(log.isUpToDate(3, 2), 'same last entry');
  t.ok(log.isUpToDate(1, 3), 'higher last term wins over length');
  t.notOk(log.isUpToDate(5, 1), 'lower last term loses despite length');
  t.notOk(log.isUpToDate(2, 2), 'same term, shorter log');
});

t.test('boot rejects a non-contiguous log and a commit beyond it', async (t) => {
  t.throws(() => new RaftLog(null, [e(1, 1), e(3, 1)], 0));
  t.throws(() => new RaftLog(null, [e(1, 1)], 2));
});

t.test('conflicts: find, truncate and append; committed entries are protected', async (t) => {
  const log = new RaftLog(null, [e(1, 1), e(2, 1), e(3, 1), e(4, 1)], 2);
  t.equal(log.findConflict([e(2, 1), e(3, 1)]), 0, 'all present');
  t.equal(log.findConflict([e(3, 1), e(4, 1), e(5, 1)]), 5, 'new entries after the end');
  t.equal(log.findConflict([e(3, 1), e(4, 2)]), 4, 'term mismatch');
  log.stableTo(4, 1);
  t.equal(log.unstableEntries().length, 0);
  log.truncateAndAppend([e(4, 2), e(5, 2)]);
  t.same(terms(log), [1, 1, 1, 2, 2]);
  t.same(log.unstableEntries().map((x) => x.index), [4, 5], 'the rewritten suffix must be persisted again');
  t.throws(() => log.truncateAndAppend([e(2, 3)]), /committed/, 'truncating committed entries is a bug');
  t.throws(() => log.truncateAndAppend([e(7, 3)]), /gap/);
});

t.test('stableTo ignores acknowledgements for entries that were replaced since', async (t) => {
  const log = new RaftLog(null, [], 0);
  log.truncateAndAppend([e(1, 1), e(2, 1)]);
  log.truncateAndAppend([e(2, 2)]);
  log.stableTo(2, 1);
  t.equal(log.persistedIndex(), 0, 'stale ack of (2, term 1) is ignored');
  log.stableTo(2, 2);
  t.equal(log.persistedIndex(), 2);
});

t.test('findConflictByTerm skips a whole term at a time', async (t) => {
  const log = new RaftLog(null, [e(1, 1), e(2, 1), e(3, 2), e(4, 2), e(5, 4), e(6, 4)], 0);
  t.same(log.findConflictByTerm(6, 3), { index: 4, term: 2 });
  t.same(log.findConflictByTerm(6, 4), { index: 6, term: 4 });
  t.same(log.findConflictByTerm(10, 1), { index: 2, term: 1 });
  t.same(log.findConflictByTerm(6, 0), { index: 0, term: 0 });
});

t.test('slice honours count and byte limits but always yields one entry', async (t) => {
  const log = new RaftLog(null, [e(1, 1, 100), e(2, 1, 100), e(3, 1, 100), e(4, 1, 100)], 0);
  t.equal(log.slice(1, 5).length, 4);
  t.equal(log.slice(1, 5, 2).length, 2);
  t.equal(log.slice(1, 5, 10, 300).length, 2, '2 entries of 132 bytes fit in 300');
  t.equal(log.slice(1, 5, 10, 1).length, 1, 'one oversized entry still goes');
});

t.test('compaction moves the boundary; terms stay known at the boundary', async (t) => {
  const log = new RaftLog(null, [e(1, 1), e(2, 1), e(3, 2), e(4, 2)], 3);
  log.stableTo(4, 2);
  t.throws(() => log.compact(4), 'cannot compact beyond commit');
  log.compact(3);
  t.equal(log.firstIndex(), 4);
  t.equal(log.term(3), 2, 'boundary term');
  t.equal(log.term(2), undefined, 'compacted');
  t.same(log.findConflictByTerm(4, 1), { index: 3, term: 2 }, 'answers inside the compacted prefix stop at the boundary');
  t.throws(() => log.slice(3, 5), /compacted/);
  t.same(log.slice(4, 5).map((x) => x.index), [4]);
});

t.test('restore from a snapshot empties the log', async (t) => {
  const log = new RaftLog(null, [e(1, 1), e(2, 1)], 1);
  log.restore(10, 3);
  t.equal(log.lastIndex(), 10);
  t.equal(log.committed, 10);
  t.equal(log.term(10), 3);
  t.equal(log.unstableEntries().length, 0);
  t.throws(() => log.restore(5, 3), 'never restore behind commit');
  t.throws(() => log.commitTo(11), 'commit beyond the end');
  t.notOk(log.commitTo(9), 'commit never decreases');
  t.equal(log.committed, 10);
});
