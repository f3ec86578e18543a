// Proves the gateway's pure media cores behave as a user of query would notice: port
// pairs are even/odd, never handed out twice, reused last and exhausted with a typed
// error; loss follows sequence gaps (including wrap-around and an SSRC restart) and jitter
// follows RFC 3550 for a known arrival pattern; latching decisions for both modes (strict: the SDP's exact address only); the
// token bucket passes its burst, then its rate, and nothing more. Driven directly, with
// time passed in.

import t from 'tap';
import { GatewayErrorCode } from '../../gateway/errors.js';
import { LATCH_ACCEPT, LATCH_DROP, LATCH_LEARN, latchDecision } from '../../gateway/latching.js';
import { PortAllocator } from '../../gateway/port-allocator.js';
import { TokenBuckets } from '../../gateway/rate-limit.js';
import { LegStats } from '../../gateway/stats.js';
import { rtpPacket } from './helpers.js';

t.test('port allocator', async (t) => {
  const p = new PortAllocator({ min: 40001, max: 40008 }); // even start rounds up: 40002..40007
  t.equal(p.capacityPairs, 3);
  const got = [p.allocate(), p.allocate(), p.allocate()];
  t.same(got, [40002, 40004, 40006]);
  t.throws(() => p.allocate(), { code: GatewayErrorCode.PORTS_EXHAUSTED });
  p.release(40004);
  p.release(40002);
  t.equal(p.allocate(), 40004, 'the first released pair comes back first');
  t.equal(p.freePairs, 1);
  t.throws(() => p.release(40006 + 1), /port 40007 not from this range/, 'an odd port is not a pair');
  t.throws(() => p.release(40010), /port 40010 not from this range/, 'a port beyond the range');
  p.release(40006);
  t.throws(() => p.release(40006), /port 40006 released twice/);
});

function feed(s: LegStats, seqs: number[], arrivalMs?: (i: number) => number, ssrc = 7): void {
  seqs.forEach((seq, i) => {
    const b = rtpPacket(seq, ssrc);
    s.onRtp(0, b, b.length, arrivalMs ? arrivalMs(i) : i * 20);
  });
}

t.test('loss from sequence gaps', async (t) => {
  const s = new LegStats(1);
  s.reset(0, 8000);
  feed(s, [1, 2, 3, 7, 8, 9]);
  t.equal(s.snapshot(0).lostPackets, 3, 'a gap of 3 is 3 lost');
  t.equal(s.snapshot(0).rtpPackets, 6);
  t.equal(s.snapshot(0).rtpBytes, 6 * 172);
  feed(s, [5]);
  t.equal(s.snapshot(0).lostPackets, 2, 'a late packet fills its gap');
  feed(s, [9]);
  t.equal(s.snapshot(0).lostPackets, 1, 'a duplicate counts as received, like RFC 3550 A.1');

  const w = new LegStats(1);
  w.reset(0, 8000);
  feed(w, [65533, 65534, 65535, 0, 2, 3]);
  t.equal(w.snapshot(0).lostPackets, 1, 'wrap-around is not loss; the missing 1 is');

  const r = new LegStats(1);
  r.reset(0, 8000);
  feed(r, [10, 11, 13]);
  feed(r, [500, 501, 502], undefined, 8);
  t.equal(r.snapshot(0).lostPackets, 1, 'a new SSRC restarts numbering and keeps earlier loss');
  feed(r, [30000, 30001, 30002], undefined, 8);
  t.equal(r.snapshot(0).lostPackets, 1, 'a confirmed big jump is a restart, not 29,000 lost');
});

t.test('interarrival jitter', async (t) => {
  const s = new LegStats(1);
  s.reset(0, 8000);
  feed(s, Array.from({ length: 50 }, (_, i) => i));
  t.equal(s.snapshot(0).jitterTimestampUnits, 0, 'perfect 20 ms pacing has no jitter');

  const j = new LegStats(1);
  j.reset(0, 8000);
  // Every other packet arrives 10 ms late: |D| alternates 80 units; J converges to 80.
  feed(j, Array.from({ length: 400 }, (_, i) => i), (i) => i * 20 + (i % 2) * 10);
  t.equal(j.snapshot(0).jitterTimestampUnits, 80);
  t.equal(j.snapshot(0).jitterMs, 10);
});

t.test('latching decisions', async (t) => {
  // Arguments: strict, latched ip/port, SDP ip/port, source ip/port. The SDP says 10.0.0.1:5000.
  // strict: only the SDP's exact address, latched or not; nothing without an SDP address.
  t.equal(latchDecision(true, '', 0, '10.0.0.1', 5000, '10.0.0.1', 5000), LATCH_LEARN);
  t.equal(latchDecision(true, '', 0, '10.0.0.1', 5000, '10.0.0.2', 5000), LATCH_DROP);
  t.equal(latchDecision(true, '', 0, '10.0.0.1', 5000, '10.0.0.1', 6000), LATCH_DROP, 'the SDP IP on another port is a stranger');
  t.equal(latchDecision(true, '', 0, '', 0, '10.0.0.1', 6000), LATCH_DROP, 'no SDP address yet');
  t.equal(latchDecision(true, '10.0.0.1', 5000, '10.0.0.1', 5000, '10.0.0.1', 5000), LATCH_ACCEPT);
  t.equal(latchDecision(true, '10.0.0.1', 5000, '10.0.0.1', 5000, '10.0.0.1', 6000), LATCH_DROP);
  // latch-any: first source wins and keeps the leg, even against the SDP address.
  t.equal(latchDecision(false, '', 0, '10.0.0.1', 5000, '192.0.2.9', 7000), LATCH_LEARN);
  t.equal(latchDecision(false, '192.0.2.9', 7000, '10.0.0.1', 5000, '192.0.2.9', 7000), LATCH_ACCEPT);
  t.equal(latchDecision(false, '192.0.2.9', 7000, '10.0.0.1', 5000, '192.0.2.9', 7001), LATCH_DROP);
  t.equal(latchDecision(false, '192.0.2.9', 7000, '10.0.0.1', 5000, '10.0.0.1', 5000), LATCH_DROP);
});

t.test('token bucket', async (t) => {
  const b = new TokenBuckets(2, 100, 10);
  b.reset(0, 0);
  b.reset(1, 0);
  let passed = 0;
  for (let i = 0; i < 50; i++) if (b.take(0, 0)) passed++;
  t.equal(passed, 10, 'a burst passes up to the bucket depth');
  passed = 0;
  for (let ms = 1; ms <= 1000; ms++) if (b.take(0, ms)) passed++;
  t.equal(passed, 100, 'then the configured rate: 100 in one second');
  t.ok(b.take(1, 0), 'buckets are per call');
  const off = new TokenBuckets(1, 0, 1);
  off.reset(0, 0);
  let all = 0;
  for (let i = 0; i < 1000; i++) if (off.take(0, 0)) all++;
  t.equal(all, 1000, 'rate 0 disables limiting');
});
