// Keeps an AgentView current from every shard's change feed (ShardClient.follow). A
// page marked `truncated` (the replica no longer holds the records after our index, e.g.
// it was restored from a snapshot) makes us re-read that shard's agent list; versions
// let the re-read and later pages be applied in any order. Listeners hear of each agent
// that changed, so the queue can offer a waiting call to an agent that just became READY.

import type { Logger } from '../../common/logger.js';
import type { ShardClient } from '../../shards/client/shard-client.js';
import type { Agent } from '../../shards/types.js';
import { agentFeedRetryBackoffMsMax, agentFeedRetryBackoffMsMin } from './limits.js';
import type { AgentView } from './router.js';

export type AgentChangeListener = (agent: Agent) => void;

export class AgentFeed {
  private readonly stops: (() => void)[] = [];
  private readonly listeners: AgentChangeListener[] = [];
  private closed = false;

  constructor(
    private readonly client: ShardClient,
    readonly view: AgentView,
    private readonly log: Logger,
  ) {}

  onChange(listener: AgentChangeListener): void {
    this.listeners.push(listener);
  }

  /** Starts following every shard; resolves once each shard has been read once. */
  async start(): Promise<void> {
    await Promise.all(this.client.shardIds.map((id) => this.resync(id)));
    for (const id of this.client.shardIds) {
      this.stops.push(
        this.client.follow(id, 0, (page) => {
          if (page.truncated) void this.resync(id);
          for (const rec of page.changes) this.apply(rec.dn, rec.agent, rec.index);
        }),
      );
    }
  }

  close(): void {
    this.closed = true;
    for (const stop of this.stops) stop();
  }

  /** Reads the shard's whole agent list (a stale read: any replica may answer). */
  private async resync(shardId: string): Promise<void> {
    for (let attempt = 0; !this.closed; attempt++) {
      try {
        const agents = (await this.client.read(shardId, { type: 'agents', filter: {} }, 'stale')) as Agent[];
        for (const a of agents) this.apply(a.dn, a, a.version);
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
}
