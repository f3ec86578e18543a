// One Raft group's RaftStorage (contract in storage.ts) on a LevelDB log: the group's keys
// (log-keys.ts) and a serial write queue (log-queue.ts) that it may share with other
// groups. LevelRaftStorage is this over a database of its own; SharedLogDb hands out one
// per group over one database and one coalescing queue.
//
// save() works out its LevelDB operations synchronously and joins the queue in the same
// call, so a group's writes land in call order, and its bookkeeping (snapIndex,
// lastIndex, the terms) moves before the write: a save issued while an earlier one is
// still queued or in flight must already see its entries (a write failure stops the
// replica, so the optimistic view is never used after one).

import { decodeEntry, decodeHardState, decodeSnapshot, encodeEntry, encodeHardState, encodeSnapshot } from '../codec.js';
import { hasCode, ioError } from '../io-error.js';
import type { Entry, HardState, Snapshot } from '../types.js';
import { GroupKeys, storageFailure, TAG_SNAP, type LogDb, type LogOp } from './log-keys.js';
import type { LogQueue } from './log-queue.js';
import { EMPTY_HARD_STATE, type LoadedState, type RaftStorage, type StorageBatch } from './storage.js';
import { TermRuns } from './term-runs.js';

export class GroupLog implements RaftStorage {
  /** Index of the stored snapshot (0 without one); entries are snapIndex+1 .. lastIndex. */
  private snapIndex = 0;
  private lastIndex = 0;
  private readonly runs = new TermRuns();
  private closed = false;
  protected readonly keys: GroupKeys;

  constructor(
    private readonly db: LogDb,
    private readonly log: LogQueue,
    readonly dir: string,
    groupId: string,
    /** Called once by close(), after this group's writes settled. */
    private readonly release: () => Promise<void>,
  ) {
    this.keys = new GroupKeys(groupId);
  }

  get groupId(): string {
    return this.keys.groupId;
  }

  async load(): Promise<LoadedState> {
    this.checkOpen('load');
    await this.log.idle();
    const where = `LevelDB ${this.dir}: group ${this.keys.groupId}`;
    try {
      const hardBytes = await this.db.get(this.keys.hardKey);
      const snapBytes = await this.db.get(this.keys.key(TAG_SNAP));
      const hardState: HardState = hardBytes ? decodeHardState(hardBytes, `LevelDB ${this.dir}: hard state`) : EMPTY_HARD_STATE;
      const snapshot = snapBytes ? decodeSnapshot(snapBytes, `LevelDB ${this.dir}: snapshot`) : null;
      const entries = await this.loadEntries(snapshot?.meta.index ?? 0);
      this.snapIndex = snapshot?.meta.index ?? 0;
      this.lastIndex = entries.length > 0 ? entries[entries.length - 1]!.index : this.snapIndex;
      this.runs.clear();
      for (const e of entries) this.runs.append(e.index, e.term);
      return { hardState, snapshot, entries };
    } catch (e) {
      if (hasCode(e, 'RAFT_ERR_CORRUPT')) throw e;
      throw storageFailure(this.dir, `load of ${where}`, e);
    }
  }

  private async loadEntries(snapIndex: number): Promise<Entry[]> {
    const entries: Entry[] = [];
    let expected = snapIndex + 1;
    // Entries at or below the snapshot may survive a crash during compaction: skip them.
    const range = { gt: this.keys.entryKey(snapIndex), lt: this.keys.entryRange().lt };
    for await (const [key, value] of this.db.iterator(range)) {
      const keyIndex = this.keys.indexOf(key);
      const where = `LevelDB ${this.dir}: entry ${keyIndex}`;
      if (keyIndex !== expected) throw ioError('RAFT_ERR_CORRUPT', `${where}: gap in the log, expected entry ${expected}`);
      const entry = decodeEntry(value, where);
      if (entry.index !== keyIndex) throw ioError('RAFT_ERR_CORRUPT', `${where}: record holds index ${entry.index}`);
      entries.push(entry);
      expected++;
    }
    return entries;
  }

