// Proves RaftConfig.heartbeatsSkipBusy: a leader skips the periodic heartbeat to a
// follower it sent an append to within the last two rounds (heartbeatSkipRounds) and that
// acknowledged within them; an idle follower, a follower that stopped acknowledging, and
// every read round still get theirs; and without the option every round heartbeats every
// follower.
import t from 'tap';
import type { Message, RaftConfig } from '../../../raft/types.js';
import { electedThree, type SimCluster } from '../interaction/cluster.js';

const enc = new TextEncoder();
const heartbeatTicks = 3;

function elected(overrides: Partial<RaftConfig>): SimCluster {
  return electedThree({ heartbeatTicks, electionTimeoutTicks: 15, ...overrides });
}

/** One heartbeat interval of leader ticks; the heartbeats it sent, by recipient. */
function heartbeatRound(c: SimCluster): string[] {
  const leader = c.node('1').live();
  for (let i = 0; i < heartbeatTicks; i++) leader.tick();
  const sent: Message[] = c.node('1').processReady();
  c.queue.push(...sent);
  return sent.filter((m) => m.type === 'heartbeat').map((m) => m.to).sort();
}

/** A proposal replicated and acknowledged by both followers, its commit sent to them. */
function busy(c: SimCluster, v: string): void {
  if (!c.node('1').live().propose(enc.encode(v)).ok) throw new Error('proposal refused');
  c.stabilize(c.liveIds());
}

t.test('busy followers are not sent periodic heartbeats; idle ones are', async (t) => {
  const c = elected({ heartbeatsSkipBusy: true });
  // The first two may be skipped: the election's noop was appended.
  for (let i = 0; i < 2; i++) {
    heartbeatRound(c);
    c.stabilize(c.liveIds());
  }
  t.same(heartbeatRound(c), ['2', '3'], 'idle group: both followers get the heartbeat');
  c.stabilize(c.liveIds());
  busy(c, 'a');
  t.same(heartbeatRound(c), [], 'appended and acknowledged this interval: no heartbeat');
  c.stabilize(c.liveIds());
  t.same(heartbeatRound(c), [], 'appended in the interval before: none either');
  c.stabilize(c.liveIds());
  t.same(heartbeatRound(c), ['2', '3'], 'nothing appended for two rounds: heartbeats again');
  c.stabilize(c.liveIds());
  t.equal(c.node('3').live().status().commit, c.node('1').live().status().commit, 'followers know the commit index');
  t.equal(c.node('1').live().status().role, 'leader', 'still leader');
});

t.test('a follower that stops acknowledging is heartbeaten although appends go to it', async (t) => {
  const c = elected({ heartbeatsSkipBusy: true });
  c.stabilize(c.liveIds());
  c.partition([['1', '2'], ['3']]);
  // Busy every interval: 2 acknowledges, 3 (cut off) is sent the appends but answers none.
  const rounds: string[][] = [];
  for (let r = 0; r < 4; r++) {
    busy(c, `b${r}`);
    rounds.push(heartbeatRound(c));
    c.stabilize(c.liveIds());
  }
  t.ok(rounds.every((hb) => !hb.includes('2')), `the acknowledging follower needs none (${JSON.stringify(rounds)})`);
  t.ok(rounds.slice(2).every((hb) => hb.includes('3')), `the silent one is heartbeaten from its third silent interval on (${JSON.stringify(rounds)})`);
});

t.test('a read round heartbeats every follower even when busy', async (t) => {
  const c = elected({ heartbeatsSkipBusy: true });
  c.stabilize(c.liveIds());
  busy(c, 'c');
  const leader = c.node('1').live();
  leader.readIndex('r1');
  const sent = c.node('1').processReady();
  t.same(sent.filter((m) => m.type === 'heartbeat' && m.context !== '').map((m) => m.to).sort(), ['2', '3'], 'the round goes out as heartbeats to both');
  c.queue.push(...sent);
  c.stabilize(c.liveIds());
  t.same(c.node('1').readStates.map((r) => r.context), ['r1'], 'and the read is confirmed');
});

t.test('without the option every round heartbeats every follower', async (t) => {
  const c = elected({});
  c.stabilize(c.liveIds());
  busy(c, 'd');
  t.same(heartbeatRound(c), ['2', '3']);
});
