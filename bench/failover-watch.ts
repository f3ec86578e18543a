// During a failover round, polls the surviving replicas' Raft status every few ms, to see
// from the outside when a survivor took the lead and when its first entry of the new term
// (the leader's no-op) was committed — the part of the gap that is Raft replication and
// fsync rather than the client finding the new leader. Diagnostics only: a status read is
// a cheap local read on each replica, not a Raft round.

import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ShardClient } from '../shards/client/shard-client.js';
import type { RaftStatus } from '../raft/types.js';

const WATCH_POLL_MS = 10;
const WATCH_STATUS_TIMEOUT_MS = 200;

export type SurvivorWatch = Readonly<{
  /** Kill → first poll that found a survivor leading in a later term. */
  leaderSeenMs: number | null;
  /** Kill → first poll that found that leader's commit index at the no-op's index. */
  leaderCommitSeenMs: number | null;
}>;

/** Polls until `done()` returns true; times are from `killedAt` (performance.now()). */
export async function watchSurvivors(
  client: ShardClient,
  shardId: string,
  survivors: readonly string[],
  killedTerm: number,
  killedAt: number,
  done: () => boolean,
): Promise<SurvivorWatch> {
  let leaderSeenMs: number | null = null;
  let leaderCommitSeenMs: number | null = null;
  let leader: string | null = null;
  let noopIndex = 0;
  while (!done() && leaderCommitSeenMs === null) {
    const all = await Promise.all(
      survivors.map((id) => client.replicaStatus(shardId, id, WATCH_STATUS_TIMEOUT_MS).then((s) => s as RaftStatus, () => null)),
    );
    const at = performance.now() - killedAt;
    for (const s of all) {
      if (!s || s.role !== 'leader' || s.term <= killedTerm) continue;
      if (leader !== s.id) {
        // The no-op is appended on taking the lead: at most the last index seen now.
        leader = s.id;
        leaderSeenMs = at;
        noopIndex = s.lastIndex;
      }
      if (s.commit >= noopIndex) leaderCommitSeenMs = at;
    }
    await sleep(WATCH_POLL_MS);
  }
  return { leaderSeenMs, leaderCommitSeenMs };
}
