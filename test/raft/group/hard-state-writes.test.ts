// Which hard states a group writes with a Ready and which wait for a ticker firing
// (raft/group/hard-state-writes.ts): term and vote changes at once, commit-only ones held.
import t from 'tap';
import { HardStateWrites } from '../../../raft/group/hard-state-writes.js';

const hs = (term: number, vote: string | null, commit: number) => ({ term, vote, commit });

t.test('a term or vote change is written with its Ready; a commit-only change is held', (t) => {
  const w = new HardStateWrites(hs(1, 'a', 0), 4);
  t.same(w.forSave(hs(1, 'a', 5), 1), null, 'commit moved alone: not with the entries');
  t.ok(w.holding);
  const vote = hs(2, 'b', 5);
  t.same(w.forSave(vote, 0), vote, 'a new term and vote: written now');
  t.notOk(w.holding, 'and it carries the held commit with it');
  w.written(vote);
  t.equal(w.durableTerm, 2);
  t.same(w.forSave(hs(2, 'b', 6), 0), null, 'commit-only again under the new term');
  t.same(w.forSave(hs(2, 'c', 6), 0), hs(2, 'c', 6), 'a vote that differs from the durable one is written');
  t.same(w.forSave(null, 3), null, 'no hard state in the Ready: nothing to write');
  t.end();
});

t.test('held while entries keep coming, up to firingsMax firings; at once after a quiet firing', (t) => {
  const w = new HardStateWrites(hs(1, 'a', 0), 4);
  let commit = 0;
  const busyFiring = (): ReturnType<HardStateWrites['atFiring']> => {
    w.forSave(hs(1, 'a', ++commit), 1);
    return w.atFiring();
  };
  t.same([busyFiring(), busyFiring(), busyFiring()], [null, null, null], 'busy: held for three firings');
  t.same(busyFiring(), hs(1, 'a', 4), 'the fourth writes the newest commit');
  t.notOk(w.holding);
  t.same(busyFiring(), null, 'the count starts again');
  t.same(w.atFiring(), hs(1, 'a', 5), 'a firing with no entries since the last writes it at once');
  t.same(w.atFiring(), null, 'nothing held, nothing written');
  t.end();
});

t.test('take() hands over what is held whatever the cadence (close)', (t) => {
  const w = new HardStateWrites(hs(3, null, 10), 32);
  w.forSave(hs(3, null, 11), 1);
  t.same(w.take(), hs(3, null, 11));
  t.same(w.take(), null);
  t.end();
});
