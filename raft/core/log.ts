// The in-memory Raft log since the last snapshot: entries [snapIndex+1 .. lastIndex], the
// snapshot boundary (index and term), the commit index, and the persisted/unpersisted
// split (`unstableFrom` is the first index the driver has not yet made durable).
// The whole log since the snapshot lives here; the driver hands it over at boot.
import assert from 'node:assert';
import type { Entry, LogIndex, Snapshot, Term } from '../types.js';
import { entryOverheadBytes } from '../limits.js';

export function entryBytes(e: Entry): number {
  return e.data.byteLength + entryOverheadBytes;
}

export class RaftLog {
  private entries: Entry[] = [];
  snapIndex: LogIndex = 0;
  snapTerm: Term = 0;
  committed: LogIndex = 0;
  /** Entries with index ≥ unstableFrom have not been persisted yet. */
  unstableFrom: LogIndex = 1;

  constructor(snapshot: Snapshot | null, entries: readonly Entry[], committed: LogIndex) {
    if (snapshot !== null) {
      this.snapIndex = snapshot.meta.index;
      this.snapTerm = snapshot.meta.term;
    }
    let expect = this.snapIndex + 1;
    for (const e of entries) {
      assert.equal(e.index, expect, `boot log not contiguous at ${e.index} (expected ${expect})`);
      expect += 1;
      this.entries.push(e);
    }
    this.unstableFrom = this.lastIndex() + 1;
    assert(committed <= this.lastIndex(), `boot commit ${committed} beyond last index ${this.lastIndex()}`);
    this.committed = Math.max(committed, this.snapIndex);
  }

  firstIndex(): LogIndex {
    return this.snapIndex + 1;
  }

  lastIndex(): LogIndex {
    return this.snapIndex + this.entries.length;
  }

  lastTerm(): Term {
    return this.term(this.lastIndex())!;
  }

  /** Term of the entry at `index`, or undefined when compacted away or beyond the end. */
  term(index: LogIndex): Term | undefined {
    if (index === this.snapIndex) return this.snapTerm;
    if (index < this.snapIndex || index > this.lastIndex()) return undefined;
    return this.entries[index - this.snapIndex - 1]!.term;
  }

  entry(index: LogIndex): Entry | undefined {
    if (index <= this.snapIndex || index > this.lastIndex()) return undefined;
    return this.entries[index - this.snapIndex - 1];
  }

  matchTerm(index: LogIndex, term: Term): boolean {
    return this.term(index) === term;
  }

  /** Raft's election restriction (§5.4.1): is a log ending at (lastIndex, lastTerm) at
   * least as up to date as ours? */
  isUpToDate(lastIndex: LogIndex, lastTerm: Term): boolean {
    const ourTerm = this.lastTerm();
    return lastTerm > ourTerm || (lastTerm === ourTerm && lastIndex >= this.lastIndex());
  }

  /** Index of the first entry of `entries` that is missing or has another term here, or 0
   * when all of them are already present. */
  findConflict(entries: readonly Entry[]): LogIndex {
    for (const e of entries) {
      if (!this.matchTerm(e.index, e.term)) return e.index;
    }
    return 0;
  }

  /** The largest index ≤ `index` whose term is ≤ `term` (with that term): the point up to
   * which two logs may still agree, used for fast backtracking on both sides. When the
   * answer lies inside the compacted prefix, the snapshot boundary is returned. */
  findConflictByTerm(index: LogIndex, term: Term): { index: LogIndex; term: Term } {
    let i = Math.min(index, this.lastIndex());
    while (i > this.snapIndex) {
      const t = this.term(i)!;
      if (t <= term) return { index: i, term: t };
      i -= 1;
    }
    return { index: this.snapIndex, term: this.snapTerm };
  }

