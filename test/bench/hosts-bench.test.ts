// `bench hosts` end to end, small: three RaftHosts in one process on the real shared log.
// Spread over more groups, the same closed loop takes more Readies and messages per
// proposal (each group's Ready carries fewer entries): the per-group price the bench is
// there to show. No time is judged.
import t from 'tap';
import { runBenchCli } from './bench-process.js';

type Row = { groups: number; opsPerSec: number; cpuUsPerOp: number; readiesPerOp: number; messagesPerOp: number };

t.test('bench hosts --json: one row per group count, every proposal counted', async (t) => {
  const { code, stdout, stderr } = await runBenchCli(t, ['hosts', '--json', '--groups', '1,32', '--seconds', '1', '--repeat', '1']);
  t.equal(code, 0, `bench exits 0 (stderr: ${stderr.slice(-2000)})`);
  const r = JSON.parse(stdout.trim()) as { bench: string; storage: string; results: Row[] };
  t.equal(r.bench, 'hosts');
  t.equal(r.storage, 'level', 'the shared LevelDB log by default');
  t.equal((r as { transport?: string }).transport, 'loop', 'the loop hub by default');
  t.same(r.results.map((x) => x.groups), [1, 32]);
  for (const row of r.results) {
    t.ok(row.opsPerSec > 0, `${row.groups} groups: proposals committed`);
    t.ok(row.cpuUsPerOp > 0, `${row.groups} groups: CPU measured`);
    t.ok(row.messagesPerOp > 0, `${row.groups} groups: messages counted`);
  }
  const [one, many] = r.results as [Row, Row];
  t.ok(many.readiesPerOp > one.readiesPerOp, `more Readies per proposal over 32 groups (${many.readiesPerOp}) than over one (${one.readiesPerOp})`);
});

t.test('bench hosts --transport tcp: the three stores talk over loopback TCP', async (t) => {
  const { code, stdout, stderr } = await runBenchCli(t, ['hosts', '--json', '--groups', '4', '--seconds', '1', '--repeat', '1', '--transport', 'tcp', '--storage', 'memory']);
  t.equal(code, 0, `bench exits 0 (stderr: ${stderr.slice(-2000)})`);
  const r = JSON.parse(stdout.trim()) as { transport: string; storage: string; results: Row[] };
  t.equal(r.transport, 'tcp');
  t.equal(r.storage, 'memory');
  t.ok(r.results[0]!.opsPerSec > 0 && r.results[0]!.messagesPerOp > 0, 'proposals committed, messages sent');
});

t.test('bench hosts names a bad flag', async (t) => {
  const groups = await runBenchCli(t, ['hosts', '--groups', '2,0']);
  t.not(groups.code, 0);
  t.match(groups.stderr, /--groups must be a list of integers from 1 to 1000, got 2,0/);
  const storage = await runBenchCli(t, ['hosts', '--storage', 'disk']);
  t.not(storage.code, 0);
  t.match(storage.stderr, /--storage must be level or memory, got disk/);
  const transport = await runBenchCli(t, ['hosts', '--transport', 'udp']);
  t.not(transport.code, 0);
  t.match(transport.stderr, /--transport must be loop or tcp, got udp/);
});
