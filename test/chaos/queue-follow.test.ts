// What the chaos run's queue follower keeps of the shards' feeds (queue-follow.ts): the
// queue shard's records once each even when a reconnect re-sends an index, a gap where a
// page came truncated after records were seen, and each SIP node's reservation of an agent
// phone once (not the load clients' reservations, not other DNs, not other shards' queues).
import t from 'tap';
import type { ShardClient } from '../../shards/client/shard-client.js';
import type { FeedPage } from '../../shards/rpc/protocol.js';
import { ServiceQueues } from '../../shards/queue.js';
import type { Agent, ChangeRecord, QueueChangeRecord } from '../../shards/types.js';
import { followQueue } from './queue-follow.js';

function feeds() {
  const onPage = new Map<string, (page: FeedPage) => void>();
  const client = {
    shardIds: ['s1', 's2'],
    follow: (shard: string, _from: number, cb: (page: FeedPage) => void) => {
      onPage.set(shard, cb);
      return () => onPage.delete(shard);
    },
  } as unknown as Pick<ShardClient, 'shardIds' | 'follow'>;
  let nowMs = 0;
  const follower = followQueue({ client, queueShard: 's2', service: '5000', sipNodeIds: ['sip1', 'sip2'], serviceDns: new Set(['1001', '1002']), nowMs: () => nowMs });
  const page = (shard: string, atMs: number, changes: readonly (ChangeRecord | QueueChangeRecord)[], truncated = false): void => {
    nowMs = atMs;
    onPage.get(shard)!({ changes, truncated, index: changes.reduce((m, c) => Math.max(m, c.index), 0) });
  };
  return { follower, page, stopped: () => onPage.size === 0 };
}

const reserved = (dn: string, index: number, owner: string, reservationId: string): ChangeRecord => ({
  index, dn, kind: 'reserve',
  agent: { dn, status: { state: 'RESERVED', readySinceMs: 0, reservation: { reservationId, callId: 'c', owner, grantedAtMs: 1000 + index, expiresAtMs: 9000 } } } as unknown as Agent,
});

t.test('queue records once, gaps after records, SIP nodes\' reservations of the service\'s DNs once', async (t) => {
  const { follower, page, stopped } = feeds();
  const q = new ServiceQueues();
  const a = q.enqueue({ type: 'enqueue', service: '5000', callId: 'sip1/a', owner: 'sip1', skill: 'support', minLevel: 0 }, 5, 100).records;
  const other = new ServiceQueues().enqueue({ type: 'enqueue', service: '6000', callId: 'sip1/x', owner: 'sip1', skill: 'support', minLevel: 0 }, 6, 100).records;
  page('s2', 10, [], true); // a fresh follow from 0, truncated before anything queued: no gap
  page('s2', 20, [...a, ...other]);
  page('s2', 30, a); // a reconnect re-sends index 5
  page('s1', 40, [reserved('1001', 7, 'sip1', 'r1'), reserved('1001', 7, 'sip1', 'r1'), reserved('1002', 8, 'load-3', 'r2'), reserved('2001', 9, 'sip2', 'r3')]);
  page('s1', 45, [], true); // a gap on the agents' shard hides no queue record
  page('s2', 50, [], true);
  const events = follower.stop();
  t.ok(stopped(), 'stop ends every follow');
  t.same(events.map((e) => e.kind), ['queue', 'serve', 'gap']);
  t.match(events[0], { kind: 'queue', seenAtMs: 20, record: { callId: 'sip1/a', reason: 'enqueued' } });
  t.match(events[1], { kind: 'serve', service: '5000', dn: '1001', owner: 'sip1', grantedAtMs: 1007, seenAtMs: 40 });
  t.match(events[2], { kind: 'gap', seenAtMs: 50 });
});
