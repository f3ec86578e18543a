// Proves the linearizability checker accepts what a register could have done and rejects
// what it could not: small hand-written histories (stale reads, reads of failed writes,
// cas results, unknown-outcome ops that did or did not take effect, keys checked
// independently), plus generated histories that are linearizable by construction (each
// op takes effect at a random instant inside its interval, some outcomes hidden) which
// must all pass, and the same histories with one read falsified, which must all fail.

import t from 'tap';
import type { HistoryEvent, OpInput, OpOutput } from '../../../raft/sim/linearizability.js';
import { checkHistory } from '../../../raft/sim/linearizability.js';
import { createPrng } from '../../../raft/sim/prng.js';

type Step =
  | ['call', number, OpInput]
  | ['ok', number, OpOutput?]
  | ['fail', number]
  | ['info', number];

/** Builds a history from steps in time order; op ids double as client ids. */
function history(...steps: Step[]): HistoryEvent[] {
  return steps.map((s, i): HistoryEvent => {
    const time = i + 1;
    if (s[0] === 'call') return { type: 'invoke', op: s[1], client: s[1], time, input: s[2] };
    if (s[0] === 'ok') return { type: 'ok', op: s[1], client: s[1], time, output: s[2] ?? {} };
    if (s[0] === 'fail') return { type: 'fail', op: s[1], client: s[1], time, reason: 'test' };
    return { type: 'info', op: s[1], client: s[1], time, reason: 'test' };
  });
}

const w = (key: string, value: number): OpInput => ({ kind: 'write', key, value });
const r = (key: string): OpInput => ({ kind: 'read', key });
const cas = (key: string, expected: number | null, value: number): OpInput => ({ kind: 'cas', key, expected, value });

t.test('sequential write then read of that value is linearizable', async (t) => {
  const h = history(['call', 1, w('a', 1)], ['ok', 1], ['call', 2, r('a')], ['ok', 2, { value: 1 }]);
  t.equal(checkHistory(h).linearizable, true);
});

t.test('a read that misses a completed write is not', async (t) => {
  const h = history(['call', 1, w('a', 1)], ['ok', 1], ['call', 2, r('a')], ['ok', 2, { value: null }]);
  const v = checkHistory(h);
  t.equal(v.linearizable, false);
  t.equal(v.inconclusive, false);
});

t.test('a stale read after a newer write completed is not', async (t) => {
  const h = history(
    ['call', 1, w('a', 1)], ['ok', 1],
    ['call', 2, w('a', 2)], ['ok', 2],
    ['call', 3, r('a')], ['ok', 3, { value: 1 }],
  );
  t.equal(checkHistory(h).linearizable, false);
});

t.test('a read concurrent with a write may see either value', async (t) => {
  for (const seen of [null, 1]) {
    const h = history(['call', 1, w('a', 1)], ['call', 2, r('a')], ['ok', 2, { value: seen }], ['ok', 1]);
    t.equal(checkHistory(h).linearizable, true, `read saw ${seen}`);
  }
  const flip = history(
    ['call', 1, w('a', 1)],
    ['call', 2, r('a')], ['ok', 2, { value: 1 }],
    ['call', 3, r('a')], ['ok', 3, { value: null }],
    ['ok', 1],
  );
  t.equal(checkHistory(flip).linearizable, false, 'once seen, a write cannot be unseen');
});

t.test('a failed write never took effect', async (t) => {
  const h = history(['call', 1, w('a', 7)], ['fail', 1], ['call', 2, r('a')], ['ok', 2, { value: 7 }]);
  t.equal(checkHistory(h).linearizable, false);
});

t.test('an unknown-outcome write may or may not have taken effect, but only once', async (t) => {
  const took = history(['call', 1, w('a', 5)], ['info', 1], ['call', 2, r('a')], ['ok', 2, { value: 5 }]);
  t.equal(checkHistory(took).linearizable, true, 'seen after its timeout');
  const never = history(['call', 1, w('a', 5)], ['info', 1], ['call', 2, r('a')], ['ok', 2, { value: null }]);
  t.equal(checkHistory(never).linearizable, true, 'never seen');
  const late = history(
    ['call', 1, w('a', 5)], ['info', 1],
    ['call', 2, r('a')], ['ok', 2, { value: null }],
    ['call', 3, r('a')], ['ok', 3, { value: 5 }],
  );
  t.equal(checkHistory(late).linearizable, true, 'takes effect later than its timeout');
  const undone = history(
    ['call', 1, w('a', 5)], ['info', 1],
    ['call', 2, r('a')], ['ok', 2, { value: 5 }],
    ['call', 3, r('a')], ['ok', 3, { value: null }],
  );
  t.equal(checkHistory(undone).linearizable, false, 'cannot be undone after it was seen');
  const before = history(
    ['call', 2, r('a')], ['ok', 2, { value: 5 }],
    ['call', 1, w('a', 5)], ['info', 1],
  );
  t.equal(checkHistory(before).linearizable, false, 'cannot take effect before it was invoked');
});

