// One LevelDB for every Raft group of a store (DESIGN.md, multi-raft): each group gets a
// RaftStorage view whose keys carry its id as prefix (log-keys.ts), and all views write
// through ONE coalescing queue (log-queue.ts). Every save() any group makes in one
// event-loop turn goes into one chained batch, written with sync=true if any of them asked
// for sync — one fsync for the whole store instead of one per group per Ready. While that
// batch is written the next one fills; it starts as soon as the current one completes.
// A save resolves only once the batch holding it is written (and synced when it asked), so
// the driver's "persist before send" still holds per group. The first failed write fails
// every view: that batch's saves, the queued ones and every later one reject with
// RAFT_ERR_STORAGE.

import type { Logger } from '../../common/logger.js';
import { ioError } from '../io-error.js';
import { GroupLog } from './group-log.js';
import { afterGroup, GroupKeys, groupIdBytesOf, openLogDb, storageFailure, type LogDb } from './log-keys.js';
import { LogQueue, type LogStats } from './log-queue.js';
import type { RaftStorage } from './storage.js';

export type SharedLogStats = Readonly<LogStats>;
export type SharedLogOptions = {
  logger?: Logger;
  /** A batch holding this many bytes takes no more saves (default logBatchBytesMax). */
  batchBytesMax?: number;
};

export class SharedLogDb {
  private readonly views = new Map<string, GroupLog>();
  private closed = false;

  private constructor(
    private readonly db: LogDb,
    private readonly log: LogQueue,
    readonly dir: string,
  ) {}

  static async open(dir: string, opts: SharedLogOptions = {}): Promise<SharedLogDb> {
    const db = await openLogDb(dir);
    return new SharedLogDb(db, new LogQueue(db, dir, { coalesce: true, logger: opts.logger, batchBytesMax: opts.batchBytesMax }), dir);
  }

  /** Counters of completed writes (log-queue.ts LogStats); the store exports them. */
  get stats(): SharedLogStats {
    return this.log.stats;
  }

  /** The RaftStorage of one group. One view per group at a time: its close() releases the
   * view (not the database), after which the group may be opened again. */
  group(groupId: string): RaftStorage {
    this.checkOpen(`group ${groupId}`);
    if (this.views.has(groupId)) throw ioError('RAFT_ERR_STORAGE', `LevelDB ${this.dir}: group ${groupId} is already open`);
    const view: GroupLog = new GroupLog(this.db, this.log, this.dir, groupId, async () => {
      if (this.views.get(groupId) === view) this.views.delete(groupId);
    });
    this.views.set(groupId, view);
    return view;
  }

  /** Ids of the groups that have any key in this database, in byte order. */
  async groups(): Promise<string[]> {
    this.checkOpen('groups');
    await this.log.idle();
    const ids: string[] = [];
    const decoder = new TextDecoder('utf-8', { fatal: true });
    // Skip-scan: one seek per group, not one step per entry.
    let from: Uint8Array = new Uint8Array(0);
    for (;;) {
      const [key] = await this.db.keys({ gte: from, limit: 1 }).all();
      if (key === undefined) return ids;
      const id = groupIdBytesOf(key);
      if (id === null) {
        from = afterKey(key); // not of our layout: step over it
        continue;
      }
      try {
        ids.push(decoder.decode(id));
      } catch (e) {
        throw storageFailure(this.dir, 'groups', e);
      }
      from = afterGroup(id);
    }
  }

  /** Drops every key of a group (a replica removed from this store), through the write
   * queue so it lands after the group's earlier writes. Its view must be closed first. */
  async destroyGroup(groupId: string): Promise<void> {
    this.checkOpen(`destroyGroup ${groupId}`);
    if (this.views.has(groupId)) throw ioError('RAFT_ERR_STORAGE', `LevelDB ${this.dir}: group ${groupId} is open; close its view before destroying it`);
    const range = new GroupKeys(groupId).groupRange();
    await this.log.task(() => this.db.clear(range), `destroy of group ${groupId}`);
  }

  /** Waits for every queued write, closes every view, then the database. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all([...this.views.values()].map((v) => v.close()));
    await this.log.idle();
    try {
      await this.db.close();
    } catch (e) {
      throw storageFailure(this.dir, 'close', e);
    }
  }

  private checkOpen(what: string): void {
    if (this.closed) throw ioError('RAFT_ERR_STORAGE', `LevelDB ${this.dir}: ${what} after close`);
  }
}

function afterKey(key: Uint8Array): Uint8Array {
  const k = new Uint8Array(key.length + 1);
  k.set(key);
  return k;
}
