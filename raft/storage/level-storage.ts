// RaftStorage on a LevelDB database of its own (the `level` package), for one group: the
// key layout of log-keys.ts (prefixed by the group id, default 'default'), the per-group
// logic of group-log.ts, and a write queue that writes each save() as one atomic batch of
// its own, fsync'd when asked. LevelDB allows one opener per directory; a store hosting
// many groups uses SharedLogDb (shared-log.ts) instead, one database for all of them.

import { GroupLog } from './group-log.js';
import { openLogDb, storageFailure } from './log-keys.js';
import { LogQueue, type LogStats } from './log-queue.js';

export type LevelStorageOptions = { groupId?: string };

export class LevelRaftStorage extends GroupLog {
  private writer: LogQueue | null = null;

  /** Counters of completed writes (LogStats), the same as SharedLogDb's, so "log syncs per
   * commit" compares one database per replica with one per store. */
  get stats(): Readonly<LogStats> {
    return this.writer!.stats;
  }

  static async open(dir: string, opts: LevelStorageOptions = {}): Promise<LevelRaftStorage> {
    const db = await openLogDb(dir);
    const release = async (): Promise<void> => {
      try {
        await db.close();
      } catch (e) {
        throw storageFailure(dir, 'close', e);
      }
    };
    const writer = new LogQueue(db, dir, { coalesce: false });
    const storage = new LevelRaftStorage(db, writer, dir, opts.groupId ?? 'default', release);
    storage.writer = writer;
    return storage;
  }
}
