// The calls bench reads each setup phase's p50/p99 from the SIP nodes' histograms: the
// step's own observations (after − before), summed over nodes, reported as the upper
// bound of the bucket holding the percentile — checked against a real prom-client
// exposition.
import { Histogram, Registry } from 'prom-client';
import t from 'tap';
import { formatPhases, parsePhaseBuckets, summarizePhases } from '../../bench/phases.js';

function node(name: string): { registry: Registry; h: Histogram } {
  const registry = new Registry();
  registry.setDefaultLabels({ node: name });
  const h = new Histogram({ name: 'ringfence_sip_setup_phase_seconds', help: 'x', labelNames: ['phase'], buckets: [0.001, 0.01, 0.1, 1], registers: [registry] });
  return { registry, h };
}

t.test('a step counts only its own observations, over every node', async (t) => {
  const a = node('sip1');
  const b = node('sip2');
  for (let i = 0; i < 50; i++) a.h.observe({ phase: 'reserve' }, 0.5); // before the step
  const before = parsePhaseBuckets(await a.registry.metrics(), parsePhaseBuckets(await b.registry.metrics()));
  for (let i = 0; i < 60; i++) a.h.observe({ phase: 'reserve' }, 0.005);
  for (let i = 0; i < 39; i++) b.h.observe({ phase: 'reserve' }, 0.05);
  b.h.observe({ phase: 'reserve' }, 3); // beyond the last bucket
  a.h.observe({ phase: 'agent' }, 0.0005);
  const after = parsePhaseBuckets(await a.registry.metrics(), parsePhaseBuckets(await b.registry.metrics()));
  const s = summarizePhases(before, after);
  t.same(s['reserve'], { count: 100, p50UpToMs: 10, p99UpToMs: 100 });
  t.same(s['agent'], { count: 1, p50UpToMs: 1, p99UpToMs: 1 });
  t.equal(formatPhases(s), 'reserve ≤10/≤100, agent ≤1/≤1', 'setup order');
  for (let i = 0; i < 5; i++) b.h.observe({ phase: 'confirm' }, 9);
  const tail = summarizePhases(after, parsePhaseBuckets(await a.registry.metrics(), parsePhaseBuckets(await b.registry.metrics())));
  t.same(tail, { confirm: { count: 5, p50UpToMs: Number.POSITIVE_INFINITY, p99UpToMs: Number.POSITIVE_INFINITY } }, 'phases without new observations are left out');
  t.equal(formatPhases(tail), 'confirm beyond the last bucket/beyond the last bucket');
});
