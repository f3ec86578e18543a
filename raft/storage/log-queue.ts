// The one writer of a LevelDB log database: every write goes through this serial queue,
// one LevelDB operation in flight at a time. LevelDB runs each batch on a libuv pool
// thread, so two batches in flight at once could land in either order — a commit-only hard
// state written late would roll back a newer term and vote.
//
// With `coalesce` (SharedLogDb) every write requested in one event-loop turn joins ONE
// chained batch, written with sync=true if any of them asked for sync: one fsync for all.
// The batch starts on the next turn (setImmediate, after every group whose Ready runs in
// this turn had its say); while it is being written the next batch fills, and starts the
// moment the one before completes. Without `coalesce` (LevelRaftStorage) each write is a
// batch of its own, started at once when the queue is idle.
//
// A write's promise resolves only after the batch holding it completed (synced if it asked
// for it). The first failure rejects every write of that batch and every write after it,
// queued or new, with RAFT_ERR_STORAGE: a replica whose log write failed must stop, and
// nothing may land after a hole.

import type { Logger } from '../../common/logger.js';
import { ioError } from '../io-error.js';
import { hasCode } from '../io-error.js';
import { logBatchBytesMax } from './limits.js';
import { storageFailure, type LogDb, type LogOp } from './log-keys.js';

export type LogStats = {
  /** LevelDB batch writes completed. */
  writes: number;
  /** Of those, the ones written with sync=true (one fsync each). */
  syncs: number;
  /** RaftStorage.save() calls with something to write, in completed batches. */
  saves: number;
  /** Of those, the ones that asked for sync. */
  syncedSaves: number;
  /** Key puts and deletes in completed batches (a compaction's range delete not counted). */
  ops: number;
  /** Key and value bytes in completed batches. */
  bytes: number;
  /** The most saves one completed batch held. */
  largestBatchSaves: number;
};

type Deferred = { promise: Promise<void>; resolve(): void; reject(e: unknown): void };
type ChainedBatch = ReturnType<LogDb['batch']>;
type BatchUnit = { kind: 'batch'; batch: ChainedBatch; ops: number; saves: number; syncedSaves: number; sync: boolean; bytes: number; done: Deferred };
type TaskUnit = { kind: 'task'; run: () => Promise<void>; what: string; done: Deferred };
type Unit = BatchUnit | TaskUnit;

export type LogQueueOptions = { coalesce: boolean; logger?: Logger; batchBytesMax?: number };
export type WriteKind = 'save' | 'compact';

export class LogQueue {
  readonly stats: LogStats = { writes: 0, syncs: 0, saves: 0, syncedSaves: 0, ops: 0, bytes: 0, largestBatchSaves: 0 };
  /** Units waiting to start; the last may be a batch still taking writes. */
  private readonly units: Unit[] = [];
  private running = false;
  private startScheduled = false;
  private failure: string | null = null;
  /** Settles (never rejects) when the last unit enqueued so far settles. */
  private tail: Promise<void> = Promise.resolve();
  /** Runs started by beside() and not yet settled (each settles, never rejects). */
  private readonly besides = new Set<Promise<void>>();

  constructor(
    private readonly db: LogDb,
    readonly dir: string,
    private readonly opts: LogQueueOptions,
  ) {}

  /** Adds `ops` to the open batch (or a new one) and resolves once that batch is written. */
  write(ops: readonly LogOp[], sync: boolean, kind: WriteKind): Promise<void> {
    if (this.failure !== null) return Promise.reject(this.refused(kind));
    if (ops.length === 0) return this.idle();
    let unit = this.openBatch();
    if (unit === null) {
      try {
        unit = { kind: 'batch', batch: this.db.batch(), ops: 0, saves: 0, syncedSaves: 0, sync: false, bytes: 0, done: deferred() };
      } catch (e) {
        return Promise.reject(this.fail(storageFailure(this.dir, kind, e)));
      }
      this.push(unit);
    }
    for (const op of ops) {
      if (op.type === 'put') {
        unit.batch.put(op.key, op.value);
        unit.bytes += op.key.length + op.value.length;
      } else {
        unit.batch.del(op.key);
        unit.bytes += op.key.length;
      }
    }
    unit.ops += ops.length;
    unit.sync ||= sync;
    if (kind === 'save') {
      unit.saves++;
      if (sync) unit.syncedSaves++;
    }
    this.kick();
    return unit.done.promise;
  }

