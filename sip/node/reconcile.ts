// Reconciliation after a restart: the node releases every reservation it owned before
// (`releaseByOwner{owner: node id}` on every shard), each shard retried with backoff until
// it succeeds or the node closes. Routing waits for `done`, so the clean-up can never
// release a grant of the node's new life. `done` also resolves when the node is closed
// before every shard answered (nothing will route then).

import assert from 'node:assert';
import type { Logger } from '../../common/logger.js';
import type { ShardClient } from '../../shards/client/shard-client.js';
import { backoffMs } from './clock.js';
import * as limits from './limits.js';

export type ReconcileOptions = Readonly<{
  shards: Pick<ShardClient, 'shardIds' | 'commandOnShard'>;
  /** The node id whose earlier grants are released. */
  owner: string;
  log: Logger;
  /** Waits between tries (tests pass one that resolves at once and records the delays). */
  sleep: (delayMs: number) => Promise<void>;
}>;

export class Reconcile {
  /** Resolves when every shard released this owner's reservations, or once stopped. */
  readonly done: Promise<void>;
  private stopped = false;

  constructor(private readonly o: ReconcileOptions) {
    assert(o.owner !== '', 'reconcile without an owner');
    this.done = Promise.all(o.shards.shardIds.map((id) => this.reconcileShard(id))).then(() => undefined);
  }

  /** Stops retrying (the node is closing). */
  stop(): void {
    this.stopped = true;
  }

  private async reconcileShard(shardId: string): Promise<void> {
    for (let i = 0; !this.stopped; i++) {
      try {
        const r = await this.o.shards.commandOnShard(shardId, { type: 'releaseByOwner', owner: this.o.owner });
        if (r.ok && r.type === 'releasedByOwner') {
          if (r.released.length > 0) this.o.log.info('released reservations held before restart', { shard: shardId, released: r.released.length });
          return;
        }
        this.o.log.warn('releaseByOwner refused; retrying', { shard: shardId, result: r });
      } catch (err) {
        this.o.log.warn('releaseByOwner failed; retrying', { shard: shardId, error: (err as Error).message });
      }
      await this.o.sleep(backoffMs(i, limits.reconcileRetryBackoffMsMin, limits.reconcileRetryBackoffMsMax));
    }
  }
}
