// One node's simulated disk, modelled as a write-ahead log: every write lands at once in
// the page cache (what the running process reads back) and becomes durable only when a
// synced write completes, which also makes every earlier write durable (one WAL, written
// in order). A crash keeps the durable state and loses everything else.

import assert from 'node:assert';
import type { Entry, HardState, Snapshot } from '../types.js';

export type DiskState = { hardState: HardState; snapshot: Snapshot | null; entries: Entry[] };

export type DiskWrite = Readonly<{ hardState: HardState | null; entries: readonly Entry[]; snapshot: Snapshot | null }>;

function emptyState(): DiskState {
  return { hardState: { term: 0, vote: null, commit: 0 }, snapshot: null, entries: [] };
}

function snapshotIndex(s: DiskState): number {
  return s.snapshot === null ? 0 : s.snapshot.meta.index;
}

/** The log rules of Ready: a snapshot replaces the log up to its index, entries overwrite
 * from their first index on and truncate what follows. */
function applyWrite(s: DiskState, w: DiskWrite): void {
  if (w.snapshot !== null && w.snapshot.meta.index > snapshotIndex(s)) {
    const meta = w.snapshot.meta;
    const at = s.entries.find((e) => e.index === meta.index);
    s.entries = at !== undefined && at.term === meta.term ? s.entries.filter((e) => e.index > meta.index) : [];
    s.snapshot = w.snapshot;
  }
  if (w.entries.length > 0) {
    const base = snapshotIndex(s);
    const kept = w.entries.filter((e) => e.index > base);
    if (kept.length > 0) {
      const first = kept[0]!.index;
      const last = base + s.entries.length;
      assert(first <= last + 1, `entries start at ${first} after a gap (log ends at ${last})`);
      s.entries = s.entries.slice(0, first - base - 1).concat(kept);
      for (let i = 1; i < kept.length; i++) assert(kept[i]!.index === kept[i - 1]!.index + 1, 'entries not contiguous');
    }
  }
  if (w.hardState !== null) s.hardState = w.hardState;
}

export class SimDisk {
  private durable: DiskState = emptyState();
  private cached: DiskState = emptyState();
  private pending: DiskWrite[] = [];
  syncs = 0;
  lostWrites = 0;

  write(w: DiskWrite, sync: boolean): void {
    applyWrite(this.cached, w);
    this.pending.push(w);
    if (sync) this.flush();
  }

  /** A synced snapshot write that drops the log up to the snapshot (log compaction). */
  compact(snapshot: Snapshot): void {
    this.write({ hardState: null, entries: [], snapshot }, true);
  }

  /** The OS writes the page cache back (all pending writes become durable). */
  flush(): void {
    if (this.pending.length === 0) return;
    for (const w of this.pending) applyWrite(this.durable, w);
    this.pending = [];
    this.syncs++;
  }

  /** Power loss: every write not yet durable is gone. */
  crash(): void {
    this.lostWrites += this.pending.length;
    this.pending = [];
    this.cached = { ...this.durable, entries: this.durable.entries.slice() };
  }

  /** What the process currently reads back (durable plus cached writes). */
  view(): Readonly<DiskState> {
    return this.cached;
  }

  /** What a restarting process loads. */
  load(): DiskState {
    return { ...this.durable, entries: this.durable.entries.slice() };
  }

  termAt(index: number): number | null {
    const s = this.cached;
    const base = snapshotIndex(s);
    if (index === base) return s.snapshot === null ? 0 : s.snapshot.meta.term;
    const e = s.entries[index - base - 1];
    return e === undefined ? null : e.term;
  }

  entryAt(index: number): Entry | null {
    const s = this.cached;
    return s.entries[index - snapshotIndex(s) - 1] ?? null;
  }

  lastIndex(): number {
    return snapshotIndex(this.cached) + this.cached.entries.length;
  }

  snapshotIndex(): number {
    return snapshotIndex(this.cached);
  }
}
