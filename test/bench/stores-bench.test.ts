// Smoke test of `bench stores` end to end (with RINGFENCE_BENCH_SMOKE=1, like the other
// whole-bench runs): the CLI starts 3 real store processes hosting 6 shards, and its final
// JSON line reports each phase: the leaders at their preferred replicas before any load
// (two per store), 6 Raft connections in all and 3 listeners per store
// (whatever the shard count), 3 client connections, every shard busy in the write path,
// a failover in which every affected shard granted again with 0 double grants, and the
// restarted store caught up; no store survives the bench. No figure is judged against a
// wall-clock bound.
import t from 'tap';
import { benchSmokeSkip, isAlive, runBenchCli } from './bench-process.js';

t.test('bench stores --json reports every phase', { skip: benchSmokeSkip }, async (t) => {
  const { code, stdout, stderr } = await runBenchCli(t, ['stores', '--json', '--shards', '6', '--agents', '60', '--seconds', '1', '--idle-seconds', '1', '--concurrency', '16', '--settle-seconds', '1']);
  t.equal(code, 0, `bench exits 0 (stderr: ${stderr.slice(-2000)})`);
  const lines = stdout.trim().split('\n');
  t.equal(lines.length, 1, 'with --json stdout holds only the JSON line');
  const r = JSON.parse(lines[0]!) as {
    bench: string;
    shards: number;
    boot: { bootMs: number; leaders: { atPreferred: number; shards: number; perStore: Record<string, number> } };
    resources: { raftConnections: number; listenersPerStore: Record<string, number>; clientConnections: number };
    rssMb: Record<string, number>;
    rssMbSettled: Record<string, number>;
    idle: { cpuMsPerS: Record<string, number> };
    idleSettled: { cpuMsPerS: Record<string, number>; totalCpuMsPerS: number; seconds: number };
    writePath: { busyShards: number; committedEntries: number; syncsPerCommit: Record<string, number | null> };
    failover: { affectedShards: number; recovered: number; doubleGrants: number };
    catchUp: { groups: number; caughtUpMs: number };
  };
  t.equal(r.bench, 'stores');
  t.equal(r.shards, 6, 'the JSON names the shard count');
  t.ok(r.boot.bootMs > 0, 'boot timed to a leader for every shard');
  t.match(r.boot.leaders, { atPreferred: 6, shards: 6, perStore: { a: 2, b: 2, c: 2 } }, 'then every shard led at its preferred replica, two per store, before any load');
  t.equal(r.resources.raftConnections, 6, 'one Raft connection per ordered pair of stores');
  t.same(r.resources.listenersPerStore, { a: 3, b: 3, c: 3 }, 'Raft, client and admin listeners per store');
  t.equal(r.resources.clientConnections, 3, 'the client holds one connection per store');
  t.ok(Object.values(r.rssMb).every((mb) => mb > 0), 'RSS measured for every store');
  t.same(Object.keys(r.rssMbSettled), ['a', 'b', 'c'], 'and again after the load settled');
  t.ok(Object.values(r.rssMbSettled).every((mb) => mb > 0), 'a figure for each');
  t.equal(Object.keys(r.idle.cpuMsPerS).length, 3, 'idle CPU measured for every store');
  t.same(Object.keys(r.idleSettled.cpuMsPerS), ['a', 'b', 'c'], 'and again in the settle period');
  t.ok(Object.values(r.idleSettled.cpuMsPerS).every((ms) => ms >= 0) && r.idleSettled.totalCpuMsPerS >= 0 && r.idleSettled.seconds === 0.5, 'over its second half');
  t.equal(r.writePath.busyShards, 6, 'every shard committed in the write path');
  t.ok(Object.values(r.writePath.syncsPerCommit).every((x) => x !== null && x > 0), 'log syncs counted per commit on every store');
  t.ok(r.failover.affectedShards > 0, 'the killed store led some shards');
  t.equal(r.failover.recovered, r.failover.affectedShards, 'every affected shard granted again');
  t.equal(r.failover.doubleGrants, 0, 'no double grant');
  t.equal(r.catchUp.groups, 6, 'the restarted store caught up on every group');
  const pids = [...stderr.matchAll(/store pids ([^)]+)\)/g)].flatMap((m) => [...m[1]!.matchAll(/=(\d+)/g)].map((x) => Number(x[1])));
  t.equal(pids.length, 3, 'the progress names the three store pids');
  pids.push(...[...stderr.matchAll(/restarted pid (\d+)/g)].map((m) => Number(m[1])));
  t.equal(pids.length, 4, 'and the restarted one');
  t.notOk(pids.some(isAlive), 'no store survives the bench');
});
