// The one leader-duty timer of a store (shards/node/duty-timer.ts): armed only while some
// replica leads, runs every leading replica's duties each period, disarmed when the last
// one stops leading.
import t from 'tap';
import { LeaderDutyTimer } from '../../shards/node/duty-timer.js';

t.test('one interval for every leading replica', async (t) => {
  const timer = new LeaderDutyTimer(5);
  t.teardown(() => {
    timer.stop(a);
    timer.stop(b);
  });
  const a = {};
  const b = {};
  const runs = { a: 0, b: 0 };
  t.notOk(timer.armed, 'not armed before anything leads');
  timer.start(a, () => runs.a++);
  timer.start(b, () => runs.b++);
  t.equal(timer.leading, 2);
  await new Promise<void>((resolve) => {
    const check = setInterval(() => {
      if (runs.a >= 3 && runs.b >= 3) {
        clearInterval(check);
        resolve();
      }
    }, 5);
  });
  t.ok(Math.abs(runs.a - runs.b) <= 1, 'both replicas run on the same firings');
  timer.stop(a);
  t.ok(timer.armed, 'still armed while b leads');
  const before = runs.a;
  await new Promise((r) => setTimeout(r, 30));
  t.equal(runs.a, before, 'a stopped leading: its duties no longer run');
  timer.stop(b);
  t.notOk(timer.armed, 'disarmed when nothing leads');
  t.throws(() => new LeaderDutyTimer(0), /positive/);
});
