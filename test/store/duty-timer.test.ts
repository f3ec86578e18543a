// The one leader-duty timer of a store (shards/node/duty-timer.ts): armed only while some
// replica leads, runs every leading replica's duties when they are due (each run says
// when that is, within [period, idleMax]), runs a nudged replica's within a period, and
// is disarmed when the last one stops leading.
import t, { type Test } from 'tap';
import { LeaderDutyTimer } from '../../shards/node/duty-timer.js';
import { until as untilProbe } from '../support/until.js';

/** A timer whose every replica key stops leading when the test ends, pass or fail. */
function dutyTimer(t: Test, ...args: ConstructorParameters<typeof LeaderDutyTimer>): { timer: LeaderDutyTimer; key: () => object } {
  const timer = new LeaderDutyTimer(...args);
  const keys: object[] = [];
  t.teardown(() => {
    for (const k of keys) timer.stop(k);
  });
  return { timer, key: () => (keys.push({}), keys[keys.length - 1]!) };
}

/** Waits (bounded) until `cond` holds, looking every 5 ms. */
const until = (what: string, cond: () => boolean, timeoutMs = 10_000): Promise<true> => untilProbe(what, async () => (cond() ? true : null), timeoutMs, 5);

t.test('one interval for every leading replica', async (t) => {
  const { timer, key } = dutyTimer(t, 5);
  const a = key();
  const b = key();
  const runs = { a: 0, b: 0 };
  t.notOk(timer.armed, 'not armed before anything leads');
  timer.start(a, () => (runs.a++, 0));
  timer.start(b, () => (runs.b++, 0));
  t.equal(timer.leading, 2);
  await until('both replicas to run three times', () => runs.a >= 3 && runs.b >= 3);
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

t.test('a replica with nothing due is not woken each period; a nudge wakes it within one', async (t) => {
  const { timer, key } = dutyTimer(t, 5, 60_000);
  const quiet = key();
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
  const { timer, key } = dutyTimer(t, 5, 20);
  const eager = key();
  const sleepy = key();
  const runs = { eager: 0, sleepy: 0 };
  timer.start(eager, () => (runs.eager++, -1));
  timer.start(sleepy, () => (runs.sleepy++, Number.POSITIVE_INFINITY));
  await until('the sleepy replica to run three times (its longest sleep is 20 ms)', () => runs.sleepy >= 3);
  t.ok(runs.eager >= runs.sleepy, `the eager one ran at least as often (${runs.eager} against ${runs.sleepy})`);
  t.throws(() => new LeaderDutyTimer(10, 5), /no shorter than the period/);
});

t.test('replicas with nothing due wake together, whenever each began', async (t) => {
  const { timer, key } = dutyTimer(t, 5, 40);
  const a = key();
  const b = key();
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
