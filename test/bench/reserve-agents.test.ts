// bench reserve --busy-shards: the agents it provisions and reserves all live on the first
// N shards (by id), so the other shards' groups stay idle; they are the first such DNs from
// 100000 up, the ones a shardOf over every DN would pick (ownedByAny only hashes fewer).
import fc from 'fast-check';
import t from 'tap';
import { agentDns } from '../../bench/reserve.js';
import { ownedByAny, shardOf } from '../../shards/shard-map.js';

t.test('agents on the busy shards only', async (t) => {
  const ids = Array.from({ length: 100 }, (_, i) => `s${i + 1}`);
  t.same(agentDns(ids, 5, 100), ['100000', '100001', '100002', '100003', '100004'], 'every shard busy: the DNs from 100000 up');
  const dns = agentDns(ids, 200, 2);
  t.equal(dns.length, 200);
  t.equal(new Set(dns).size, 200, 'distinct');
  const owners = new Set(dns.map((dn) => shardOf(dn, ids)));
  t.same([...owners].sort(), ['s1', 's10'], 'owned by the first two shards by id (s1, s10), no other');
  const expected: string[] = [];
  for (let n = 100000; expected.length < 200; n++) if (['s1', 's10'].includes(shardOf(String(n), ids))) expected.push(String(n));
  t.same(dns, expected, 'exactly the first 200 DNs the two shards own');
});

t.test('ownedByAny agrees with shardOf', async (t) => {
  const shardIds = fc.uniqueArray(fc.string({ minLength: 1, maxLength: 6 }), { minLength: 1, maxLength: 30 });
  fc.assert(
    fc.property(shardIds, fc.string({ maxLength: 12 }), fc.array(fc.nat(), { maxLength: 30 }), (ids, dn, picks) => {
      const subset = new Set(picks.map((p) => ids[p % ids.length]!));
      return ownedByAny(dn, ids, subset) === subset.has(shardOf(dn, ids));
    }),
    { numRuns: 3000 },
  );
  t.notOk(ownedByAny('4001', ['a', 'b'], new Set()), 'an empty subset owns nothing');
  t.ok(ownedByAny('4001', ['a', 'b'], new Set(['a', 'b'])), 'the whole list owns everything');
});
