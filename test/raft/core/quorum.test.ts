// Proves the majority rules the leader relies on: commit index = the highest index held
// by a majority of voters (learners excluded by the caller), and election outcomes that
// are decided as soon as they cannot change.
import fc from 'fast-check';
import t from 'tap';
import { hasQuorum, quorumMatchIndex, quorumSize, voteOutcome } from '../../../raft/core/quorum.js';

t.test('quorum sizes', async (t) => {
  t.same([1, 2, 3, 4, 5].map(quorumSize), [1, 2, 2, 3, 3]);
});

t.test('the index a majority holds', async (t) => {
  const m = (x: Record<string, number>) => (id: string) => x[id] ?? 0;
  t.equal(quorumMatchIndex(['a'], m({ a: 7 })), 7);
  t.equal(quorumMatchIndex(['a', 'b', 'c'], m({ a: 9, b: 5, c: 1 })), 5);
  t.equal(quorumMatchIndex(['a', 'b', 'c', 'd'], m({ a: 9, b: 5, c: 4, d: 1 })), 4, 'even: 3 of 4 needed');
  t.equal(quorumMatchIndex(['a', 'b', 'c', 'd', 'e'], m({ a: 9, b: 9, c: 2 })), 2, 'missing voters count as 0');
  t.equal(quorumMatchIndex([], m({})), 0, 'empty configuration commits nothing');
});

t.test('the index a majority holds is the quorum-th highest match, whatever the set', async (t) => {
  // The reference is the definition: sort the matches, highest first, take the q-th.
  fc.assert(fc.property(fc.array(fc.nat({ max: 20 }), { minLength: 1, maxLength: 9 }), (matches) => {
    const voters = matches.map((_, i) => `v${i}`);
    const expected = [...matches].sort((a, b) => b - a)[quorumSize(matches.length) - 1]!;
    return quorumMatchIndex(voters, (id) => matches[Number(id.slice(1))]!) === expected;
  }), { numRuns: 2000 });
  t.pass('2,000 voter sets of 1 to 9 members, ties included');
});

t.test('vote outcomes', async (t) => {
  const v = (x: Record<string, boolean>) => new Map(Object.entries(x));
  const voters = ['a', 'b', 'c'];
  t.equal(voteOutcome(voters, v({ a: true })), 'pending');
  t.equal(voteOutcome(voters, v({ a: true, b: true })), 'won');
  t.equal(voteOutcome(voters, v({ a: true, b: false })), 'pending');
  t.equal(voteOutcome(voters, v({ a: true, b: false, c: false })), 'lost');
  t.equal(voteOutcome(voters, v({ a: true, x: true, y: true })), 'pending', 'non-voters do not count');
  t.equal(voteOutcome(['a', 'b', 'c', 'd'], v({ a: true, b: true, c: false, d: false })), 'lost', 'split vote');
  t.ok(hasQuorum(voters, (id) => id !== 'c'));
  t.notOk(hasQuorum(voters, (id) => id === 'a'));
});