  /** Entries [lo, hi), limited to `countMax` entries and `bytesMax` bytes (always at least
   * one entry when the range is non-empty). `lo` must not be compacted. */
  slice(lo: LogIndex, hi: LogIndex, countMax = Infinity, bytesMax = Infinity): Entry[] {
    if (!(lo > this.snapIndex)) assert.fail(`slice from compacted index ${lo} (snapshot at ${this.snapIndex})`);
    if (!(hi <= this.lastIndex() + 1)) assert.fail(`slice to ${hi} beyond last index ${this.lastIndex()}`);
    const out: Entry[] = [];
    let bytes = 0;
    for (let i = lo; i < hi && out.length < countMax; i++) {
      const e = this.entries[i - this.snapIndex - 1]!;
      bytes += entryBytes(e);
      if (out.length > 0 && bytes > bytesMax) break;
      out.push(e);
    }
    return out;
  }

  /** Appends `entries` (contiguous) at entries[0].index, dropping whatever followed in the
   * log: the truncation half of conflict resolution. Committed entries are never dropped. */
  truncateAndAppend(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    const from = entries[0]!.index;
    if (!(from > this.committed)) assert.fail(`truncate at ${from} would drop committed entries (commit ${this.committed})`);
    if (!(from > this.snapIndex && from <= this.lastIndex() + 1)) assert.fail(`append at ${from} leaves a gap`);
    this.entries.length = from - this.snapIndex - 1;
    for (const e of entries) {
      assert.equal(e.index, this.lastIndex() + 1, 'appended entries not contiguous');
      this.entries.push(e);
    }
    this.unstableFrom = Math.min(this.unstableFrom, from);
  }

  /** Overwrites entries in place without dropping the rest of the log — only the
   * deliberate `no-truncate-on-conflict` bug uses this. */
  overwriteInPlace(entries: readonly Entry[]): void {
    for (const e of entries) {
      assert(e.index > this.committed, 'overwrite of a committed entry');
      if (e.index <= this.lastIndex()) this.entries[e.index - this.snapIndex - 1] = e;
      else this.entries.push(e);
      this.unstableFrom = Math.min(this.unstableFrom, e.index);
    }
  }

  commitTo(index: LogIndex): boolean {
    if (index <= this.committed) return false;
    if (!(index <= this.lastIndex())) assert.fail(`commit ${index} beyond last index ${this.lastIndex()}`);
    this.committed = index;
    return true;
  }

  /** Entries not yet handed to the driver for persistence. */
  unstableEntries(): Entry[] {
    if (this.unstableFrom > this.lastIndex()) return [];
    return this.slice(Math.max(this.unstableFrom, this.firstIndex()), this.lastIndex() + 1);
  }

  /** The driver persisted through (index, term); ignored when the log changed since. */
  stableTo(index: LogIndex, term: Term): void {
    if (index >= this.unstableFrom && this.term(index) === term) this.unstableFrom = index + 1;
  }

  /** Last index known to be durable locally. */
  persistedIndex(): LogIndex {
    return Math.min(this.unstableFrom - 1, this.lastIndex());
  }

  /** Replaces the whole log by a snapshot (a follower installing one from its leader). */
  restore(index: LogIndex, term: Term): void {
    assert(index > this.committed, `restore to ${index} not beyond commit ${this.committed}`);
    this.entries = [];
    this.snapIndex = index;
    this.snapTerm = term;
    this.committed = index;
    this.unstableFrom = index + 1;
  }

  /** Drops entries ≤ `index` (they are covered by a snapshot taken at `index`). */
  compact(index: LogIndex): void {
    assert(index > this.snapIndex && index <= this.committed, `compact to ${index} outside (${this.snapIndex}, ${this.committed}]`);
    const term = this.term(index)!;
    this.entries = this.entries.slice(index - this.snapIndex);
    this.snapIndex = index;
    this.snapTerm = term;
    this.unstableFrom = Math.max(this.unstableFrom, index + 1);
  }

  /** All entries currently held (for configuration scans). */
  all(): readonly Entry[] {
    return this.entries;
  }
}
