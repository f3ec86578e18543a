// Smoke test of `bench failover` end to end: the CLI starts a 3-replica shard as real
// processes (and 3-member etcd clusters when etcd is installed), kills the leader twice
// per target under reservation load, and prints one final JSON line with a result per
// target. Proves every kill was followed by a committed write (finite gaps, no round
// without a write), that the client saw no double grant, that the gap statistics are
// ordered, and that no replica or etcd member outlives the bench. No wall-clock thresholds.
// Also: the phase split read from the replicas' role logs (failoverPhases) on a fixed log.
import t from 'tap';
import { benchSmokeSkip, isAlive, runBenchCli } from './bench-process.js';
import { etcdBinary } from '../../bench/etcd-cluster.js';
import { failoverPhases } from '../../bench/failover-timeline.js';
import type { FailoverRow } from '../../bench/failover.js';

t.test('bench failover --json --kills 2 reports finite gaps and no double grant per target', { skip: benchSmokeSkip }, async (t) => {
  const { code, stdout, stderr } = await runBenchCli(t, ['failover', '--json', '--kills', '2', '--agents', '100', '--steady-ms', '500']);
  t.equal(code, 0, `bench exits 0 (stderr: ${stderr.slice(-2000)})`);

  const lines = stdout.trim().split('\n');
  t.equal(lines.length, 1, 'with --json stdout holds only the JSON line');
  const report = JSON.parse(lines[0]!) as { bench: string; results: FailoverRow[] };
  t.equal(report.bench, 'failover');
  const targets = etcdBinary() ? ['ringfence', 'etcd', 'etcd-fast'] : ['ringfence'];
  t.same(report.results.map((r) => r.target), targets, 'one result per target, in order');
  for (const r of report.results) {
    t.equal(r.kills, 2, `${r.target}: two kills`);
    t.equal(r.noWriteRounds, 0, `${r.target}: a write committed after every kill`);
    for (const k of ['gapMsMin', 'gapMsMedian', 'gapMsP99', 'gapMsMax'] as const) {
      t.ok(Number.isFinite(r[k]) && r[k] > 0, `${r.target}: ${k} is a positive finite number (${r[k]})`);
    }
    t.ok(r.gapMsMin <= r.gapMsMedian && r.gapMsMedian <= r.gapMsP99 && r.gapMsP99 <= r.gapMsMax, `${r.target}: gap statistics are ordered`);
    t.equal(r.doubleGrants, 0, `${r.target}: no double grant`);
    t.ok(r.granted > 0, `${r.target}: the load reserved agents`);
  }
  t.match(stderr, /ringfence kill 1\/2: leader s1-\w .*SIGKILLed → first commit after \d+ ms/, 'progress line per kill');
  t.match(stderr, /ringfence kill 2\/2:/);

  const pids = [
    ...[...stderr.matchAll(/pids ([\d, ]+)\)/g)].flatMap((m) => m[1]!.split(', ').map(Number)),
    ...[...stderr.matchAll(/restarted \(pid (\d+)\)/g)].map((m) => Number(m[1])),
  ];
  t.equal(pids.length, targets.length * 3 + 2, 'the progress names every process started');
  t.notOk(pids.some(isAlive), 'no replica or etcd member survives the bench');
});

t.test('failoverPhases splits a failover into campaign and election from the role logs', async (t) => {
  const kill = Date.parse('2026-01-01T00:00:00.000Z');
  const at = (ms: number): string => new Date(kill + ms).toISOString();
  const line = (ms: number, replica: string, role: string, term?: number): string =>
    `[${replica} stderr] ` + JSON.stringify({ t: at(ms), level: 'info', msg: 'raft role', replica, role, leader: null, ...(term === undefined ? {} : { term }) });
  const log = [
    line(-500, 's1-b', 'leader', 3), // before the kill: ignored
    line(5, 's1-a', 'follower', 3), // the killed replica's own lines are ignored
    line(180, 's1-b', 'preCandidate'), // the Raft group's line without a term: ignored
    line(180, 's1-b', 'preCandidate', 3),
    line(190, 's1-c', 'preCandidate', 3),
    line(200, 's1-b', 'candidate', 4),
    line(205, 's1-c', 'candidate', 4), // both stood in term 4: a split vote
    '{"t":"torn',
    line(420, 's1-c', 'preCandidate', 4),
    line(430, 's1-c', 'candidate', 5),
    line(470, 's1-c', 'leader', 5),
    line(900, 's1-b', 'candidate', 6), // after the win: not part of this failover
  ].join('\n');
  t.same(failoverPhases(log, kill, 's1-a'), { campaignMs: 180, leaderMs: 470, newLeader: 's1-c', term: 5, elections: 2, preVotes: 3 });
  t.same(failoverPhases('', kill, 's1-a'), { campaignMs: null, leaderMs: null, newLeader: null, term: null, elections: 0, preVotes: 0 }, 'no role lines: nothing known');
});
