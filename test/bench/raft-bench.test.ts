// Smoke test of `bench raft` end to end: the CLI starts 3 real replica processes (and a
// 3-member etcd when installed), measures two short levels, prints a final JSON line with
// one result per target and level, and leaves no replica or etcd process behind. Throughput
// numbers are not judged here (no wall-clock thresholds); only that work was committed.
import t from 'tap';
import { spawn } from 'node:child_process';
import { benchSmokeSkip, isAlive, runBenchCli } from './bench-process.js';
import { etcdBinary } from '../../bench/etcd-cluster.js';

t.test('bench raft --json prints a result per target and level', { skip: benchSmokeSkip }, async (t) => {
  const { code, stdout, stderr } = await runBenchCli(t, ['raft', '--json', '--seconds', '1', '--levels', '1,16']);
  t.equal(code, 0, `bench exits 0 (stderr: ${stderr.slice(-2000)})`);

  const lines = stdout.trim().split('\n');
  t.equal(lines.length, 1, 'with --json stdout holds only the JSON line');
  const report = JSON.parse(lines[lines.length - 1]!) as {
    bench: string;
    results: Array<{ target: string; concurrency: number; opsPerSec: number; p50Ms: number; p99Ms: number }>;
  };
  t.equal(report.bench, 'raft');
  const targets = etcdBinary() ? ['ringfence', 'etcd'] : ['ringfence'];
  for (const target of targets) {
    for (const concurrency of [1, 16]) {
      const r = report.results.find((x) => x.target === target && x.concurrency === concurrency);
      t.ok(r, `a result for ${target} at concurrency ${concurrency}`);
      t.ok(r && r.opsPerSec > 0, `${target} committed something at concurrency ${concurrency}`);
      t.ok(r && r.p50Ms > 0 && r.p99Ms >= r.p50Ms, `${target} latency percentiles are ordered`);
    }
  }

  const pids = [...stderr.matchAll(/pids ([\d, ]+)\)/g)].flatMap((m) => m[1]!.split(', ').map(Number));
  t.equal(pids.length, targets.length * 3, 'the progress names three pids per target');
  t.notOk(pids.some(isAlive), 'no replica or etcd member survives the bench');
});

t.test('SIGTERM in the middle of a run kills every replica and etcd member', async (t) => {
  const child = spawn(process.execPath, ['--import', 'tsx', 'bench/cli.ts', 'raft', '--seconds', '30', '--levels', '1'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let stdout = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.resume();
  const expectedLines = etcdBinary() ? 2 : 1;
  // Wait until every cluster announced its pids (bounded: the tap timeout ends a hang).
  while ([...stdout.matchAll(/pids ([\d, ]+)\)/g)].length < expectedLines && child.exitCode === null) {
    await new Promise((r) => setTimeout(r, 100));
  }
  const pids = [...stdout.matchAll(/pids ([\d, ]+)\)/g)].flatMap((m) => m[1]!.split(', ').map(Number));
  t.equal(pids.length, expectedLines * 3, 'all server pids announced');
  t.ok(pids.every(isAlive), 'servers are running before the signal');
  child.kill('SIGTERM');
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  t.equal(code, 143, 'the bench exits with the SIGTERM status');
  // SIGKILLed children are reaped by init a moment later; allow that, bounded.
  for (let i = 0; i < 50 && pids.some(isAlive); i++) await new Promise((r) => setTimeout(r, 100));
  t.notOk(pids.some(isAlive), 'no server process survives the interrupted bench');
});
