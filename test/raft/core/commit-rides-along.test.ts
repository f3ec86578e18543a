// Proves RaftConfig.commitRidesAlong: a leader sends no append only to announce a new
// commit index; followers learn it from the next append with entries or from a heartbeat,
// at most two heartbeat intervals after the group goes idle even when heartbeats skip busy
// followers; a heartbeat that told the commit sets off no empty append; and a leader that
// commits its own removal still announces it at once. Without the option the empty append
// goes out as before.
import t from 'tap';
import type { Message, RaftConfig } from '../../../raft/types.js';
import { electedThree, type SimCluster } from '../interaction/cluster.js';

const enc = new TextEncoder();
const heartbeatTicks = 3;

function elected(overrides: Partial<RaftConfig>): SimCluster {
  const c = electedThree({ heartbeatTicks, electionTimeoutTicks: 15, ...overrides });
  // Two idle rounds: every follower knows the election's commit whatever the options.
  heartbeatRound(c);
  heartbeatRound(c);
  return c;
}

/** Processes and delivers until nothing moves; returns every message sent meanwhile. */
function stabilize(c: SimCluster): Message[] {
  const sent: Message[] = [];
  const ids = c.liveIds();
  for (let round = 0; round < 1000; round++) {
    const processed = c.process(ids);
    sent.push(...c.queue);
    const delivered = c.deliver(() => true);
    if (!processed && delivered === 0) return sent;
  }
  throw new Error('did not stabilize');
}

/** One heartbeat interval of leader ticks, then everything it sets off. */
function heartbeatRound(c: SimCluster): Message[] {
  const leader = c.node('1').live();
  for (let i = 0; i < heartbeatTicks; i++) leader.tick();
  return stabilize(c);
}

function propose(c: SimCluster, v: string): number {
  const r = c.node('1').live().propose(enc.encode(v));
  if (!r.ok) throw new Error('proposal refused');
  return r.value;
}

const emptyAppends = (msgs: Message[]): number => msgs.filter((m) => m.type === 'append' && m.entries.length === 0).length;
const commitOf = (c: SimCluster, id: string): number => c.node(id).live().status().commit;

t.test('the commit rides on the next append, never on an empty one', async (t) => {
  const c = elected({ commitRidesAlong: true });
  const a = propose(c, 'a');
  const sent = stabilize(c);
  t.equal(commitOf(c, '1'), a, 'the leader committed the entry');
  t.equal(emptyAppends(sent), 0, 'no append went only to announce the commit');
  t.ok(commitOf(c, '2') < a && commitOf(c, '3') < a, 'so the followers do not know it yet');
  const b = propose(c, 'b');
  const next = stabilize(c);
  const withEntries = next.filter((m) => m.type === 'append' && m.entries.length > 0);
  t.equal(withEntries.length, 2, 'one append with the entry to each follower');
  t.ok(withEntries.every((m) => m.type === 'append' && m.commit >= a), 'the next append carries it');
  t.equal(commitOf(c, '2'), a, 'follower 2 learned the first entry committed');
  t.equal(commitOf(c, '3'), a, 'follower 3 too');
  t.equal(commitOf(c, '1'), b);
  t.equal(emptyAppends(next), 0);
});

t.test('an idle group tells the commit by heartbeat, and no empty append follows', async (t) => {
  const c = elected({ commitRidesAlong: true });
  const a = propose(c, 'a');
  stabilize(c);
  t.ok(commitOf(c, '2') < a);
  const round = heartbeatRound(c);
  t.same(round.filter((m) => m.type === 'heartbeat').map((m) => m.type === 'heartbeat' && m.commit), [a, a], 'both heartbeats carry the commit');
  t.equal(emptyAppends(round), 0, 'their answers set off no append');
  t.equal(commitOf(c, '2'), a);
  t.equal(commitOf(c, '3'), a);
});

t.test('with busy followers skipped, the commit arrives within three heartbeat rounds', async (t) => {
  const c = elected({ commitRidesAlong: true, heartbeatsSkipBusy: true });
  propose(c, 'a');
  stabilize(c);
  const last = propose(c, 'b');
  stabilize(c);
  t.ok(commitOf(c, '2') < last, 'the last entry of the burst is not yet known committed');
  const first = heartbeatRound(c);
  t.equal(first.filter((m) => m.type === 'heartbeat').length, 0, 'busy in this interval: no heartbeat');
  const second = heartbeatRound(c);
  t.equal(second.filter((m) => m.type === 'heartbeat').length, 0, 'busy in the interval before: none either');
  t.ok(commitOf(c, '2') < last, 'so the followers do not know the last commit yet');
  const third = heartbeatRound(c);
  t.equal(third.filter((m) => m.type === 'heartbeat').length, 2, 'idle for two rounds: heartbeats');
  t.equal(commitOf(c, '2'), last, 'follower 2 knows the commit');
  t.equal(commitOf(c, '3'), last, 'follower 3 too');
  t.equal(emptyAppends([...first, ...second, ...third]), 0);
});

t.test('a leader that commits its own removal announces it at once', async (t) => {
  const c = elected({ commitRidesAlong: true });
  const r = c.node('1').live().proposeConfChange({ type: 'remove', node: '1' });
  t.ok(r.ok, 'the removal is proposed');
  const sent = stabilize(c);
  t.ok(emptyAppends(sent) >= 2, 'an empty append tells each follower the commit');
  t.ok(commitOf(c, '2') >= (r.ok ? r.value : Infinity), 'follower 2 knows the removal committed');
});

t.test('without the option the commit goes out in an empty append', async (t) => {
  const c = elected({});
  const a = propose(c, 'a');
  const sent = stabilize(c);
  t.equal(emptyAppends(sent), 2, 'one to each follower');
  t.equal(commitOf(c, '2'), a);
  t.equal(commitOf(c, '3'), a);
});
