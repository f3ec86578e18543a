// Smoke test of `bench calls` end to end (with RINGFENCE_BENCH_SMOKE=1, like the other
// whole-bench runs; it needs sipp, and REQUIRE_SIPP=1 makes its absence a failure): one
// run of both layouts, `--layout stores,replicas`, at a low rate. The final JSON line
// names each layout's result in the order run, each step carries its layout, and the CPU
// per call counts the shard-hosting processes under the layout's bucket: `stores` for
// the 3 `ringfence store` processes, `replicas` for the 3 shard processes; each ringfence
// step says how far the shards' Raft terms moved over it, and a stores step what the calls
// cost the stores (at least the 3 entries of reserve, confirm and release per call, each
// made durable). The rate is
// far below what the machine carries, so every call is answered; no latency is judged.
import t from 'tap';
import { needSipp } from '../../cluster/sipp/driver.js';
import { benchSmokeSkip, runBenchCli } from './bench-process.js';

type Result = { target: string; layout?: string; cps: number; failed: number; cpuMsPerCall?: Record<string, number> };
type Step = { target: string; layout?: string; answered: number; calls: number; cpuMsPerCall?: Record<string, number>; termsAdvanced?: number; storesPerCall?: Record<string, number> };

t.test('bench calls --layout stores,replicas reports each layout', { skip: benchSmokeSkip }, async (t) => {
  if (!needSipp(t)) return;
  const { code, stdout, stderr } = await runBenchCli(t, ['calls', '--json', '--layout', 'stores,replicas', '--rates', '20', '--direct-rates', '20', '--repeat', '1', '--seconds', '1', '--agents', '10']);
  t.equal(code, 0, `bench exits 0 (stderr: ${stderr.slice(-2000)})`);
  const lines = stdout.trim().split('\n');
  t.equal(lines.length, 1, 'with --json stdout holds only the JSON line');
  const r = JSON.parse(lines[0]!) as { bench: string; layout: string; layouts: string[]; results: Result[]; steps: Step[] };
  t.equal(r.bench, 'calls');
  t.same(r.layouts, ['stores', 'replicas']);
  t.equal(r.layout, 'stores', 'the first layout is the headline one');
  t.same(r.results.map((x) => [x.target, x.layout ?? null]), [['ringfence', 'stores'], ['ringfence', 'replicas'], ['direct', null]]);
  for (const [i, bucket, other] of [[0, 'stores', 'replicas'], [1, 'replicas', 'stores']] as const) {
    const res = r.results[i]!;
    t.equal(res.cps, 20, `${bucket}: the rate carried`);
    t.ok((res.cpuMsPerCall?.[bucket] ?? 0) > 0, `${bucket}: the shard-hosting processes' CPU per call is under ${bucket}`);
    t.notOk(res.cpuMsPerCall !== undefined && other in res.cpuMsPerCall, `${bucket}: nothing under ${other}`);
    t.ok((res.cpuMsPerCall?.['sipNode'] ?? 0) > 0, `${bucket}: the SIP node's CPU per call`);
  }
  const ringSteps = r.steps.filter((s) => s.target === 'ringfence');
  t.same(ringSteps.map((s) => s.layout), ['stores', 'replicas'], 'each step names its layout');
  for (const s of ringSteps) {
    t.equal(s.answered, s.calls, `${s.layout}: every call answered`);
    t.ok(Number.isInteger(s.termsAdvanced) && s.termsAdvanced! >= 0, `${s.layout}: the step says how far the shards' terms moved (${s.termsAdvanced})`);
  }
  const perCall = ringSteps[0]!.storesPerCall;
  t.ok((perCall?.['entries'] ?? 0) >= 3, `stores: each call committed its reserve, confirm and release (${JSON.stringify(perCall)})`);
  t.ok((perCall?.['syncs'] ?? 0) > 0 && (perCall?.['messages'] ?? 0) > 0, 'stores: and the stores synced their log and sent Raft messages for it');
  t.notOk('storesPerCall' in ringSteps[1]!, 'replicas: no store counts without stores');
  t.notOk(r.steps.some((s) => s.target === 'direct' && 'termsAdvanced' in s), 'direct steps have no shards');
});
