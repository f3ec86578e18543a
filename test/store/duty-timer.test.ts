// The one leader-duty timer of a store (shards/node/duty-timer.ts): armed only while some
// replica leads, runs every leading replica's duties when they are due (each run says
// when that is, within [period, idleMax]), runs a nudged replica's within a period, and
// is disarmed when the last one stops leading.
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
  timer.start(a, () => (runs.a++, 0));
  timer.start(b, () => (runs.b++, 0));
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

/** Waits (bounded) until `cond` holds. */
async function until(what: string, cond: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

t.test('a replica with nothing due is not woken each period; a nudge wakes it within one', async (t) => {
  const timer = new LeaderDutyTimer(5, 60_000);
  const quiet = {};
  t.teardown(() => timer.stop(quiet));
  let runs = 0;
  timer.start(quiet, () => {
    runs++;
    return Number.POSITIVE_INFINITY;
  });
  await until('the first run, at start', () => runs === 1);
  await new Promise((r) => setTimeout(r, 100));
  t.equal(runs, 1, 'nothing due: no run in 20 periods');
  t.ok(timer.armed, 'still armed, for its longest sleep');
  timer.nudge(quiet);
  await until('the nudged run', () => runs === 2);
  t.pass('a nudge ran it');
  timer.nudge({});
  t.equal(timer.leading, 1, 'a nudge for a replica that does not lead changes nothing');
});

t.test('a run\'s wish is clamped: never sooner than a period, never later than idleMaxMs', async (t) => {
  const timer = new LeaderDutyTimer(5, 20);
  const eager = {};
  const sleepy = {};
  t.teardown(() => {
    timer.stop(eager);
    timer.stop(sleepy);
  });
  const runs = { eager: 0, sleepy: 0 };
  timer.start(eager, () => (runs.eager++, -1));
  timer.start(sleepy, () => (runs.sleepy++, Number.POSITIVE_INFINITY));
  await until('the sleepy replica to run three times (its longest sleep is 20 ms)', () => runs.sleepy >= 3);
  t.ok(runs.eager >= runs.sleepy, `the eager one ran at least as often (${runs.eager} against ${runs.sleepy})`);
  t.throws(() => new LeaderDutyTimer(10, 5), /no shorter than the period/);
});

t.test('replicas with nothing due wake together, whenever each began', async (t) => {
  const timer = new LeaderDutyTimer(5, 40);
  const a = {};
  const b = {};
  t.teardown(() => {
    timer.stop(a);
    timer.stop(b);
  });
  // Runs made in one synchronous firing share a firing number.
  let firing = 0;
  let inFiring = false;
  const ranIn: Record<'a' | 'b', number[]> = { a: [], b: [] };
  const run = (who: 'a' | 'b') => (): number => {
    if (!inFiring) {
      inFiring = true;
      firing++;
      setImmediate(() => (inFiring = false));
    }
    ranIn[who].push(firing);
    return Number.POSITIVE_INFINITY;
  };
  timer.start(a, run('a'));
  await new Promise((r) => setTimeout(r, 13));
  timer.start(b, run('b'));
  await until('each to run five times', () => ranIn.a.length >= 5 && ranIn.b.length >= 5);
  const apart = [...ranIn.a.slice(1), ...ranIn.b.slice(1)].filter((f) => !(ranIn.a.includes(f) && ranIn.b.includes(f)));
  t.ok(apart.length <= 2, `after their first runs they shared firings (runs apart: ${apart.length}; a ${ranIn.a.join(',')}; b ${ranIn.b.join(',')})`);
});