  save(batch: StorageBatch, sync: boolean): Promise<void> {
    try {
      this.checkOpen('save');
      return this.log.write(this.plan(batch), sync, 'save');
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** The batch's operations, in the contract's order; moves the bookkeeping once the batch
   * is known to be valid (a refused batch changes nothing). */
  private plan(batch: StorageBatch): LogOp[] {
    const ops: LogOp[] = [];
    let snapIndex = this.snapIndex;
    let lastIndex = this.lastIndex;
    let snapshotKeeps: boolean | null = null;
    if (batch.snapshot && batch.snapshot.meta.index > snapIndex) {
      const s = batch.snapshot;
      snapshotKeeps = s.meta.index <= lastIndex && this.runs.termAt(s.meta.index) === s.meta.term;
      const deleteTo = snapshotKeeps ? s.meta.index : lastIndex;
      for (let i = snapIndex + 1; i <= deleteTo; i++) ops.push({ type: 'del', key: this.keys.entryKey(i) });
      ops.push({ type: 'put', key: this.keys.key(TAG_SNAP), value: encodeSnapshot(s) });
      snapIndex = s.meta.index;
      lastIndex = snapshotKeeps ? lastIndex : s.meta.index;
    }
    const fresh = batch.entries.filter((e) => e.index > snapIndex);
    const first = fresh.length > 0 ? fresh[0]!.index : 0;
    if (fresh.length > 0) {
      if (first > lastIndex + 1) {
        throw ioError('RAFT_ERR_STORAGE', `LevelDB ${this.dir}: group ${this.keys.groupId}: entries from ${first} leave a gap after ${lastIndex}`);
      }
      for (const e of fresh) ops.push({ type: 'put', key: this.keys.entryKey(e.index), value: encodeEntry(e) });
      const newLast = fresh[fresh.length - 1]!.index;
      for (let i = newLast + 1; i <= lastIndex; i++) ops.push({ type: 'del', key: this.keys.entryKey(i) });
      lastIndex = newLast;
    }
    if (batch.hardState) ops.push({ type: 'put', key: this.keys.hardKey, value: encodeHardState(batch.hardState) });
    if (snapshotKeeps === true) this.runs.dropThrough(snapIndex);
    if (snapshotKeeps === false) this.runs.clear();
    if (fresh.length > 0) {
      this.runs.truncateFrom(first);
      for (const e of fresh) this.runs.append(e.index, e.term);
    }
    this.snapIndex = snapIndex;
    this.lastIndex = lastIndex;
    return ops;
  }

  async compact(snapshot: Snapshot): Promise<void> {
    this.checkOpen('compact');
    const index = snapshot.meta.index;
    if (index <= this.snapIndex) return;
    // The snapshot is made durable first; the entries it covers are then dropped with one
    // range delete. A crash in between leaves entries at or below the snapshot, which load
    // skips, so this needs no fsync and no per-entry delete ops (thousands of those held
    // the Ready loop for most of a second). The delete runs beside the write queue: no
    // later save writes at or below the snapshot (plan() keeps only entries above it).
    await this.log.write([{ type: 'put', key: this.keys.key(TAG_SNAP), value: encodeSnapshot(snapshot) }], true, 'compact');
    // A newer snapshot installed by a save meanwhile already replaced the log prefix.
    if (index <= this.snapIndex) return;
    const from = this.snapIndex + 1;
    const deleteTo = Math.min(index, this.lastIndex);
    this.snapIndex = index;
    if (this.lastIndex < index) {
      this.lastIndex = index;
      this.runs.clear();
    } else this.runs.dropThrough(index);
    if (deleteTo >= from) {
      const range = { gte: this.keys.entryKey(from), lte: this.keys.entryKey(deleteTo) };
      await this.log.beside(() => this.db.clear(range), 'compact');
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.log.idle();
    await this.release();
  }

  private checkOpen(what: string): void {
    if (this.closed) throw ioError('RAFT_ERR_STORAGE', `LevelDB ${this.dir}: group ${this.keys.groupId}: ${what} after close`);
  }
}
