// Proves the leader's lease judgement (shards/node/lease-watch.ts): a lease runs out a
// full TTL after this replica first saw its latest renewal, on the monotonic time it is
// given — the leader-stamped wall time in the lease (renewedAtMs) plays no part, so a
// wall clock stepped back or forward by hours neither freezes nor mass-expires leases; a
// new leader gives every lease a full TTL; a follower judges nothing; the time until the
// next watched lease runs out tells the leader's duties when to look.
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

t.test('how long until the next watched lease runs out (when the leader\'s duties must look)', async (t) => {
  const w = new LeaseWatch();
  t.equal(w.msUntilNextExpiry(0), Number.POSITIVE_INFINITY, 'a follower watches nothing');
  w.lead(100);
  t.equal(w.msUntilNextExpiry(100), Number.POSITIVE_INFINITY, 'no lease seen yet');
  w.expired([lease('sip1', 5, 0, 3000), lease('sip2', 6, 0, 1000)], 100);
  t.equal(w.msUntilNextExpiry(100), 1000, 'the shorter TTL');
  t.equal(w.msUntilNextExpiry(600), 500);
  w.expired([lease('sip1', 5, 0, 3000), lease('sip2', 7, 0, 1000)], 600);
  t.equal(w.msUntilNextExpiry(600), 1000, 'a renewal seen pushes it back');
  t.equal(w.msUntilNextExpiry(5000), 0, 'past it: at once');
  w.expired([], 5000);
  t.equal(w.msUntilNextExpiry(5000), Number.POSITIVE_INFINITY, 'leases gone from the state are no longer watched');
});
