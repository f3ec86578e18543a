// One metrics registry for the many replicas a store hosts (shards/node/metrics.ts): each
// family once, one series per hosted replica labelled shard and replica, scrape-time
// gauges read from each replica's own status, agents exported by leaders only; and the
// stand-alone ShardMetrics keeps its single-replica output (default labels).
import t from 'tap';
import { ShardMetrics, ShardMetricsRegistry } from '../../shards/node/metrics.js';
import type { RaftStatus } from '../../raft/types.js';

const status = (id: string, role: 'leader' | 'follower', commit: number): RaftStatus => ({ id, role, term: 3, leader: role === 'leader' ? id : 'x', commit, applied: commit, lastIndex: commit, snapshotIndex: 0, leadership: 'election', conf: { voters: [id], learners: [] }, failed: null, peers: [] }) as unknown as RaftStatus;

t.test('many replicas in one registry', async (t) => {
  const families = new ShardMetricsRegistry({ defaultLabels: { store: 'a' } });
  const counts = { READY: 2, NOT_READY: 0, RESERVED: 1, BUSY: 0, WRAP_UP: 0, LOGGED_OUT: 0 };
  const m1 = families.add({ shard: 's1', replica: 's1-a' }, () => status('s1-a', 'leader', 7), () => counts);
  const m2 = families.add({ shard: 's2', replica: 's2-a' }, () => status('s2-a', 'follower', 9));
  t.throws(() => families.add({ shard: 's1', replica: 's1-b' }, () => null), /already has a replica/, 'one replica per shard');
  m1.proposals.inc();
  m1.proposals.inc();
  m2.observeReserve({ ok: false, code: 'SHARD_ERR_AGENT_BUSY' });
  m1.handoffs.inc({ outcome: 'done' });
  const text = await families.registry.metrics();
  t.match(text, /^ringfence_raft_proposals_total\{shard="s1",replica="s1-a",store="a"\} 2$/m);
  t.match(text, /^ringfence_raft_proposals_total\{shard="s2",replica="s2-a",store="a"\} 0$/m, 'a replica that proposed nothing has its series at 0');
  t.match(text, /^ringfence_raft_commit_index\{shard="s1",replica="s1-a",store="a"\} 7$/m);
  t.match(text, /^ringfence_raft_commit_index\{shard="s2",replica="s2-a",store="a"\} 9$/m);
  t.match(text, /^ringfence_raft_is_leader\{shard="s2",replica="s2-a",store="a"\} 0$/m);
  t.match(text, /^ringfence_agents\{state="READY",shard="s1",replica="s1-a",store="a"\} 2$/m, 'the leader exports its agents');
  t.notMatch(text, /ringfence_agents\{[^}]*shard="s2"/, 'the follower exports none');
  t.match(text, /^ringfence_reservations_total\{outcome="denied",reason="BUSY",shard="s2",replica="s2-a",store="a"\} 1$/m);
  t.match(text, /^ringfence_raft_preferred_handoffs_total\{outcome="done",shard="s1",replica="s1-a",store="a"\} 1$/m);
  t.equal(text.match(/^# TYPE ringfence_raft_term gauge$/gm)?.length, 1, 'each family once');
  families.remove('s2');
  t.notMatch(await families.registry.metrics(), /ringfence_raft_commit_index\{shard="s2"/, 'a removed replica leaves the scrape-time gauges');
});

t.test('a stand-alone replica keeps its labels', async (t) => {
  const m = new ShardMetrics({ shard: 's9', replica: 's9-b' }, () => status('s9-b', 'leader', 4));
  m.expired.inc();
  m.role('leader', 's9-b');
  const text = await m.registry.metrics();
  t.match(text, /^ringfence_reservations_expired_total\{shard="s9",replica="s9-b"\} 1$/m);
  t.match(text, /^ringfence_raft_leader_changes_total\{shard="s9",replica="s9-b"\} 1$/m);
  t.match(text, /^ringfence_raft_term\{shard="s9",replica="s9-b"\} 3$/m);
  t.match(text, /^process_cpu_seconds_total\{shard="s9",replica="s9-b"\}/m, 'process metrics carry the replica labels as before');
});
