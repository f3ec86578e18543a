// Proves the history checker on hand-made histories: correct histories (sequential,
// release invoked before the other grant's ok, uncertain grants, unseen TTL expiry within
// the clock-skew allowance, releaseByOwner) pass; double grants, an expired-looking but
// confirmed reservation, a lost acknowledged change, leaks, phantom grants and malformed
// histories fail with the right violation kind. Times are test-clock milliseconds.

import t from 'tap';
import { checkHistory, HistoryRecorder, type FinalAgent, type HistoryEvent, type HistoryOpName } from './history.js';

type Fields = Partial<Pick<HistoryEvent, 'dn' | 'reservationId' | 'owner' | 'ttlMs' | 'state'>>;

/** An operation as two events: invoke at `from`, completion `type` at `to`. */
function op(process: string, name: HistoryOpName, from: number, to: number, type: 'ok' | 'fail' | 'info', fields: Fields = {}): HistoryEvent[] {
  const { state, ...rest } = fields;
  return [
    { process, type: 'invoke', op: name, timeMs: from, ...rest },
    { process, type, op: name, timeMs: to, ...rest, ...(state ? { state } : {}) },
  ];
}

/** Events sorted by time, as a recorder with one clock produces them. */
function history(...ops: HistoryEvent[][]): HistoryEvent[] {
  return ops.flat().sort((a, b) => a.timeMs - b.timeMs);
}

const reserve = (p: string, id: string, from: number, to: number, type: 'ok' | 'fail' | 'info' = 'ok', extra: Fields = {}) =>
  op(p, 'reserve', from, to, type, { dn: '100', reservationId: id, owner: 'sip1', ttlMs: 60_000, state: 'RESERVED', ...extra });
const release = (p: string, id: string, from: number, to: number, type: 'ok' | 'fail' | 'info' = 'ok') =>
  op(p, 'release', from, to, type, { dn: '100', reservationId: id, state: 'READY' });
const kinds = (events: HistoryEvent[], options = {}) => checkHistory(events, options).violations.map((v) => v.kind);
const ready: FinalAgent[] = [{ dn: '100', state: 'READY' }];

t.test('correct histories pass', async (t) => {
  const sequential = history(reserve('a', 'r1', 0, 1), release('a', 'r1', 2, 3), reserve('b', 'r2', 4, 5), release('b', 'r2', 6, 7));
  const report = checkHistory(sequential, { finalAgents: ready });
  t.same(report.violations, []);
  t.match(report.counts, { grantsAcknowledged: 2, finalStatesChecked: 1, operations: 4 });

  // B's grant was acknowledged after A's release was invoked: the release may have taken
  // effect first, so nothing proves an overlap.
  t.same(kinds(history(reserve('a', 'r1', 0, 1), reserve('b', 'r2', 3, 6), release('a', 'r1', 5, 7), release('b', 'r2', 8, 9)), { finalAgents: ready }), []);

  // An uncertain grant is maybe-held; it never makes a violation.
  t.same(kinds(history(reserve('a', 'r1', 0, 10, 'info'), reserve('b', 'r2', 2, 3), release('b', 'r2', 4, 5))), []);

  // A failed (denied) reserve held nothing.
  t.same(kinds(history(reserve('a', 'r1', 0, 1), reserve('b', 'r2', 2, 3, 'fail'), release('a', 'r1', 4, 5))), []);

  // A's TTL ran out unseen (the leader expired it) before B was granted.
  const expired = history(reserve('a', 'r1', 0, 1, 'ok', { ttlMs: 1000 }), reserve('b', 'r2', 1500, 1501), release('b', 'r2', 1600, 1601));
  t.same(kinds(expired, { finalAgents: ready, clockSkewMsMax: 100 }), []);

  // The owner's releaseByOwner ended A before B.
  const byOwner = history(reserve('a', 'r1', 0, 1), op('s', 'releaseByOwner', 2, 3, 'ok', { owner: 'sip1' }), reserve('b', 'r2', 4, 5, 'ok', { owner: 'sip2' }));
  t.same(kinds(byOwner), []);
});

