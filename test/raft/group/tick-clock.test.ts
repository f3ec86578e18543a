// Proves TickClock (raft/group/tick-clock.ts), the tick accounting a stand-alone group and
// a RaftHost share, on an injected clock: an on-time firing is one heartbeat interval of
// ticks; a late one makes up the whole ticks real time says are due, at most
// catchUpFiringsMax firings' worth; a long stall is not owed beyond the next firing; restart() starts
// counting afresh (a host ticker stopped while every group was quiesced).

import t from 'tap';
import { TickClock } from '../../../raft/group/tick-clock.js';

t.test('ticks due per firing', async (t) => {
  const c = new TickClock(10, 2, 3, 0);
  t.equal(c.firingMs, 20);
  t.equal(c.due(20), 2, 'on time: one interval');
  t.equal(c.due(40), 2);
  t.equal(c.due(75), 3, 'fired 15 ms late: the whole late tick is made up');
  t.equal(c.due(1000), 6, 'a long stall: at most three firings at once');
  t.equal(c.due(1020), 5, 'the next firing makes up at most a tick of the stall more');
  t.equal(c.due(1040), 2, 'then the stall is no longer owed');
  c.restart(5000);
  t.equal(c.due(5020), 2, 'restarted: no debt from the stopped time');
  t.throws(() => new TickClock(0, 2, 3, 0), /bad tick clock/);
});