  /** Runs `run` (a range clear) alone, after everything enqueued before it. */
  task(run: () => Promise<void>, what: string): Promise<void> {
    if (this.failure !== null) return Promise.reject(this.refused(what));
    const unit: TaskUnit = { kind: 'task', run, what, done: deferred() };
    this.push(unit);
    this.kick();
    return unit.done.promise;
  }

  /** Runs `run` (a range clear) now, beside the queue rather than in it. The caller
   * promises that its keys are disjoint from every write enqueued from now on and that
   * every earlier write touching them has completed. A log compaction's clear meets both
   * (it follows the synced write of its snapshot, and later saves write only above the
   * snapshot); queued, each one held every group's next batch until it was done, 26 times
   * a second on a busy store of 100 groups. A failure fails the queue as a write's does. */
  beside(run: () => Promise<void>, what: string): Promise<void> {
    if (this.failure !== null) return Promise.reject(this.refused(what));
    const p = run().catch((e: unknown) => {
      const err = this.fail(hasCode(e, 'RAFT_ERR_STORAGE') ? (e as Error) : storageFailure(this.dir, what, e));
      this.startNext(); // refuses what is queued now, or after the unit under way
      throw err;
    });
    const settled = p.then(
      () => {},
      () => {},
    );
    this.besides.add(settled);
    void settled.then(() => this.besides.delete(settled));
    return p;
  }

  /** Resolves once every write and task enqueued so far, and every run beside the queue
   * started so far, has settled. */
  idle(): Promise<void> {
    if (this.besides.size === 0) return this.tail;
    return Promise.all([this.tail, ...this.besides]).then(() => {});
  }

  get failed(): string | null {
    return this.failure;
  }

  private openBatch(): BatchUnit | null {
    if (!this.opts.coalesce) return null;
    const last = this.units[this.units.length - 1];
    return last !== undefined && last.kind === 'batch' && last.bytes < (this.opts.batchBytesMax ?? logBatchBytesMax) ? last : null;
  }

  private push(unit: Unit): void {
    this.units.push(unit);
    this.tail = unit.done.promise.then(
      () => {},
      () => {},
    );
  }

  private kick(): void {
    if (this.running) return; // the running unit starts the next one when it completes
    if (!this.opts.coalesce) return this.startNext();
    if (this.startScheduled) return;
    this.startScheduled = true;
    // setImmediate, not a microtask: every group whose Ready runs in this turn's check
    // phase joins the batch before it starts.
    setImmediate(() => {
      this.startScheduled = false;
      this.startNext();
    });
  }

  private startNext(): void {
    if (this.running) return;
    if (this.failure !== null) return this.rejectQueued(); // a run beside the queue failed
    const unit = this.units.shift();
    if (unit === undefined) return;
    this.running = true;
    const run = unit.kind === 'batch' ? unit.batch.write({ sync: unit.sync }) : unit.run();
    run.then(
      () => {
        if (unit.kind === 'batch') this.account(unit);
        this.running = false;
        this.startNext();
        unit.done.resolve();
      },
      (e: unknown) => {
        const what = unit.kind === 'batch' ? `write of a batch of ${unit.ops} ops (${unit.saves} saves)` : unit.what;
        const err = this.fail(hasCode(e, 'RAFT_ERR_STORAGE') ? (e as Error) : storageFailure(this.dir, what, e));
        this.running = false;
        unit.done.reject(err);
        this.rejectQueued();
      },
    );
  }

  private account(unit: BatchUnit): void {
    const s = this.stats;
    s.writes++;
    if (unit.sync) s.syncs++;
    s.saves += unit.saves;
    s.syncedSaves += unit.syncedSaves;
    s.ops += unit.ops;
    s.bytes += unit.bytes;
    s.largestBatchSaves = Math.max(s.largestBatchSaves, unit.saves);
  }

  private fail(err: Error): Error {
    if (this.failure === null) {
      this.failure = err.message;
      this.opts.logger?.error('log write failed; every later write is refused', { dir: this.dir, error: err.message });
    }
    return err;
  }

  private rejectQueued(): void {
    for (const unit of this.units.splice(0)) {
      if (unit.kind === 'batch') unit.batch.close().catch(() => {});
      unit.done.reject(this.refused(unit.kind === 'batch' ? 'save' : unit.what));
    }
  }

  private refused(what: string): Error {
    return ioError('RAFT_ERR_STORAGE', `LevelDB ${this.dir}: ${what} refused after an earlier failure (${this.failure})`);
  }
}

function deferred(): Deferred {
  let resolve!: () => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}
