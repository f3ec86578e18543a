// Whether a new call must join its service's queue instead of taking an agent ahead of it
// (DESIGN.md, Queue). The node's QueueView answers while the queue shard's feed is live;
// a feed that has shown nothing current for queueViewStaleMs (it follows a replica behind
// a cut, or its link sits in TCP retransmission after a heal, and has not moved on yet),
// or that gave its replica up and has not heard the next one yet (a killed store: its link
// closed at once), may be missing calls other nodes queued meanwhile, and routing on it
// would put a newcomer ahead of them. Then the shard is asked: one linearizable read of
// its queue, shared by every call that arrives while it runs. A read that fails (the
// shard unreachable from here: a partition) leaves the view to decide, as before: refusing
// the call instead would trade the queue order of a partition, which no node can keep,
// for failed calls.

import type { Logger } from '../../common/logger.js';
import type { ShardClient } from '../../shards/client/shard-client.js';
import type { QueueSnapshot } from '../../shards/rpc/protocol.js';
import * as limits from './limits.js';

export type QueueCheckOutcome = 'waiting' | 'empty' | 'failed';

export type QueueCheckOptions = Readonly<{
  shards: Pick<ShardClient, 'read' | 'shardFor'>;
  /** How long ago the shard's feed last showed its replica current (AgentFeed.liveAgoMs). */
  liveAgoMs: (shardId: string) => number;
  log: Logger;
  /** Counts each read of a queue shard by what it found. */
  onCheck?: (outcome: QueueCheckOutcome) => void;
  staleMs?: number;
  deadlineMs?: number;
}>;

export class QueueCheck {
  /** The read in flight per queue shard: callers arriving meanwhile share its answer. */
  readonly #inFlight = new Map<string, Promise<QueueSnapshot | null>>();
  readonly #staleMs: number;
  readonly #deadlineMs: number;

  constructor(private readonly o: QueueCheckOptions) {
    this.#staleMs = o.staleMs ?? limits.queueViewStaleMs;
    this.#deadlineMs = o.deadlineMs ?? limits.queueCheckDeadlineMs;
  }

  /** The shard to ask before trusting the view's "none waits" for `service`, or null when
   * the view is current enough. */
  staleShard(service: string): string | null {
    const shardId = this.o.shards.shardFor(service);
    return this.o.liveAgoMs(shardId) < this.#staleMs ? null : shardId;
  }

  /** Whether calls of `service` wait in its queue as the shard itself says now; false when
   * the shard could not be asked in time (then the view's answer stands). */
  async waitingOnShard(shardId: string, service: string): Promise<boolean> {
    let read = this.#inFlight.get(shardId);
    if (read === undefined) {
      read = this.#read(shardId).finally(() => this.#inFlight.delete(shardId));
      this.#inFlight.set(shardId, read);
    }
    const snapshot = await read;
    return snapshot !== null && snapshot.entries.some((e) => e.service === service);
  }

  async #read(shardId: string): Promise<QueueSnapshot | null> {
    try {
      const snapshot = (await this.o.shards.read(shardId, { type: 'queue' }, 'linearizable', { deadlineMs: this.#deadlineMs })) as QueueSnapshot;
      this.o.onCheck?.(snapshot.entries.length > 0 ? 'waiting' : 'empty');
      return snapshot;
    } catch (err) {
      this.o.onCheck?.('failed');
      this.o.log.warn('queue shard unreachable while its feed is stale; routing on the view', { shard: shardId, error: (err as Error).message });
      return null;
    }
  }
}
