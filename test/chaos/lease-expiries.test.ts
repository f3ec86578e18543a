// The chaos report's "every agent of a node gone for good READY again after" figure: from
// the node's kill for good (its last kill), over the agents its lease freed from then on.
import t from 'tap';
import type { ShardClient } from '../../shards/client/shard-client.js';
import type { ChangeRecord } from '../../shards/types.js';
import { followLeaseExpiries, goneNodesRecoveryS } from './lease-expiries.js';

/** A change feed the test writes pages into, on a clock it sets: only what
 * followLeaseExpiries reads of a ShardClient. */
function feed() {
  const clock = { nowMs: 0 };
  let onPage: ((page: { changes: readonly ChangeRecord[] }) => void) | null = null;
  const client = {
    shardIds: ['s1'],
    follow: (_shard: string, _from: number, cb: typeof onPage) => {
      onPage = cb;
      return () => (onPage = null);
    },
  } as unknown as ShardClient;
  const follower = followLeaseExpiries(client, () => clock.nowMs);
  const at = (nowMs: number, changes: Partial<ChangeRecord>[]): void => {
    clock.nowMs = nowMs;
    onPage!({ changes: changes as ChangeRecord[] });
  };
  const ready = (dn: string, index: number): Partial<ChangeRecord> => ({ index, dn, kind: 'ready' as ChangeRecord['kind'], agent: { dn, status: { state: 'READY' } } as unknown as ChangeRecord['agent'] });
  return { follower, at, ready };
}

t.test('measured from the last kill of a node killed, restarted and killed for good', async (t) => {
  const { follower, at, ready } = feed();
  at(1_000, [{ index: 3, dn: '100', kind: 'expireLease', agent: null }]); // freed after the first kill (the node came back)
  at(1_500, [ready('100', 4)]);
  at(60_000, [{ index: 9, dn: '101', kind: 'expireLease', agent: null }]); // freed after the kill for good
  at(61_000, [{ index: 10, dn: '102', kind: 'expireLease', agent: null }]);
  at(66_500, [ready('101', 11)]);
  at(67_600, [ready('102', 12)]);
  const report = follower.stop();
  t.equal(report.records.length, 3);
  const kills = new Map([['sip2', [500, 52_000]]]);
  t.equal(goneNodesRecoveryS(['sip2'], (n) => kills.get(n) ?? [], report), 15.6, 'from the kill for good at 52 s to the last READY at 67.6 s');
  t.not(goneNodesRecoveryS(['sip2'], (n) => kills.get(n) ?? [], report), (67_600 - 500) / 1000, 'not from its first kill');
});

t.test('an agent never READY again while followed counts as never recovered', async (t) => {
  const { follower, at, ready } = feed();
  at(10_000, [{ index: 2, dn: '100', kind: 'expireLease', agent: null }]);
  at(11_000, [ready('100', 1)]); // an older change (lower index) does not count as after the expiry
  const report = follower.stop();
  t.equal(goneNodesRecoveryS(['sip1'], () => [9_000], report), Number.POSITIVE_INFINITY);
});

t.test('no node gone for good, or one never killed: no figure; nothing freed: 0', async (t) => {
  const { follower } = feed();
  const report = follower.stop();
  t.equal(goneNodesRecoveryS([], () => [], report), null);
  t.equal(goneNodesRecoveryS(['sip1'], () => [], report), null, 'a node in the gone list but never killed gives no time');
  t.equal(goneNodesRecoveryS(['sip1'], () => [1_000], report), 0, 'no agent needed freeing');
});
