// Threat: a leader whose wall clock stepped back froze wrap-ups, contact expiry and TTLs
// (the leader's duty compared Date.now() with deadlines stamped earlier); stepped forward,
// it expired them all at once. Proves that the replica's clock (shards/node/leader-clock.ts)
// advances at the monotonic rate whatever the wall clock does after start, that a new
// leader behind the shard's applied time carries on from it instead of freezing, and —
// through the shard state machine's own deadline queries — that a 5 s wrap-up ends after
// 5 s of real time with the wall clock stepped 10 minutes either way.
import t from 'tap';
import { LeaderClock } from '../../shards/node/leader-clock.js';
import { ShardHarness } from './shard-harness.js';

function clocks(wallStartMs: number) {
  const c = { wallMs: wallStartMs, monoMs: 1000 };
  return { c, clock: new LeaderClock(() => c.wallMs, () => c.monoMs) };
}

t.test('a step of the wall clock after start moves nothing', async (t) => {
  const { c, clock } = clocks(1_700_000_000_000);
  t.equal(clock.nowMs(), 1_700_000_000_000);
  c.monoMs += 2000;
  c.wallMs -= 600_000; // stepped back 10 minutes
  t.equal(clock.nowMs(), 1_700_000_002_000, 'two real seconds later, not ten minutes earlier');
  c.monoMs += 1000;
  c.wallMs += 1_200_000; // and forward 20
  t.equal(clock.nowMs(), 1_700_000_003_000);
});

t.test('whole milliseconds, though the monotonic clock has fractions', async (t) => {
  const { c, clock } = clocks(1_700_000_000_000);
  c.monoMs += 1234.567;
  t.equal(clock.nowMs(), 1_700_000_001_234, 'rounded down: never ahead of real time');
  clock.lead(1_800_000_000_000.5);
  c.monoMs += 0.75;
  t.ok(Number.isInteger(clock.nowMs()), 'an anchored clock too');
});

t.test('a leader behind the shard carries on from the applied time', async (t) => {
  const { c, clock } = clocks(1_000_000);
  clock.lead(5_000_000); // the previous leader's host ran 4,000 s ahead
  t.equal(clock.nowMs(), 5_000_000, 'continues from the applied time');
  c.monoMs += 1500;
  t.equal(clock.nowMs(), 5_001_500, 'at real speed: nothing freezes until this host catches up');
  clock.lead(10); // an applied time behind its own clock changes nothing
  t.equal(clock.nowMs(), 1_001_500, 'its own clock wins when it is ahead');
  clock.follow();
  t.equal(clock.nowMs(), 1_001_500, 'a follower stamps nothing, and reads its own clock');
  t.throws(() => clock.lead(Number.NaN), { code: 'ERR_ASSERTION' });
});

t.test('a 5 s wrap-up ends after 5 real seconds, the wall clock stepped either way', async (t) => {
  for (const stepMs of [-600_000, 600_000]) {
    const { c, clock } = clocks(1_000_000);
    const h = new ShardHarness();
    h.nowMs = clock.nowMs();
    const cl = h.openClient();
    const dn = '1001';
    cl.send({ type: 'provision', dn, name: 'A', skills: { s: 1 }, wrapUpMs: 5000, maxNoAnswer: 0, credentials: null });
    cl.send({ type: 'login', dn });
    cl.send({ type: 'ready', dn });
    cl.send({ type: 'reserve', dn, reservationId: 'r', callId: 'c', owner: 'sip1', ttlMs: 30_000 });
    cl.send({ type: 'confirm', dn, reservationId: 'r' });
    t.match(cl.send({ type: 'release', dn, reservationId: 'r', outcome: 'completed' }), { ok: true, agent: { status: { state: 'WRAP_UP' } } });
    c.wallMs += stepMs;
    c.monoMs += 1000;
    t.same(h.sm.dueTimers(clock.nowMs()), [], `step ${stepMs / 60_000} min: not due after 1 s`);
    t.same(h.sm.expiredReservations(clock.nowMs()), []);
    c.monoMs += 4000;
    t.same(h.sm.dueTimers(clock.nowMs()).map((d) => d.kind), ['wrapUpEnd'], `step ${stepMs / 60_000} min: due after 5 s`);
  }
});