t.test('two acknowledged grants held at once are an exclusivity violation', async (t) => {
  const events = history(reserve('a', 'r1', 0, 1), reserve('b', 'r2', 2, 3), release('a', 'r1', 4, 5), release('b', 'r2', 6, 7));
  const report = checkHistory(events);
  t.same(report.violations.map((v) => v.kind), ['exclusivity']);
  t.same(report.violations[0]!.ops.map((o) => o.reservationId), ['r1', 'r2']);
  t.match(report.violations[0]!.message, /r1 and r2 of DN 100 both held during \[3, 4\)/);

  // releaseByOwner of another owner does not end A.
  const other = history(reserve('a', 'r1', 0, 1), op('s', 'releaseByOwner', 2, 3, 'ok', { owner: 'sip9' }), reserve('b', 'r2', 4, 5, 'ok', { owner: 'sip2' }));
  t.same(kinds(other), ['exclusivity']);
  // A never-released grant of the same id granted twice is also two holds.
  t.same(kinds(history(reserve('a', 'r1', 0, 1), reserve('b', 'r1', 2, 3))), ['exclusivity']);
});

t.test('the TTL allowance depends on clock skew and on whether the call was answered', async (t) => {
  const overlap = history(reserve('a', 'r1', 0, 1, 'ok', { ttlMs: 1000 }), reserve('b', 'r2', 900, 901), release('a', 'r1', 2000, 2001));
  t.same(kinds(overlap), ['exclusivity'], 'B granted before A could have expired');
  t.same(kinds(overlap, { clockSkewMsMax: 100 }), [], 'with 100 ms skew A may have expired at 800');

  const unanswered = history(reserve('a', 'r1', 0, 1, 'ok', { ttlMs: 100 }), reserve('b', 'r2', 500, 501), release('a', 'r1', 600, 601));
  t.same(kinds(unanswered), [], 'A may have expired at 100');
  const answered = history(
    reserve('a', 'r1', 0, 1, 'ok', { ttlMs: 100 }),
    op('a2', 'confirm', 2, 3, 'ok', { dn: '100', reservationId: 'r1', state: 'BUSY' }),
    reserve('b', 'r2', 500, 501),
    release('a', 'r1', 600, 601),
  );
  t.same(kinds(answered), ['exclusivity'], 'an answered reservation does not expire');
});

t.test('an acknowledged change missing from the final state is a lost change', async (t) => {
  const events = history(
    op('a', 'login', 0, 1, 'ok', { dn: '100', state: 'NOT_READY' }),
    op('a', 'ready', 2, 3, 'ok', { dn: '100', state: 'READY' }),
  );
  t.same(kinds(events, { finalAgents: ready }), []);
  t.same(kinds(events, { finalAgents: [{ dn: '100', state: 'NOT_READY' }] }), ['lost-change']);
  t.same(kinds(events, { finalAgents: [] }), ['lost-change'], 'a vanished agent lost the change too');

  // WRAP_UP may have turned READY by itself, RESERVED may have expired; BUSY cannot move.
  const wrap = history(op('a', 'release', 0, 1, 'ok', { dn: '100', reservationId: 'r', state: 'WRAP_UP' }));
  t.same(kinds(wrap, { finalAgents: ready }), []);
  const busy = history(op('a', 'confirm', 0, 1, 'ok', { dn: '100', reservationId: 'r', state: 'BUSY' }));
  t.same(kinds(busy, { finalAgents: ready }), ['lost-change']);

  // A later uncertain op, or one concurrent with the last acknowledged one, leaves it undetermined.
  const uncertain = history(...[op('a', 'ready', 0, 1, 'ok', { dn: '100', state: 'READY' }), op('b', 'notReady', 5, 9, 'info', { dn: '100' })]);
  const report = checkHistory(uncertain, { finalAgents: [{ dn: '100', state: 'NOT_READY' }] });
  t.same(report.violations, []);
  t.equal(report.counts.finalStatesUndetermined, 1);
  const concurrent = history(op('a', 'ready', 0, 4, 'ok', { dn: '100', state: 'READY' }), op('b', 'notReady', 1, 3, 'ok', { dn: '100', state: 'NOT_READY' }));
  t.same(kinds(concurrent, { finalAgents: [{ dn: '100', state: 'NOT_READY' }] }), []);
});

t.test('reservations left held are leaks; ones nobody was granted are phantoms', async (t) => {
  const events = history(reserve('a', 'r1', 0, 1), op('a', 'confirm', 2, 3, 'ok', { dn: '100', reservationId: 'r1', state: 'BUSY' }));
  t.same(kinds(events, { finalAgents: [{ dn: '100', state: 'BUSY', reservationId: 'r1' }] }), ['leaked-reservation']);
  t.same(kinds(history(reserve('a', 'r1', 0, 1, 'fail')), { finalAgents: [{ dn: '100', state: 'RESERVED', reservationId: 'r1' }] }), [
    'leaked-reservation',
    'phantom-reservation',
  ]);
});

