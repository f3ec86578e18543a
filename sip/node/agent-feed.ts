// Keeps an AgentView and a QueueView current from every shard's change feed
// (ShardClient.follow). A page marked `truncated` (the replica no longer holds the records
// after our index, e.g. it was restored from a snapshot) makes us re-read that shard's
// agent list and queue; versions (and the queue read's applied index) let the re-read and
// later pages be applied in any order. Listeners hear of each agent that changed, so a
// queued call can be offered an agent that just became READY, and of each queue entry
// that changed, so a node learns that one of its waiting calls was claimed. Service
// records keep the ServiceDirectory (the definitions in force) current.

import { performance } from 'node:perf_hooks';
import type { Logger } from '../../common/logger.js';
import type { ShardClient } from '../../shards/client/shard-client.js';
import type { QueueSnapshot, ServicesSnapshot } from '../../shards/rpc/protocol.js';
import { isQueueRecord, isServiceRecord, type Agent, type QueueChangeRecord, type QueueEntry } from '../../shards/types.js';
import { agentFeedRetryBackoffMsMax, agentFeedRetryBackoffMsMin } from './limits.js';
import type { QueueView } from './queue.js';
import type { AgentView } from './router.js';
import type { ServiceDirectory } from './service-directory.js';

export type AgentChangeListener = (agent: Agent) => void;
/** `entry` null: the entry left the queue; `record` null: learnt from a re-read. */
export type QueueChangeListener = (entry: QueueEntry | null, record: QueueChangeRecord | null) => void;

export class AgentFeed {
  private readonly stops: (() => void)[] = [];
  private readonly listeners: AgentChangeListener[] = [];
  private readonly queueListeners: QueueChangeListener[] = [];
  /** performance.now() of each shard's last page that showed its replica current. */
  private readonly liveAtMs = new Map<string, number>();
  private closed = false;

  constructor(
    private readonly client: ShardClient,
    readonly view: AgentView,
    private readonly log: Logger,
    readonly queues: QueueView | null = null,
    readonly services: ServiceDirectory | null = null,
  ) {}

  onChange(listener: AgentChangeListener): void {
    this.listeners.push(listener);
  }

  onQueueChange(listener: QueueChangeListener): void {
    this.queueListeners.push(listener);
  }

  /** Starts following every shard; resolves once each shard has been read once. */
  async start(): Promise<void> {
    await Promise.all(this.client.shardIds.map((id) => this.resync(id)));
    for (const id of this.client.shardIds) {
      this.stops.push(
        this.client.follow(id, 0, (page) => {
          if (page.truncated) void this.resync(id);
          for (const rec of page.changes) {
            if (isQueueRecord(rec)) this.applyQueue(id, rec);
            else if (isServiceRecord(rec)) this.services?.apply(id, rec.number, rec.definition, rec.index);
            else this.apply(rec.dn, rec.agent, rec.index);
          }
        }, () => this.liveAtMs.set(id, performance.now()), () => this.liveAtMs.delete(id)),
      );
    }
  }

  /** How long ago `shardId`'s feed last showed its replica current (Infinity: never, or
   * not since the feed gave its replica up: a killed store's link closes at once, and the
   * calls queued on the new leader meanwhile reach the view only once the next replica
   * pages them). Feed pages, not the start-up read: that read may come from a lagging
   * replica. */
  liveAgoMs(shardId: string): number {
    const at = this.liveAtMs.get(shardId);
    return at === undefined ? Number.POSITIVE_INFINITY : performance.now() - at;
  }

  close(): void {
    this.closed = true;
    for (const stop of this.stops) stop();
  }

  /** Reads the shard's whole agent list and queue (stale reads: any replica may answer). */
  private async resync(shardId: string): Promise<void> {
    for (let attempt = 0; !this.closed; attempt++) {
      try {
        const agents = (await this.client.read(shardId, { type: 'agents', filter: {} }, 'stale')) as Agent[];
        for (const a of agents) this.apply(a.dn, a, a.version);
        if (this.queues !== null) {
          const q = (await this.client.read(shardId, { type: 'queue' }, 'stale')) as QueueSnapshot;
          this.queues.resync(shardId, q.entries, q.appliedIndex);
          for (const entry of q.entries) for (const l of this.queueListeners) l(entry, null);
        }
        if (this.services !== null) {
          const s = (await this.client.read(shardId, { type: 'services' }, 'stale')) as ServicesSnapshot;
          this.services.resync(shardId, s.services, s.appliedIndex);
        }
        return;
      } catch (err) {
        if (attempt === 0) this.log.warn('agent list read failed; retrying', { shard: shardId, error: (err as Error).message });
        await new Promise((r) => setTimeout(r, Math.min(agentFeedRetryBackoffMsMax, agentFeedRetryBackoffMsMin * 2 ** attempt)));
      }
    }
  }

  private apply(dn: string, agent: Agent | null, index: number): void {
    if (!this.view.update(dn, agent, index) || agent === null) return;
    for (const l of this.listeners) l(agent);
  }

  private applyQueue(shardId: string, rec: QueueChangeRecord): void {
    if (this.queues === null) return;
    const entry = this.queues.apply(shardId, rec);
    if (entry === undefined) return;
    for (const l of this.queueListeners) l(entry, rec);
  }
}
