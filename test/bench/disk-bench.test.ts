// `bench disk` end to end, small: it writes through the store's shared log for real, so
// its counts say what the store's write path does. A synced case takes one fsync per batch
// and an unsynced one none; 100 groups saving in one turn take ONE LevelDB write and one
// fsync between them (the store's batched durability). No time is judged.
import t from 'tap';
import { runBenchCli } from './bench-process.js';

type Row = { case: string; groups: number; entriesPerBatch: number; sync: boolean; batches: number; writes: number; syncs: number; cpuUsPerBatch: number };

t.test('bench disk --json counts the shared log\'s writes and fsyncs per case', async (t) => {
  const { code, stdout, stderr } = await runBenchCli(t, ['disk', '--json', '--writes', '20']);
  t.equal(code, 0, `bench exits 0 (stderr: ${stderr.slice(-2000)})`);
  const r = JSON.parse(stdout.trim()) as { bench: string; fsyncCpuUs: number; results: Row[] };
  t.equal(r.bench, 'disk');
  t.same(r.results.map((x) => [x.groups, x.entriesPerBatch, x.sync]), [[1, 1, true], [1, 1, false], [1, 30, true], [100, 100, true]], 'the four cases, in order');
  for (const row of r.results) {
    t.ok(row.batches > 0, `${row.case}: batches written`);
    t.equal(row.writes, row.batches, `${row.case}: one LevelDB write per batch, whatever the groups in it`);
    t.equal(row.syncs, row.sync ? row.batches : 0, `${row.case}: ${row.sync ? 'one fsync per batch' : 'no fsync'}`);
    t.ok(row.cpuUsPerBatch > 0, `${row.case}: its CPU is measured`);
  }
  t.equal(typeof r.fsyncCpuUs, 'number', 'the CPU of one fsync is reported');
  const c = (r as unknown as { compacting: { saves: number; writes: number; syncs: number } }).compacting;
  t.equal(c.saves, 400, 'the compacting case: 20 saves per --writes');
  t.ok(c.writes > 0 && c.writes < c.saves, `concurrent writers' saves share writes (${c.writes} for ${c.saves})`);
  t.equal(c.syncs, c.writes, 'every write synced');
});

t.test('bench disk names a --dir that is not a directory', async (t) => {
  const { code, stderr } = await runBenchCli(t, ['disk', '--dir', '/nonexistent/ringfence-disk']);
  t.not(code, 0);
  t.match(stderr, /--dir \/nonexistent\/ringfence-disk is not a directory/);
});
