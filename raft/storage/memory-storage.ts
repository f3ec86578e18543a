// In-memory twin of LevelRaftStorage for tests and the simulator: the same contract
// (storage.ts), kept in arrays. "Durable" here means "survives close() and re-open of
// the same MemoryRaftStorage object", which is how tests model a process restart.

import { ioError } from '../io-error.js';
import type { Entry, HardState, Snapshot } from '../types.js';
import { EMPTY_HARD_STATE, type LoadedState, type RaftStorage, type StorageBatch } from './storage.js';

export class MemoryRaftStorage implements RaftStorage {
  private hardState: HardState = EMPTY_HARD_STATE;
  private snapshot: Snapshot | null = null;
  /** entries[i] has index base + i + 1, where base is the snapshot index (or 0). */
  private entries: Entry[] = [];
  private closed = false;

  async load(): Promise<LoadedState> {
    this.closed = false;
    return { hardState: this.hardState, snapshot: this.snapshot, entries: this.entries.slice() };
  }

  async save(batch: StorageBatch, _sync: boolean): Promise<void> {
    this.checkOpen();
    const base = this.base();
    const first = batch.entries.find((e) => e.index > Math.max(base, batch.snapshot?.meta.index ?? 0))?.index;
    const last = Math.max(base + this.entries.length, batch.snapshot?.meta.index ?? 0);
    if (first !== undefined && first > last + 1) {
      throw ioError('RAFT_ERR_STORAGE', `memory storage: entries from ${first} leave a gap after ${last}`);
    }
    if (batch.snapshot && batch.snapshot.meta.index > base) this.installSnapshot(batch.snapshot);
    this.writeEntries(batch.entries.filter((e) => e.index > this.base()));
    if (batch.hardState) this.hardState = batch.hardState;
  }

  async compact(snapshot: Snapshot): Promise<void> {
    this.checkOpen();
    const base = this.base();
    if (snapshot.meta.index <= base) return;
    this.entries = this.entries.slice(snapshot.meta.index - base);
    this.snapshot = snapshot;
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  private base(): number {
    return this.snapshot?.meta.index ?? 0;
  }

  private installSnapshot(s: Snapshot): void {
    const base = this.base();
    const at = this.entries[s.meta.index - base - 1];
    const keep = at !== undefined && at.term === s.meta.term;
    this.entries = keep ? this.entries.slice(s.meta.index - base) : [];
    this.snapshot = s;
  }

  private writeEntries(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    const base = this.base();
    const first = entries[0]!.index;
    this.entries = this.entries.slice(0, first - base - 1).concat(entries);
  }

  private checkOpen(): void {
    if (this.closed) throw ioError('RAFT_ERR_STORAGE', 'memory storage is closed');
  }
}