t.test('cas results must match the value before it', async (t) => {
  const swapped = history(
    ['call', 1, w('a', 1)], ['ok', 1],
    ['call', 2, cas('a', 1, 2)], ['ok', 2, { ok: true, current: 1 }],
    ['call', 3, r('a')], ['ok', 3, { value: 2 }],
  );
  t.equal(checkHistory(swapped).linearizable, true);
  const wrongSwap = history(
    ['call', 1, w('a', 1)], ['ok', 1],
    ['call', 2, cas('a', 3, 2)], ['ok', 2, { ok: true, current: 1 }],
  );
  t.equal(checkHistory(wrongSwap).linearizable, false, 'cas cannot succeed on another value');
  const refused = history(
    ['call', 1, w('a', 1)], ['ok', 1],
    ['call', 2, cas('a', 3, 2)], ['ok', 2, { ok: false, current: 1 }],
    ['call', 3, r('a')], ['ok', 3, { value: 1 }],
  );
  t.equal(checkHistory(refused).linearizable, true);
  const refusedWrongly = history(
    ['call', 1, w('a', 1)], ['ok', 1],
    ['call', 2, cas('a', 1, 2)], ['ok', 2, { ok: false, current: 1 }],
  );
  t.equal(checkHistory(refusedWrongly).linearizable, false, 'cas cannot fail when the value matches');
  const unknownCas = history(
    ['call', 1, w('a', 1)], ['ok', 1],
    ['call', 2, cas('a', 1, 2)], ['info', 2],
    ['call', 3, r('a')], ['ok', 3, { value: 2 }],
  );
  t.equal(checkHistory(unknownCas).linearizable, true, 'an unknown cas may have swapped');
});

t.test('keys are checked independently', async (t) => {
  const h = history(
    ['call', 1, w('a', 1)], ['ok', 1],
    ['call', 2, w('b', 2)], ['ok', 2],
    ['call', 3, r('a')], ['ok', 3, { value: 1 }],
    ['call', 4, r('b')], ['ok', 4, { value: null }],
  );
  const v = checkHistory(h);
  t.equal(v.linearizable, false);
  t.same(v.keys.map((k) => [k.key, k.linearizable]), [['a', true], ['b', false]]);
});

/** A register run by `clients` concurrent clients: each op takes effect at an instant
 * strictly inside its [call, return] interval, so the history is linearizable. */
function generated(seed: number): HistoryEvent[] {
  const prng = createPrng(seed);
  type Ev = { at: number; ev: () => HistoryEvent };
  const evs: Ev[] = [];
  const points: { at: number; op: number; client: number; input: OpInput; hide: boolean }[] = [];
  let op = 0;
  for (let client = 1; client <= 4; client++) {
    let now = prng.next() * 5;
    for (let k = 0; k < 12; k++) {
      const call = now + prng.next() * 3;
      const ret = call + 0.1 + prng.next() * 6;
      const at = call + (ret - call) * (0.05 + 0.9 * prng.next());
      const id = ++op;
      const x = prng.next();
      const input: OpInput = x < 0.4 ? r('a') : x < 0.75 ? w('a', id) : cas('a', prng.chance(0.5) ? null : prng.range(1, id), id);
      points.push({ at, op: id, client, input, hide: prng.chance(0.15) });
      evs.push({ at: call, ev: () => ({ type: 'invoke', op: id, client, time: 0, input }) });
      now = ret;
    }
  }
  // Execute in linearization order to learn the outputs.
  points.sort((a, b) => a.at - b.at);
  let state: number | null = null;
  for (const p of points) {
    let output: OpOutput = {};
    if (p.input.kind === 'read') output = { value: state };
    else if (p.input.kind === 'write') state = p.input.value;
    else {
      const ok = state === p.input.expected;
      output = { ok, current: state };
      if (ok) state = p.input.value;
    }
    const ret = evs.find((e) => e.at < p.at && e.ev().op === p.op)!;
    const retAt = p.at + (p.at - ret.at); // symmetric: return after the effect
    const hide = p.hide;
    evs.push({ at: retAt, ev: () => (hide ? { type: 'info', op: p.op, client: p.client, time: 0, reason: 'hidden' } : { type: 'ok', op: p.op, client: p.client, time: 0, output }) });
  }
  evs.sort((a, b) => a.at - b.at);
  return evs.map((e, i) => ({ ...e.ev(), time: i + 1 }) as HistoryEvent);
}

t.test('generated linearizable histories pass; falsifying one read makes them fail', async (t) => {
  let falsified = 0;
  for (let seed = 1; seed <= 40; seed++) {
    const h = generated(seed);
    const v = checkHistory(h);
    t.equal(v.linearizable, true, `seed ${seed} linearizable`);
    const i = h.findIndex((e) => e.type === 'ok' && e.output.value !== undefined);
    if (i < 0) continue;
    const bad = h.slice();
    const e = bad[i] as Extract<HistoryEvent, { type: 'ok' }>;
    bad[i] = { ...e, output: { value: 999_999 } };
    t.equal(checkHistory(bad).linearizable, false, `seed ${seed} with a read of a value never written`);
    falsified++;
  }
  t.ok(falsified > 20, 'most generated histories had a read to falsify');
});
