// A store's simulated disk, modelled as one write-ahead log shared by every group the
// store hosts (as one LevelDB holds every group's keys): every write lands at once in the
// page cache (what the running process reads back) and becomes durable only when a sync
// covering it completes, which also makes every earlier write durable, whatever its group
// (one WAL, written in order). A crash keeps the durable state and loses the unsynced tail
// of every group at once. SimDisk is one group's view of it; a SimDisk made on its own has
// a shared disk of its own (one group per store).

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

type GroupLog = { durable: DiskState; cached: DiskState };
type Pending = { seq: number; log: GroupLog; w: DiskWrite };

export class SharedDisk {
  private pending: Pending[] = [];
  private seq = 0;
  /** Completed syncs (fsyncs of a batch, or OS write-backs of the page cache). */
  syncs = 0;
  lostWrites = 0;

  /** A fresh log for one group; its writes share this disk's WAL. */
  open(): SimDisk {
    return new SimDisk(this);
  }

  /** @internal used by SimDisk */
  append(log: GroupLog, w: DiskWrite): void {
    applyWrite(log.cached, w);
    this.pending.push({ seq: ++this.seq, log, w });
  }

  /** An fsync starts: it covers every write made so far. Returns what completeSync takes. */
  beginSync(): number {
    return this.seq;
  }

  /** The fsync begun at `upTo` returned: the writes it covered are durable. */
  completeSync(upTo: number): void {
    let n = 0;
    while (n < this.pending.length && this.pending[n]!.seq <= upTo) {
      const p = this.pending[n]!;
      applyWrite(p.log.durable, p.w);
      n++;
    }
    if (n === 0) return;
    this.pending = this.pending.slice(n);
    this.syncs++;
  }

  /** The OS writes the page cache back (all pending writes become durable). */
  flush(): void {
    this.completeSync(this.seq);
  }

  get unsyncedWrites(): number {
    return this.pending.length;
  }

  /** Power loss: every write not yet durable is gone, in every group's log. */
  crash(logs: Iterable<GroupLog>): void {
    this.lostWrites += this.pending.length;
    this.pending = [];
    for (const l of logs) l.cached = { ...l.durable, entries: l.durable.entries.slice() };
  }
}

export class SimDisk {
  /** @internal the shared disk sees it */
  readonly log: GroupLog = { durable: emptyState(), cached: emptyState() };
  readonly shared: SharedDisk;

  constructor(shared?: SharedDisk) {
    this.shared = shared ?? new SharedDisk();
  }

  get syncs(): number {
    return this.shared.syncs;
  }

  /** A write to the page cache; `sync` makes it (and all before it) durable at once. */
  write(w: DiskWrite, sync: boolean): void {
    this.shared.append(this.log, w);
    if (sync) this.shared.flush();
  }

  /** A synced snapshot write that drops the log up to the snapshot (log compaction). */
  compact(snapshot: Snapshot): void {
    this.write({ hardState: null, entries: [], snapshot }, true);
  }

  /** The OS writes the page cache back (all pending writes become durable). */
  flush(): void {
    this.shared.flush();
  }

  /** Power loss of a store holding this log alone (a store crash calls SharedDisk.crash). */
  crash(): void {
    this.shared.crash([this.log]);
  }

  /** What the process currently reads back (durable plus cached writes). */
  view(): Readonly<DiskState> {
    return this.log.cached;
  }

  /** What a restarting process loads. */
  load(): DiskState {
    const d = this.log.durable;
    return { ...d, entries: d.entries.slice() };
  }

  termAt(index: number): number | null {
    const s = this.log.cached;
    const base = snapshotIndex(s);
    if (index === base) return s.snapshot === null ? 0 : s.snapshot.meta.term;
    const e = s.entries[index - base - 1];
    return e === undefined ? null : e.term;
  }

  entryAt(index: number): Entry | null {
    const s = this.log.cached;
    return s.entries[index - snapshotIndex(s) - 1] ?? null;
  }

  lastIndex(): number {
    return snapshotIndex(this.log.cached) + this.log.cached.entries.length;
  }

  snapshotIndex(): number {
    return snapshotIndex(this.log.cached);
  }
}
