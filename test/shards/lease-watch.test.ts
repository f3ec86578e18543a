// Proves the leader's lease judgement (shards/node/lease-watch.ts): a lease runs out a
// full TTL after this replica first saw its latest renewal, on the monotonic time it is
// given — the leader-stamped wall time in the lease (renewedAtMs) plays no part, so a
// wall clock stepped back or forward by hours neither freezes nor mass-expires leases; a
// new leader gives every lease a full TTL; a follower judges nothing.
import t from 'tap';
import { LeaseWatch } from '../../shards/node/lease-watch.js';
import type { Lease } from '../../shards/types.js';

const lease = (owner: string, renewedIndex: number, renewedAtMs: number, ttlMs = 1000): Lease => ({ owner, ttlMs, renewedIndex, renewedAtMs });

t.test('a lease runs out a TTL after its last renewal was seen, whatever the wall clock says', async (t) => {
  const w = new LeaseWatch();
  t.same(w.expired([lease('sip1', 5, 0)], 0), [], 'a follower judges nothing');
  w.lead(100);
  // renewedAtMs far in the past (a wall clock stepped forward) or future (stepped back).
  const leases = [lease('sip1', 5, -3_600_000), lease('sip2', 6, 3_600_000)];
  t.same(w.expired(leases, 100), [], 'nothing expires at once');
  t.same(w.expired(leases, 1099), [], 'not before the TTL');
  t.same(w.expired(leases, 1100).map((l) => l.owner), ['sip1', 'sip2'], 'both at the TTL');
  const renewed = [lease('sip1', 9, -3_600_000), lease('sip2', 6, 3_600_000)];
  t.same(w.expired(renewed, 1200).map((l) => l.owner), ['sip2'], 'a renewal restarts the count');
  t.same(w.expired(renewed, 2199).map((l) => l.owner), ['sip2']);
  t.same(w.expired(renewed, 2200).map((l) => l.owner), ['sip1', 'sip2']);
});

t.test('a new leader gives every lease a full TTL', async (t) => {
  const w = new LeaseWatch();
  w.lead(0);
  const leases = [lease('sip1', 5, 0)];
  w.expired(leases, 0);
  t.same(w.expired(leases, 900), []);
  w.follow();
  t.same(w.expired(leases, 5000), [], 'not leading: nothing');
  w.lead(5000);
  t.same(w.expired(leases, 5000), [], 'the new leader looks at once (its duty runs on leading)');
  t.same(w.expired(leases, 5999), [], 'the old leader\'s waiting does not count');
  t.same(w.expired(leases, 6000).map((l) => l.owner), ['sip1']);
  t.throws(() => w.lead(Number.NaN), { code: 'ERR_ASSERTION' });
});
