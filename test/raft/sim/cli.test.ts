// Proves the sim command line as a user runs it (node --import tsx raft/sim/cli.ts):
// it ends with the JSON summary line, forked workers give the same totals as a single
// process (runs are deterministic wherever they execute), an unknown bug name is a usage
// error, and exit codes follow the rule (violations fail the run unless --bug is set);
// --groups fixes the groups per store, and a store-driver bug is caught and replayable.
// Runs are short (--steps) to keep this quick; every child is killed in teardown.

import t from 'tap';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const cli = fileURLToPath(new URL('../../../raft/sim/cli.ts', import.meta.url));
const children = new Set<ChildProcess>();
t.teardown(() => {
  for (const c of children) c.kill('SIGKILL');
});

function sim(args: string[]): Promise<{ code: number | null; lines: string[]; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', cli, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    let out = '';
    let err = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => {
      children.delete(child);
      resolve({ code, lines: out.trim().split('\n'), stderr: err });
    });
  });
}

type Summary = { seeds: number; violations: number; firstFailingSeed: number | null; elections: number; commits: number };

t.test('summary line, and workers agree with one process', async (t) => {
  const one = await sim(['--seeds', '24', '--steps', '150', '--groups', '2', '--workers', '1']);
  const two = await sim(['--seeds', '24', '--steps', '150', '--groups', '2', '--workers', '2']);
  t.equal(one.code, 0, one.stderr);
  t.equal(two.code, 0, two.stderr);
  const a = JSON.parse(one.lines.at(-1)!) as Summary;
  const b = JSON.parse(two.lines.at(-1)!) as Summary;
  t.match(a, { seeds: 24, violations: 0, firstFailingSeed: null });
  t.ok(a.elections > 0 && a.commits > 0);
  t.same([b.elections, b.commits, b.violations], [a.elections, a.commits, a.violations]);
});

t.test('an unknown bug is a usage error', async (t) => {
  const r = await sim(['--seeds', '1', '--bug', 'no-such-bug']);
  t.equal(r.code, 2);
  t.match(r.stderr, /unknown bug/);
});

t.test('with --bug, violations are reported with a replay hint and exit 0', async (t) => {
  const r = await sim(['--seeds', '12', '--seed', '1', '--groups', '1', '--bug', 'no-truncate-on-conflict', '--workers', '1']);
  t.equal(r.code, 0, r.stderr);
  const s = JSON.parse(r.lines.at(-1)!) as Summary;
  t.ok(s.violations > 0, 'the bug was caught');
  t.ok(r.lines.some((l) => l.includes(`seed ${s.firstFailingSeed}:`)), 'the failing seed is named');
  t.ok(r.lines.some((l) => l.includes(`--seed ${s.firstFailingSeed} --seeds 1 --verbose --bug no-truncate-on-conflict`)), 'with a replay command');
});

t.test('--groups fixes the groups per store; a store-driver bug is caught and its replay names both', async (t) => {
  const r = await sim(['--seeds', '2', '--seed', '1', '--groups', '8', '--bug', 'no-wake-on-leader-store-loss', '--workers', '1']);
  t.equal(r.code, 0, r.stderr);
  const s = JSON.parse(r.lines.at(-1)!) as Summary & { multiGroupSeeds: number; quiesces: number };
  t.ok(s.violations > 0, 'the bug was caught');
  t.equal(s.multiGroupSeeds, 2, 'both seeds ran 8 groups');
  t.ok(s.quiesces > 0, 'groups quiesced');
  t.ok(r.lines.some((l) => l.includes('--bug no-wake-on-leader-store-loss --groups 8')), 'the replay command names the bug and the groups');
  const bad = await sim(['--seeds', '1', '--groups', '0']);
  t.equal(bad.code, 2);
  t.match(bad.stderr, /--groups needs an integer/);
});
