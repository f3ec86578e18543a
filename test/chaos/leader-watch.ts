// Polls every shard's replicas for who leads, and records each change of leader or term
// on the timeline. Polling is coarse (once a second by default) to spare a loaded
// machine: a leadership that lasts less than a poll may go unseen, so the count of leader
// changes in the report is a lower bound.
import { setTimeout as sleep } from 'node:timers/promises';
import type { ClusterConfig } from '../../common/config.js';
import type { ShardClient } from '../../shards/client/shard-client.js';
import { findLeader } from './nemesis.js';
import type { ProcessSet } from '../../cluster/local-cluster.js';
import type { Timeline } from './timeline.js';

export function watchLeaders(o: { config: ClusterConfig; procs: ProcessSet; client: ShardClient; timeline: Timeline; pollMs: number; hostOf?: (replicaId: string) => string }): () => Promise<number> {
  let stop = false;
  let changes = 0;
  const last = new Map<string, string>();
  const loop = (async (): Promise<void> => {
    while (!stop) {
      for (const shard of o.config.shards) {
        const s = await findLeader(o, shard.id, 300);
        const key = s === null ? 'none' : `${s.id}@${s.term}`;
        if (s !== null && last.get(shard.id) !== key) {
          if (last.has(shard.id)) changes++;
          last.set(shard.id, key);
          o.timeline.add({ kind: 'leader', atMs: o.timeline.sinceStartMs(), shard: shard.id, leader: s.id, term: s.term });
        }
      }
      await sleep(o.pollMs);
    }
  })();
  return async () => {
    stop = true;
    await loop;
    return changes;
  };
}
