// The event log's positions (sip/node/events.ts): a reader resuming after a position gets
// every later event the ring holds, none twice; a position the ring has dropped, one of an
// earlier life of the node, or a malformed one comes back with an explicit gap; agent
// events are logged only when the state changes. Pure: a counter for the clock.
import t from 'tap';
import { EventLog, parsePosition } from '../../sip/node/events.js';

let clock = 1_000;
const now = (): number => clock++;

const callEv = (n: number) => ({ type: 'call.arrived' as const, callId: `c${n}`, service: '7001' });

t.test('resuming after a held position gives exactly the events after it', async (t) => {
  const log = new EventLog({ nodeId: 'sipA', retain: 5, now, epoch: 'e1' });
  const seen: string[] = [];
  log.subscribe((ev) => seen.push(ev.id));
  for (let i = 1; i <= 4; i++) log.call(callEv(i));
  t.same(seen, ['e1-1', 'e1-2', 'e1-3', 'e1-4'], 'listeners hear each event with its position');
  const r = log.after('e1-2');
  t.equal(r.gap, null);
  t.same(r.events.map((e) => e.id), ['e1-3', 'e1-4']);
  t.same(log.after('e1-4').events, [], 'nothing after the last');
  t.same(log.after(null).events.map((e) => e.seq), [1, 2, 3, 4], 'no position: all held');
  t.equal(r.events[0]!.node, 'sipA');
  t.equal(log.position, 'e1-4');
});

t.test('a position older than the ring holds: a gap naming what is lost, then the rest', async (t) => {
  const log = new EventLog({ nodeId: 'sipA', retain: 3, now, epoch: 'e1' });
  for (let i = 1; i <= 7; i++) log.call(callEv(i));
  t.equal(log.oldestSeq, 5);
  const r = log.after('e1-2');
  t.same(r.gap, { epoch: 'e1', fromSeq: 3, toSeq: 4, reason: 'expired' }, 'events 3 and 4 are gone, and said so');
  t.same(r.events.map((e) => e.seq), [5, 6, 7]);
  t.same(log.after('e1-4').gap, null, 'just inside the ring: no gap');
  t.same(log.after('e1-4').events.map((e) => e.seq), [5, 6, 7]);
});

t.test('a position of another epoch (the node restarted) or a malformed one: a gap, then all held', async (t) => {
  const log = new EventLog({ nodeId: 'sipA', retain: 10, now, epoch: 'e2' });
  log.call(callEv(1));
  const other = log.after('e1-40');
  t.same(other.gap, { epoch: 'e1', fromSeq: 41, toSeq: null, reason: 'other-epoch' });
  t.same(other.events.map((e) => e.id), ['e2-1']);
  t.same(log.after('e2-99').gap?.reason, 'other-epoch', 'a position beyond the last is not ours either');
  t.equal(log.after('garbage').gap?.reason, 'bad-position');
  t.same(parsePosition('e2-7'), { epoch: 'e2', seq: 7 });
  t.equal(parsePosition('e2-07'), null);
  t.equal(parsePosition('E2-7'), null);
  t.equal(parsePosition('e2-'), null);
});

t.test('agent events only on a change of state (or of the not-ready reason)', async (t) => {
  const log = new EventLog({ nodeId: 'sipA', retain: 10, now, epoch: 'e3' });
  log.agent({ dn: '9001', state: 'READY', shard: 's1', index: 5 });
  log.agent({ dn: '9001', state: 'READY', shard: 's1', index: 6 });
  log.agent({ dn: '9001', state: 'NOT_READY', reason: 'break', shard: 's1', index: 7 });
  log.agent({ dn: '9001', state: 'NOT_READY', reason: 'lunch', shard: 's1', index: 8 });
  log.agent({ dn: '9002', state: 'READY', shard: 's1', index: 9 });
  t.same(log.after(null).events.map((e) => [e.type, (e.data as { dn: string }).dn, (e.data as { index: number }).index]), [
    ['agent.state', '9001', 5], ['agent.state', '9001', 7], ['agent.state', '9001', 8], ['agent.state', '9002', 9],
  ]);
});
