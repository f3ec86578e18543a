// Proves follower progress flow control: probe sends one append at a time, replicate
// pipelines up to the window, stale rejections are ignored, hints move `next` back by
// whole terms, and snapshot state pauses appends until the snapshot is acknowledged.
import t from 'tap';
import { Progress } from '../../../raft/core/progress.js';

t.test('probe: one append in flight, then wait', async (t) => {
  const pr = new Progress(6, 4);
  t.notOk(pr.paused());
  pr.sentEntries(1, 6, 10);
  t.ok(pr.paused(), 'probe pauses after a send');
  t.equal(pr.next, 6, 'probe does not advance next optimistically');
  t.ok(pr.maybeUpdate(6));
  t.notOk(pr.paused(), 'an ack unpauses');
  t.notOk(pr.maybeUpdate(6), 'a duplicate ack brings nothing');
});

t.test('replicate: optimistic next, bounded by the window', async (t) => {
  const pr = new Progress(1, 2);
  pr.match = 3;
  pr.becomeReplicate();
  t.equal(pr.next, 4);
  pr.sentEntries(2, 5, 10);
  pr.sentEntries(1, 6, 10);
  t.equal(pr.next, 7);
  t.ok(pr.paused(), 'window of 2 full');
  pr.maybeUpdate(5);
  pr.inflights.freeLE(5);
  t.notOk(pr.paused());
  t.notOk(pr.maybeDecrTo(4, 0), 'a rejection at or below match is stale');
  t.ok(pr.maybeDecrTo(6, 0));
  t.equal(pr.next, 6, 'replicate falls back to match+1');
});

t.test('probe rejections: stale ones ignored, hints jump back', async (t) => {
  const pr = new Progress(11, 4);
  t.notOk(pr.maybeDecrTo(5, 3), 'answers an older probe (next-1 != 5)');
  t.ok(pr.maybeDecrTo(10, 4));
  t.equal(pr.next, 5, 'next = hint + 1');
  t.ok(pr.maybeDecrTo(4, 8));
  t.equal(pr.next, 4, 'never beyond the rejected index');
  pr.match = 2;
  t.ok(pr.maybeDecrTo(3, 0));
  t.equal(pr.next, 3, 'never at or below match');
});

t.test('snapshot state pauses appends and resumes after the snapshot', async (t) => {
  const pr = new Progress(3, 4);
  pr.becomeSnapshot(50);
  t.ok(pr.paused());
  t.throws(() => pr.sentEntries(1, 3, 1), /snapshot state/);
  pr.becomeProbe();
  t.equal(pr.next, 51, 'after the snapshot index');
});
