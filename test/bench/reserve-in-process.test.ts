// `bench reserve --layout in-process`: the stores layout's three stores opened in the
// bench's own process (real LevelDB with fsync, real loopback sockets), quick enough for
// every `npm test`. Its JSON line names the layout and the shard count, where the leaders
// were (each shard's preferred replica, which the bench waits for), reports cycles
// that committed reserve, confirm and release on the stores (counted through their admin
// apps, as for store processes), and charges all the CPU to the one process: there is no
// servers figure, since no server runs elsewhere; with --profile DIR the process writes
// its V8 CPU profile there, as store processes do. No figure is judged against a bound.
import { readdirSync, readFileSync } from 'node:fs';
import t from 'tap';
import { tempDir } from '../support/temp-dir.js';
import { runBenchCli } from './bench-process.js';

t.test('bench reserve --layout in-process runs the stores beside the client', async (t) => {
  const profiles = tempDir(t, 'reserve-in-process-profile');
  const { code, stdout, stderr } = await runBenchCli(t, ['reserve', '--layout', 'in-process', '--shards', '4', '--agents', '40', '--levels', '8', '--seconds', '1', '--warmup-seconds', '0', '--etcd', 'false', '--json', '--profile', profiles]);
  t.equal(code, 0, `bench exits 0 (stderr: ${stderr.slice(-2000)})`);
  const lines = stdout.trim().split('\n');
  t.equal(lines.length, 1, 'with --json stdout holds only the JSON line');
  const r = JSON.parse(lines[0]!) as {
    bench: string; layout: string; shards: number; stores: number;
    leaders: { atPreferred: number; perStore: Record<string, number> };
    results: { target: string; concurrency: number; opsPerSec: number; cpuMsPerCycle: Record<string, number>; storesPerCycle: Record<string, number> }[];
  };
  t.match(r, { bench: 'reserve', layout: 'in-process', shards: 4, stores: 3 });
  t.same(r.leaders, { atPreferred: 4, perStore: { a: 2, b: 1, c: 1 } }, 'measured with every shard led at its preferred replica, spread over the stores');
  t.equal(r.results.length, 1, 'one level, no etcd');
  const row = r.results[0]!;
  t.match(row, { target: 'ringfence', concurrency: 8 });
  t.ok(row.opsPerSec > 0, `cycles completed (${row.opsPerSec}/s)`);
  t.ok(row.storesPerCycle.entries! >= 2, `each cycle committed its commands on the stores (${row.storesPerCycle.entries} entries per cycle)`);
  t.ok(row.storesPerCycle.syncs! > 0, 'the shared logs synced');
  t.notOk('servers' in row.cpuMsPerCycle, 'no servers figure: every store ran in the bench process');
  t.ok(row.cpuMsPerCycle.client! > 0, 'the process\'s own CPU per cycle (stores and client)');
  const written = readdirSync(profiles).filter((f) => f.endsWith('.cpuprofile'));
  t.equal(written.length, 1, 'one CPU profile, the bench process\'s');
  const profile = JSON.parse(readFileSync(`${profiles}/${written[0]!}`, 'utf8')) as { nodes: { callFrame: { url: string } }[]; samples: number[] };
  t.ok(profile.samples.length > 0, 'with samples');
  t.ok(profile.nodes.some((n) => n.callFrame.url.includes('raft/group/')), 'of the stores\' Raft groups, which ran in this process');
});
