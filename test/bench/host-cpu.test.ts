// `bench calls` reports, per step, how busy the whole machine was and how much time the
// hypervisor stole: the figures that tell a slow window of a shared VM from a slow build.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { cpuDeltaPerUnit, groupCpuMs, hostBusyMs, hostCpuShare, hostCpuTicks, parseHostCpu } from '../../bench/procs.js';

const stat = (user: number, idle: number, steal: number): string =>
  `cpu  ${user} 10 ${user / 2} ${idle} 5 0 ${user / 10} ${steal} 0 0\ncpu0 1 2 3 4 5 6 7 8 9 10\nintr 1 2 3\n`;

t.test('the aggregate cpu line is read field by field', async (t) => {
  t.same(parseHostCpu(stat(1000, 4000, 30)), { busy: 1000 + 10 + 500 + 0 + 100, idle: 4005, steal: 30 });
  t.equal(parseHostCpu('cpu0 1 2 3 4 5 6 7 8\n'), null, 'only a per-CPU line: no aggregate');
  t.equal(parseHostCpu('cpu  1 2 3\n'), null, 'too few fields');
  t.equal(parseHostCpu('cpu  1 2 x 4 5 6 7 8\n'), null, 'a field that is not a number');
});

t.test('shares between two samples', async (t) => {
  const a = parseHostCpu(stat(1000, 4000, 0));
  const b = parseHostCpu(stat(1600, 4200, 100));
  // busy +600+300+60 = 960, idle +200, steal +100 → total 1260
  t.same(hostCpuShare(a, b), { busyPct: 76.2, stealPct: 7.9 });
  t.equal(hostCpuShare(a, a), null, 'no time passed');
  t.equal(hostCpuShare(null, b), null);
});

t.test('this machine has a readable /proc/stat', async (t) => {
  const a = hostCpuTicks();
  t.ok(a !== null && a.busy > 0 && a.idle > 0, 'busy and idle ticks');
});

t.test('busy milliseconds of the whole machine between two samples', async (t) => {
  const a = parseHostCpu(stat(1000, 4000, 0));
  const b = parseHostCpu(stat(1600, 4200, 100));
  t.equal(hostBusyMs(a, b), 9600, '960 busy ticks at 100 per second');
  t.equal(hostBusyMs(b, a), null, 'a counter that went backwards is no measurement');
  t.equal(hostBusyMs(null, b), null);
});

t.test('CPU per call of process groups', async (t) => {
  t.same(cpuDeltaPerUnit({ replicas: 1000, sipNode: 200, phones: 50 }, { replicas: 4000, sipNode: 2100, phones: 50 }, 1500), { replicas: 2, sipNode: 1.27, phones: 0 });
  t.same(cpuDeltaPerUnit({ replicas: 1000, sipNode: null }, { replicas: null, sipNode: 300, phones: 10 }, 100), {}, 'a group unread at either end, or new, is left out');
  t.same(cpuDeltaPerUnit({ a: 10 }, { a: 20 }, 0), {}, 'no calls: nothing per call');

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
