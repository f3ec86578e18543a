// bench reserve --busy-shards: the agents it provisions and reserves all live on the first
// N shards (by id), so the other shards' groups stay idle.
import t from 'tap';
import { agentDns } from '../../bench/reserve.js';
import { shardOf } from '../../shards/shard-map.js';

t.test('agents on the busy shards only', async (t) => {
  const ids = Array.from({ length: 100 }, (_, i) => `s${i + 1}`);
  t.same(agentDns(ids, 5, 100), ['100000', '100001', '100002', '100003', '100004'], 'every shard busy: the DNs from 100000 up');
  const dns = agentDns(ids, 200, 2);
  t.equal(dns.length, 200);
  t.equal(new Set(dns).size, 200, 'distinct');
  const owners = new Set(dns.map((dn) => shardOf(dn, ids)));
  t.same([...owners].sort(), ['s1', 's10'], 'owned by the first two shards by id (s1, s10), no other');
});
