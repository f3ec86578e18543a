// A replica logs each Raft role or leader change once, with its term: the Raft group and
// the shard node both used to log it, so three stores of 100 shards wrote 1,620 `raft
// role` lines in the second of their first elections where 810 said everything. The failover
// timeline (bench/failover-timeline.ts) reads these lines: each must name the replica (its
// shard's logger) and the term.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { writeLocalClusterConfig } from '../../cluster/local-cluster.js';
import type { Logger } from '../../common/logger.js';
import { startShardReplica } from '../../shards/node/replica.js';
import { until } from '../support/until.js';

type Record_ = { msg: string } & Record<string, unknown>;

function recordingLogger(records: Record_[], base: Record<string, unknown> = {}): Logger {
  const write = (msg: string, fields?: Record<string, unknown>): void => {
    records.push({ ...base, ...fields, msg });
  };
  return { debug: write, info: write, warn: write, error: write, child: (fields) => recordingLogger(records, { ...base, ...fields }) };
}

t.test('each role change is one raft role line, naming the replica and the term', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ringfence-role-log-'));
  const { config } = await writeLocalClusterConfig({ dir, shards: 1, replicasPerShard: 1 });
  const shard = config.shards[0]!;
  const records: Record_[] = [];
  const log = recordingLogger(records, { shard: shard.id, replica: shard.replicas[0]!.id });
  const replica = await startShardReplica({ config, shard, replica: shard.replicas[0]!, log, listenAdmin: false });
  t.teardown(async () => {
    await replica.close();
    rmSync(dir, { recursive: true, force: true });
  });
  await until('the one replica to lead', async () => (replica.node.group.isLeader() ? true : null), 10_000);
  const roles = records.filter((r) => r.msg === 'raft role');
  const leaderLines = roles.filter((r) => r.role === 'leader');
  t.equal(leaderLines.length, 1, `becoming leader is logged once (${JSON.stringify(roles)})`);
  t.match(leaderLines[0], { replica: shard.replicas[0]!.id, leader: shard.replicas[0]!.id }, 'by the replica, naming itself leader');
  t.ok(roles.every((r) => typeof r.term === 'number' && r.replica === shard.replicas[0]!.id), 'every line has the replica and the term');
  const keys = roles.map((r) => `${String(r.role)}/${String(r.leader)}/${String(r.term)}`);
  t.equal(new Set(keys).size, keys.length, `no change is logged twice (${keys.join(', ')})`);
});
