// Proves Raft safety of the core under random schedules: a seeded loop over 5 real cores
// that ticks, delivers messages out of order, drops and duplicates them, partitions,
// crashes and restarts nodes (from their persisted state), compacts logs, proposes and
// reads. After every step it checks: at most one leader per term, and every index is
// applied with the same data on every node (state machine safety). Failures print the
// seed. Bounded: a fixed number of seeds and steps.
import t from 'tap';
import type { Message } from '../../../raft/types.js';
import type { BugName } from '../../../raft/sim/planted-bugs.js';
import { SimCluster, seededRandom } from '../interaction/cluster.js';

const enc = new TextEncoder();
const SEEDS = 24;
const STEPS = 2500;

export function run(seed: number, bugs: ReadonlySet<BugName> = new Set()): { leaders: number; applied: number } {
  const rnd = seededRandom(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const ids = ['a', 'b', 'c', 'd', 'e'];
  const c = new SimCluster({ preVote: rnd() < 0.7, checkQuorum: rnd() < 0.7, overrides: { snapshotChunkBytes: 64, appendEntriesMax: 4, inflightAppendsMax: 4 }, bugs });
  c.initialConf = { voters: ids, learners: [] };
  for (const id of ids) c.addNode(id, c.initialConf);
  const leaderOfTerm = new Map<number, string>();
  const appliedAt = new Map<number, string>();
  let proposals = 0;
  for (let step = 0; step < STEPS; step++) {
    const r = rnd();
    const live = c.liveIds();
    if (r < 0.3) {
      c.node(pick(live)).live().tick();
    } else if (r < 0.62 && c.queue.length > 0) {
      // Deliver one message, chosen at random: reordering.
      const m = c.queue[Math.floor(rnd() * c.queue.length)]!;
      if (rnd() < 0.05) c.queue.push({ ...m }); // duplicate (a copy, delivered later)
      c.deliver((x: Message) => x === m);
    } else if (r < 0.67 && c.queue.length > 0) {
      c.queue.splice(Math.floor(rnd() * c.queue.length), 1);
    } else if (r < 0.8) {
      c.process([pick(live)]);
    } else if (r < 0.9) {
      const leader = live.find((id) => c.node(id).live().status().role === 'leader');
      if (leader !== undefined) {
        proposals += 1;
        c.node(leader).live().propose(enc.encode(`${seed}-${proposals}`));
      }
    } else if (r < 0.91) {
      c.node(pick(live)).live().readIndex(`r${step}`);
    } else if (r < 0.92) {
      const n = c.node(pick(live));
      if (n.appliedIndex > n.live().status().snapshotIndex) n.compact(n.appliedIndex, 40);
    } else if (r < 0.93 && live.length > 3) {
      const id = pick(live);
      c.node(id).crash();
      c.queue = c.queue.filter((m) => m.to !== id);
    } else if (r < 0.945) {
      const down = ids.filter((id) => c.node(id).core === null);
      if (down.length > 0) c.node(pick(down)).restart();
    } else if (r < 0.955) {
      const shuffled = [...ids].sort(() => rnd() - 0.5);
      const cut = 1 + Math.floor(rnd() * 2);
      c.partition([shuffled.slice(0, cut), shuffled.slice(cut)]);
    } else if (r < 0.975) {
      c.heal();
    }
    for (const id of c.liveIds()) {
      const n = c.node(id);
      const s = n.live().status();
      if (s.role === 'leader') {
        const prev = leaderOfTerm.get(s.term);
        if (prev !== undefined && prev !== id) throw new Error(`seed ${seed} step ${step}: two leaders in term ${s.term}: ${prev}, ${id}`);
        leaderOfTerm.set(s.term, id);
      }
      for (const [index, value] of n.values) {
        const seen = appliedAt.get(index);
        if (seen === undefined) appliedAt.set(index, value);
        else if (seen !== value) throw new Error(`seed ${seed} step ${step}: index ${index} applied as ${seen} and ${value} (node ${id})`);
      }
    }
  }
  // Heal everything and let the cluster settle: every live node converges.
  c.heal();
  for (const id of ids) if (c.node(id).core === null) c.node(id).restart();
  for (let round = 0; round < 200; round++) {
    for (const id of ids) c.node(id).live().tick();
    c.stabilize(ids);
  }
  const commits = new Set(ids.map((id) => c.node(id).live().status().commit));
  if (commits.size !== 1) throw new Error(`seed ${seed}: commit indexes did not converge: ${[...commits].join(',')}`);
  const data = new Set(ids.map((id) => JSON.stringify(c.node(id).values.map(([, v]) => v))));
  if (data.size !== 1) throw new Error(`seed ${seed}: applied data diverged`);
  return { leaders: leaderOfTerm.size, applied: appliedAt.size };
}

t.test('random schedules keep Raft safe and converge', async (t) => {
  let leaders = 0;
  let applied = 0;
  for (let seed = 1; seed <= SEEDS; seed++) {
    const r = run(seed);
    leaders += r.leaders;
    applied += r.applied;
  }
  t.ok(leaders > SEEDS, `elections happened (${leaders} leader terms)`);
  t.ok(applied > SEEDS * 5, `entries were applied (${applied})`);
});
