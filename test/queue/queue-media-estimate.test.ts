// The estimated wait a queued caller is told (sip/node/queue-media.ts): position × the mean
// interval between the departures this node saw from the service's queue, and how it is
// spoken with the shipped prompts. Pure: times are passed in.

import t from 'tap';
import { DepartureTracker, promptNames, spokenWait } from '../../sip/node/queue-media.js';

t.test('departures: counted as entries that left between two looks; no estimate before two', async (t) => {
  const d = new DepartureTracker();
  d.observe('5000', ['a', 'b', 'c'], 0);
  t.equal(d.meanIntervalMs('5000'), null, 'nothing left yet');
  d.observe('5000', ['b', 'c', 'd'], 30_000);
  t.equal(d.meanIntervalMs('5000'), null, 'one departure gives no interval');
  d.observe('5000', ['c', 'd'], 90_000);
  t.equal(d.meanIntervalMs('5000'), 60_000, 'two departures 60 s apart');
  d.observe('5000', ['d', 'e'], 120_000);
  t.equal(d.meanIntervalMs('5000'), 45_000, 'three over 90 s');
  t.equal(d.meanIntervalMs('6000'), null, 'per service');
  d.observe('6000', ['x', 'y'], 0);
  d.observe('6000', [], 10_000);
  t.equal(d.meanIntervalMs('6000'), null, 'two leaving in one look: no time between them is known');
  for (let i = 1; i <= 40; i++) d.observe('5000', [`n${i}`], 120_000 + i * 1000);
  t.equal(d.meanIntervalMs('5000'), 1000, 'only the recent departures count');
});

t.test('spoken: under a minute, else whole minutes rounded up, at most 20', async (t) => {
  t.same(spokenWait(59_999), [promptNames.lessThanAMinute]);
  t.same(spokenWait(60_000), ['1', promptNames.minute]);
  t.same(spokenWait(61_000), ['2', promptNames.minutes]);
  t.same(spokenWait(3_600_000), ['20', promptNames.minutes]);
});
