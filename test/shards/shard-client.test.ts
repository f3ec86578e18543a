// The shard client against a real single-replica shard (Raft over LevelDB, RPC over TCP):
// a burst of concurrent commands far beyond one session's window of unacknowledged
// results is spread over several sessions, so none is refused with
// SHARD_ERR_TOO_MANY_PENDING (a regression seen as calls answered 480 under load), and
// every command is applied exactly once.
import t from 'tap';
import type { Agent } from '../../shards/types.js';
import { startSingleReplica } from '../support/single-replica.js';

const { shard, replica, client } = await startSingleReplica(t, 'client');

t.test('300 concurrent reservations of distinct agents all commit', async (t) => {
  const dns = Array.from({ length: 300 }, (_, i) => String(50000 + i));
  await Promise.all(dns.map((dn) => client.command(dn, { type: 'provision', dn, name: dn, skills: {}, wrapUpMs: 0, maxNoAnswer: 0, credentials: null })));
  await Promise.all(dns.map((dn) => client.command(dn, { type: 'login', dn })));
  const readied = await Promise.all(dns.map((dn) => client.command(dn, { type: 'ready', dn })));
  t.same(readied.filter((r) => !r.ok), [], 'every ready committed');
  const reserved = await Promise.all(dns.map((dn) => client.command(dn, { type: 'reserve', dn, reservationId: `r-${dn}`, callId: `c-${dn}`, owner: 'test', ttlMs: 60_000 })));
  t.same(reserved.filter((r) => !r.ok).map((r) => (r.ok ? '' : r.code)), [], 'no reservation refused for a full session');
  const agents = (await client.read(shard.id, { type: 'agents', filter: { state: 'RESERVED' } })) as Agent[];
  t.equal(agents.length, 300, 'each agent holds exactly its reservation');
});
