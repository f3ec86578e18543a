// Follows every shard's change feed during a chaos run and keeps what the queue-order
// judge (queue-order.ts) needs: the queue records of the queue's shard in index order, a
// gap mark wherever that feed was truncated (a replica restored from a snapshot, or a
// reconnect past the ring), and each reservation a SIP node made for an agent phone.
import type { ShardClient } from '../../shards/client/shard-client.js';
import { isAgentRecord, isQueueRecord } from '../../shards/types.js';
import type { QueueOrderEvent } from './queue-order.js';

export type QueueFollowSpec = Readonly<{
  client: Pick<ShardClient, 'shardIds' | 'follow'>;
  /** The shard that owns the service's queue. */
  queueShard: string;
  service: string;
  sipNodeIds: readonly string[];
  /** The DNs whose reservations are calls to `service` (the agent phones). */
  serviceDns: ReadonlySet<string>;
  nowMs?: () => number;
}>;

export function followQueue(spec: QueueFollowSpec): { stop: () => QueueOrderEvent[] } {
  const nowMs = spec.nowMs ?? Date.now;
  const events: QueueOrderEvent[] = [];
  const seenQueue = new Set<string>();
  const seenReservations = new Set<string>();
  const nodes = new Set(spec.sipNodeIds);
  let lastQueueIndex = 0;
  const stops = spec.client.shardIds.map((shard) => spec.client.follow(shard, 0, (page) => {
    const seenAtMs = nowMs();
    // A follow from 0 on a fresh cluster may be truncated before anything queued: no loss.
    if (shard === spec.queueShard && page.truncated && lastQueueIndex > 0) events.push({ kind: 'gap', seenAtMs });
    for (const c of page.changes) {
      if (isQueueRecord(c)) {
        if (shard !== spec.queueShard || c.service !== spec.service) continue;
        // A reconnect resumes from the last index: records of that index may come twice.
        const key = `${c.index}:${c.callId}:${c.reason}`;
        if (seenQueue.has(key) || c.index < lastQueueIndex) continue;
        seenQueue.add(key);
        lastQueueIndex = c.index;
        events.push({ kind: 'queue', record: c, seenAtMs });
        continue;
      }
      if (!isAgentRecord(c)) continue; // a service definition's change
      const status = c.agent?.status;
      if (status?.state !== 'RESERVED' || !spec.serviceDns.has(c.dn) || !nodes.has(status.reservation.owner)) continue;
      if (seenReservations.has(status.reservation.reservationId)) continue;
      seenReservations.add(status.reservation.reservationId);
      events.push({ kind: 'serve', service: spec.service, dn: c.dn, owner: status.reservation.owner, grantedAtMs: status.reservation.grantedAtMs, seenAtMs });
    }
  }));
  return {
    stop: () => {
      for (const s of stops) s();
      return [...events];
    },
  };
}
