// Reading the agents back once the load has stopped: a linearizable read of every shard,
// polled until every agent of interest is READY or a bound runs out (reservations whose
// outcome stayed unknown may still commit late and then run out their TTL).
import { setTimeout as sleep } from 'node:timers/promises';
import type { ShardClient } from '../../shards/client/shard-client.js';
import type { Agent } from '../../shards/types.js';
import type { FinalAgent } from '../support/history.js';

export async function readAgents(client: ShardClient): Promise<FinalAgent[]> {
  const out: FinalAgent[] = [];
  for (const shardId of client.shardIds) {
    const agents = (await client.read(shardId, { type: 'agents', filter: {} }, 'linearizable', { deadlineMs: 20_000 })) as Agent[];
    for (const a of agents) {
      const s = a.status;
      const held = s.state === 'RESERVED' || s.state === 'BUSY' ? s.reservation : null;
      out.push({ dn: a.dn, state: s.state, reservationId: held?.reservationId ?? null, owner: held?.owner ?? null });
    }
  }
  return out;
}

/** Polls until every agent in `dns` is READY, or `boundMs` passes; returns the last read. */
export async function pollUntilReady(client: ShardClient, dns: ReadonlySet<string>, boundMs: number, beforeEachPoll?: (agents: readonly FinalAgent[]) => Promise<void>): Promise<FinalAgent[]> {
  const deadline = Date.now() + boundMs;
  for (;;) {
    let agents: FinalAgent[] | null = null;
    try {
      agents = await readAgents(client);
    } catch {
      // a read can time out while a restarted replica catches up; try again
    }
    if (agents !== null) {
      const waiting = agents.filter((a) => dns.has(a.dn) && a.state !== 'READY');
      if (waiting.length === 0 || Date.now() >= deadline) return agents;
      await beforeEachPoll?.(agents);
    } else if (Date.now() >= deadline) throw new Error('could not read the agents back from the shards');
    await sleep(500);
  }
}
