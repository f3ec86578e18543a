// `bench calls` reports, per step, how busy the whole machine was and how much time the
// hypervisor stole: the figures that tell a slow window of a shared VM from a slow build.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { deltaPerUnit, groupCpuMs, hostBusyMs, hostCpuShare, hostCpuTicks, parseHostCpu, reapedChildrenCpuMs, type HostCpuSample } from '../../bench/procs.js';

const stat = (user: number, idle: number, steal: number): string =>
  `cpu  ${user} 10 ${user / 2} ${idle} 5 0 ${user / 10} ${steal} 0 0\ncpu0 1 2 3 4 5 6 7 8 9 10\ncpu1 1 2 3 4 5 6 7 8 9 10\nintr 1 2 3\n`;
const sample = (text: string, atMs: number): HostCpuSample | null => {
  const ticks = parseHostCpu(text);
  return ticks === null ? null : { ...ticks, atMs };
};

t.test('the aggregate cpu line is read field by field', async (t) => {
  t.same(parseHostCpu(stat(1000, 4000, 30)), { busy: 1000 + 10 + 500 + 0 + 100, idle: 4005, steal: 30, cpus: 2 });
  t.equal(parseHostCpu('cpu0 1 2 3 4 5 6 7 8\n'), null, 'only a per-CPU line: no aggregate');
  t.equal(parseHostCpu('cpu  1 2 3 4 5 6 7 8\n'), null, 'no per-CPU line: the CPU count is unknown');
  t.equal(parseHostCpu('cpu  1 2 3\ncpu0 1 2 3\n'), null, 'too few fields');
  t.equal(parseHostCpu('cpu  1 2 x 4 5 6 7 8\ncpu0 1 2 3\n'), null, 'a field that is not a number');
});

t.test('shares between two samples', async (t) => {
  // 6.3 s on 2 CPUs = 1260 ticks: busy +600+300+60 = 960, idle +200, steal +100.
  const a = sample(stat(1000, 4000, 0), 1000);
  const b = sample(stat(1600, 4200, 100), 7300);
  t.same(hostCpuShare(a, b), { busyPct: 76.2, stealPct: 7.9 });
  t.equal(hostCpuShare(a, a), null, 'no time passed');
  t.equal(hostCpuShare(null, b), null);
  // Bursts between ticks: 10 s on 2 CPUs, yet the fields grew by only 30 busy and 1,600
  // idle ticks. Busy is what was neither idle nor stolen: 2,000 - 1,600 = 400 ticks.
  const c = sample(stat(1000, 4000, 0), 0);
  const d = sample(stat(1020, 5600, 0), 10_000);
  t.same(hostCpuShare(c, d), { busyPct: 20, stealPct: 0 }, 'unsampled bursts count as busy');
  t.equal(hostBusyMs(c, d), 4000);
  // Ticks that add up to more than the elapsed time (samples read late) never give more
  // than 100%, and never less than the sampled busy time.
  const e = sample(stat(1000, 4000, 0), 0);
  const f = sample(stat(2000, 4300, 0), 5000);
  t.same(hostCpuShare(e, f), { busyPct: 100, stealPct: 0 });
});

t.test('this machine has a readable /proc/stat', async (t) => {
  const a = hostCpuTicks();
  t.ok(a !== null && a.busy > 0 && a.idle > 0, 'busy and idle ticks');
});

t.test('busy milliseconds of the whole machine between two samples', async (t) => {
  const a = sample(stat(1000, 4000, 0), 1000);
  const b = sample(stat(1600, 4200, 100), 7300);
  t.equal(hostBusyMs(a, b), 9600, '960 busy ticks at 100 per second');
  t.equal(hostBusyMs(b, a), null, 'samples in the wrong order are no measurement');
  t.equal(hostBusyMs(null, b), null);
});

t.test('on this machine, the host is at least as busy as a process spinning on it', async (t) => {
  const a = hostCpuTicks();
  const start = process.cpuUsage();
  let x = 0;
  while (process.cpuUsage(start).user < 300_000) x += Math.sqrt(x + 1);
  const b = hostCpuTicks();
  t.ok(x > 0);
  const busy = hostBusyMs(a, b);
  t.ok(busy !== null && busy >= 250, `300 ms of this process's CPU, host busy ${busy} ms`);
});

t.test('CPU per call of process groups', async (t) => {
  t.same(deltaPerUnit({ replicas: 1000, sipNode: 200, phones: 50 }, { replicas: 4000, sipNode: 2100, phones: 50 }, 1500), { replicas: 2, sipNode: 1.27, phones: 0 });
  t.same(deltaPerUnit({ replicas: 1000, sipNode: null }, { replicas: null, sipNode: 300, phones: 10 }, 100), {}, 'a group unread at either end, or new, is left out');
  t.same(deltaPerUnit({ a: 10 }, { a: 20 }, 0), {}, 'no calls: nothing per call');

  // A real process: this one, whose CPU only grows, and a pid that has exited.
  const gone = spawnSync(process.execPath, ['-e', '0']).pid!;
  const before = groupCpuMs({ self: [process.pid], dead: [process.pid, gone] });
  t.equal(before.dead, null, 'a group with an exited process is unread');
  // Spin for 200 ms of this process's own CPU time (not wall time: the machine is shared).
  let x = 0;
  const start = process.cpuUsage();
  while (process.cpuUsage(start).user < 200_000) x += Math.sqrt(x + 1);
  const after = groupCpuMs({ self: [process.pid] });
  t.ok(x > 0);
  t.ok(after.self! - before.self! >= 180, `200 ms of spinning shows in /proc (${after.self! - before.self!} ms, 10 ms ticks)`);
});

// The caller SIPp exits at the end of each step, before the step's second reading of
// /proc/<pid>/stat; its time is read from this process's reaped children instead.
t.test('a child that has exited is still accounted once reaped', async (t) => {
  const before = reapedChildrenCpuMs();
  t.ok(before !== null && before >= 0);
  const child = spawnSync(process.execPath, ['-e', 'const s = process.cpuUsage(); let x = 0; while (process.cpuUsage(s).user < 250_000) x += Math.sqrt(x + 1); if (!(x > 0)) process.exit(1)']);
  t.equal(child.status, 0);
  const after = reapedChildrenCpuMs()!;
  t.ok(after - before! >= 230, `the child's 250 ms of spinning shows (${after - before!} ms, 10 ms ticks)`);
});