t.test('malformed histories are reported', async (t) => {
  const orphan: HistoryEvent[] = [{ process: 'a', type: 'ok', op: 'reserve', timeMs: 1, dn: '100' }];
  t.same(kinds(orphan), ['malformed']);
  const twice: HistoryEvent[] = [
    { process: 'a', type: 'invoke', op: 'ready', timeMs: 1, dn: '100' },
    { process: 'a', type: 'invoke', op: 'ready', timeMs: 2, dn: '100' },
  ];
  t.same(kinds(twice), ['malformed']);
  const backwards: HistoryEvent[] = [
    { process: 'a', type: 'invoke', op: 'ready', timeMs: 5, dn: '100' },
    { process: 'a', type: 'ok', op: 'ready', timeMs: 4, dn: '100' },
  ];
  t.same(kinds(backwards), ['malformed']);
});

t.test('the recorder pairs completions with invokes and stamps its clock', async (t) => {
  let now = 10;
  const recorder = new HistoryRecorder(() => now++);
  recorder.invoke('p1', 'reserve', { dn: '100', reservationId: 'r1', owner: 'o', ttlMs: 5 });
  recorder.invoke('p2', 'ready', { dn: '101' });
  recorder.complete('p1', 'ok', 'RESERVED');
  recorder.complete('p2', 'info');
  t.same(recorder.events(), [
    { dn: '100', reservationId: 'r1', owner: 'o', ttlMs: 5, process: 'p1', type: 'invoke', op: 'reserve', timeMs: 10 },
    { dn: '101', process: 'p2', type: 'invoke', op: 'ready', timeMs: 11 },
    { dn: '100', reservationId: 'r1', owner: 'o', ttlMs: 5, process: 'p1', type: 'ok', op: 'reserve', timeMs: 12, state: 'RESERVED' },
    { dn: '101', process: 'p2', type: 'info', op: 'ready', timeMs: 13 },
  ]);
  t.throws(() => recorder.complete('p1', 'ok'), /without an invoke/);
  t.match(checkHistory(recorder.events()).counts, { ok: 1, info: 1, grantsAcknowledged: 1 });
});

t.test('a lease expiry ends the grants of its owner, like releaseByOwner', async (t) => {
  // sip1's lease ran out (the shard leader proposed expireLease) before sip2 was granted
  // the same DN: one grant after the other, not a double booking.
  const leaseEnd = (from: number, fields: Fields = {}) => op('leader', 'expireLease', from, from, 'ok', { owner: 'sip1', ...fields });
  const expired = history(reserve('a', 'r1', 0, 1), leaseEnd(2), reserve('b', 'r2', 4, 5, 'ok', { owner: 'sip2' }), release('b', 'r2', 6, 7));
  t.same(kinds(expired, { finalAgents: ready }), [], 'expireLease of the owner ends its grant');
  t.same(kinds(history(reserve('a', 'r1', 0, 1), leaseEnd(2, { dn: '100' }), reserve('b', 'r2', 4, 5, 'ok', { owner: 'sip2' }))), [], 'also when it names the freed DN');

  // Another owner's lease, or a lease expiry that freed another DN, leaves A held.
  t.same(kinds(history(reserve('a', 'r1', 0, 1), leaseEnd(2, { owner: 'sip9' }), reserve('b', 'r2', 4, 5, 'ok', { owner: 'sip2' }))), ['exclusivity']);
  t.same(kinds(history(reserve('a', 'r1', 0, 1), leaseEnd(2, { dn: '101' }), reserve('b', 'r2', 4, 5, 'ok', { owner: 'sip2' }))), ['exclusivity']);
  // A refused expiry (the lease was renewed after all) ended nothing.
  t.same(kinds(history(reserve('a', 'r1', 0, 1), op('leader', 'expireLease', 2, 3, 'fail', { owner: 'sip1' }), reserve('b', 'r2', 4, 5, 'ok', { owner: 'sip2' }))), ['exclusivity']);
  // The expiry took effect only after B's grant was acknowledged: both were held.
  t.same(kinds(history(reserve('a', 'r1', 0, 1), reserve('b', 'r2', 4, 5, 'ok', { owner: 'sip2' }), leaseEnd(6))), ['exclusivity']);

  // A lease expiry after the last acknowledged change may have changed the final state:
  // the DN is undetermined, not a lost change.
  const afterLast = history(reserve('a', 'r1', 0, 1), leaseEnd(2));
  const report = checkHistory(afterLast, { finalAgents: [{ dn: '100', state: 'NOT_READY' }] });
  t.same(report.violations.map((v) => v.kind), []);
  t.match(report.counts, { finalStatesUndetermined: 1 });
});
