// Proves the bench CLI's argument handling: flags and values parse as documented, an
// unknown bench name exits 2 listing the valid names, and a bench whose module does not
// exist yet says so instead of crashing. The CLI runs as a real child process.
import t from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { BENCH_NAMES, parseBenchArgv } from '../../bench/bench-args.js';

t.test('argv parsing', async (t) => {
  const p = parseBenchArgv(['raft', '--json', '--seconds', '2.5', '--levels=1,16', '--profile']);
  t.equal(p.name, 'raft');
  t.equal(p.json, true);
  t.equal(p.seconds, 2.5);
  t.equal(p.flags.get('levels'), '1,16');
  t.equal(p.flags.get('profile'), 'true');
  t.equal(parseBenchArgv(['--json', 'raft']).name, 'raft', '--json never swallows the bench name');
  t.throws(() => parseBenchArgv(['raft', '--seconds', '-1']));
  t.throws(() => parseBenchArgv(['raft', 'extra']));
});

const runCli = (args: string[]): { status: number | null; stderr: string } => {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'bench/cli.ts', ...args], { encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stderr: r.stderr };
};

t.test('unknown bench name exits 2 and lists the valid ones', async (t) => {
  const r = runCli(['nosuch']);
  t.equal(r.status, 2);
  t.match(r.stderr, /unknown bench: nosuch/);
  for (const n of BENCH_NAMES) t.match(r.stderr, n);
});

t.test('bench calls names a bad flag before starting anything', async (t) => {
  const cases = [['phones', 'bogus', /--phones wants sipp or ringfence, got bogus/], ['shards', '0', /--shards must be an integer from 1 to 64, got "0"/], ['agents', 'x', /--agents must be an integer from 1 to 10000, got "x"/], ['repeat', '0', /--repeat must be an integer from 1 to 20, got "0"/], ['layout', 'mixed', /--layout wants stores, replicas or separate, or several of them once each \(stores,replicas\), got mixed/], ['layout', 'stores,stores', /--layout wants .* got stores,stores/], ['leaders', 'preferred', /--leaders preferred applies to --layout replicas or separate/]] as const;
  // Side by side: each is a whole tsx start-up (~5 s here).
  const runs = await Promise.all(cases.map(([flag, value]) => new Promise<{ status: number | null; stderr: string }>((resolve) => {
    const c = spawn(process.execPath, ['--import', 'tsx', 'bench/cli.ts', 'calls', `--${flag}`, value], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    c.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    const timer = setTimeout(() => c.kill('SIGKILL'), 60_000);
    c.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stderr });
    });
  })));
  cases.forEach(([flag, value, why], i) => {
    t.equal(runs[i]!.status, 1, `--${flag} ${value}`);
    t.match(runs[i]!.stderr, why);
  });
});

t.test('bench reserve and bench stores name a bad layout flag before starting anything', async (t) => {
  const cases = [
    [['reserve', '--layout', 'mixed'], /--layout wants stores, replicas or in-process, got mixed/],
    [['reserve', '--shards', '0'], /--shards must be an integer from 1 to 1000 with --layout stores, got "0"/],
    [['reserve', '--layout', 'replicas', '--shards', '100'], /--shards must be an integer from 1 to 8 with --layout replicas, got "100"/],
    [['reserve', '--layout', 'replicas', '--stores', '3'], /--stores applies to --layout stores only/],
    [['reserve', '--shards', '10', '--stores', '2'], /--stores must be an integer from 3 to 9, got "2"/],
    [['reserve', '--shards', '10', '--busy-shards', '11'], /--busy-shards must be an integer from 1 to 10, got "11"/],
    [['stores', '--shards', 'x'], /--shards must be an integer from 1 to 1000, got "x"/],
    [['stores', '--agents', '0'], /--agents must be an integer from 1 to 100000, got "0"/],
  ] as const;
  const runs = await Promise.all(cases.map(([argv]) => new Promise<{ status: number | null; stderr: string }>((resolve) => {
    const c = spawn(process.execPath, ['--import', 'tsx', 'bench/cli.ts', ...argv, '--etcd', 'false', '--json'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    c.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    const timer = setTimeout(() => c.kill('SIGKILL'), 60_000);
    c.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stderr });
    });
  })));
  cases.forEach(([argv, why], i) => {
    t.equal(runs[i]!.status, 1, argv.join(' '));
    t.match(runs[i]!.stderr, why);
    t.notMatch(runs[i]!.stderr, /starting/, 'nothing started (with --json, progress would be on stderr)');
  });
});

const missing = BENCH_NAMES.find((n) => !existsSync(`bench/${n}.ts`));
t.test('a bench not built yet says so', { skip: missing ? false : 'every bench module exists' }, async (t) => {
  const r = runCli([missing!]);
  t.equal(r.status, 2);
  t.match(r.stderr, /not built yet/);
});
