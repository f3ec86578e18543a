// ReservationMeter, fed change-feed pages by hand: only `reserve` records count, records at
// or below the baseline or already counted (a page repeated after the follower moved to
// another replica) are skipped, a truncated page counts nothing, and the rate is the
// reserves in the last window divided by its span.
import t from 'tap';
import { ReservationMeter } from '../../../cluster/dashboard/reservation-meter.js';
import type { ChangeRecord } from '../../../shards/types.js';

const rec = (index: number, kind: ChangeRecord['kind'], dn = '1001'): ChangeRecord => ({ index, dn, kind, agent: null });

t.test('counts reserve records once', async (t) => {
  const m = new ReservationMeter();
  m.baseline('s1', 10);
  m.onPage('s1', { changes: [rec(9, 'reserve'), rec(10, 'reserve'), rec(11, 'reserve'), rec(12, 'confirm'), rec(13, 'ready')], truncated: false, index: 13 });
  t.equal(m.total, 1, 'only index 11: 9 and 10 predate the baseline, confirm/ready are not reserves');
  m.onPage('s1', { changes: [rec(11, 'reserve'), rec(14, 'reserve')], truncated: false, index: 14 });
  t.equal(m.total, 2, 'a repeated record is not counted twice');
  m.onPage('s2', { changes: [rec(3, 'reserve')], truncated: false, index: 3 });
  t.equal(m.total, 3, 'shards have their own indexes');
  m.onPage('s1', { changes: [rec(40, 'reserve')], truncated: true, index: 40 });
  t.equal(m.total, 3, 'a truncated page counts nothing');
  m.onPage('s1', { changes: [rec(40, 'reserve'), rec(41, 'reserve')], truncated: false, index: 41 });
  t.equal(m.total, 4, 'after truncation counting resumes past the page index');
});

t.test('rate over the window', async (t) => {
  const m = new ReservationMeter();
  m.baseline('s1', 0);
  t.equal(m.sample(0).perSecond, 0, 'one sample: no span yet');
  let i = 1;
  for (let s = 1; s <= 10; s++) {
    m.onPage('s1', { changes: [rec(i++, 'reserve'), rec(i++, 'reserve')], truncated: false, index: i - 1 });
    const r = m.sample(s * 1000);
    t.equal(r.perSecond, 2, `second ${s}: 2/s`);
  }
  for (let s = 11; s <= 20; s++) m.sample(s * 1000);
  t.equal(m.sample(21_000).perSecond, 0, 'idle for longer than the window: 0/s');
  t.equal(m.total, 20);
  t.ok(m.history.length <= 120 && m.history.length === 22, 'one history point per sample');
});
