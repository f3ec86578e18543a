// Proves the per-source rate gate's core without sockets: a source within its burst
// passes, then gets a bounded number of 'reject' (503) verdicts, then 'drop'; tokens come
// back at the configured rate; another source is unaffected; trusted IPs and CIDRs are
// never limited (IPv4-mapped IPv6 included); the table of sources is bounded; a bad
// trusted entry is refused with an error naming it.
import t from 'tap';
import { SourceGate, parseTrustedSources } from '../../../sip/transport/source-gate.js';

t.test('bucket, reject budget, drop, refill', async (t) => {
  let now = 0;
  const g = new SourceGate({ requestsPerSecond: 10, burst: 3, rejectsPerSecond: 1, rejectBurst: 2, now: () => now });
  const verdicts = Array.from({ length: 7 }, () => g.admit('198.51.100.1'));
  t.same(verdicts, ['pass', 'pass', 'pass', 'reject', 'reject', 'drop', 'drop']);
  t.equal(g.admit('198.51.100.2'), 'pass', 'another source is served');
  now += 100; // one token back
  t.equal(g.admit('198.51.100.1'), 'pass');
  t.equal(g.admit('198.51.100.1'), 'drop');
  now += 1_000;
  t.equal(g.admit('198.51.100.1'), 'pass', 'refilled');
});

t.test('trusted sources and bounds', async (t) => {
  const g = new SourceGate({ requestsPerSecond: 1, burst: 1, rejectsPerSecond: 0, rejectBurst: 0, sourcesMax: 2, trusted: ['loopback', '10.1.0.0/16', '2001:db8::5'], now: () => 0 });
  for (const ip of ['127.0.0.1', '127.9.9.9', '::1', '10.1.2.3', '::ffff:10.1.2.3', '2001:db8::5']) {
    t.same([g.admit(ip), g.admit(ip), g.admit(ip)], ['pass', 'pass', 'pass'], `${ip} trusted`);
  }
  t.equal(g.trackedCount, 0, 'trusted sources take no table entry');
  t.same([g.admit('10.2.0.1'), g.admit('10.2.0.1')], ['pass', 'drop']);
  g.admit('10.2.0.2');
  g.admit('10.2.0.3');
  t.equal(g.trackedCount, 2, 'bounded: the least recently seen was forgotten');
  // The answers are remembered per source, in a table as bounded as the buckets: asked
  // again after more sources than it holds, each is still right.
  for (const [ip, yes] of [['127.0.0.1', true], ['10.2.0.1', false], ['::ffff:10.1.2.3', true], ['10.1.2.3', true], ['2001:db8::6', false], ['2001:db8::5', true], ['not-an-ip', false]] as const) {
    t.equal(g.trusted(ip), yes, `${ip} ${yes ? 'trusted' : 'not trusted'}, asked again`);
  }
  t.throws(() => parseTrustedSources(['10.0.0.0/33']), /10\.0\.0\.0\/33/);
  t.throws(() => parseTrustedSources(['example.com']), /example\.com/);
});
