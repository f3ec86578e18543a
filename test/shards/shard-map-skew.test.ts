// Replicas of one shard whose cluster files list different shards (a file edited on one
// host only): the replicated shard map follows whichever replica leads, and flips when
// leadership moves. Nothing refused that before, and nothing told the operator. Now each
// replica compares its own file with the replicated map and says so: the gauge
// ringfence_shard_map_file_skew (1 on a replica that disagrees), `shardMapFileSkew` in
// GET /v1/status, and one warning log line when it starts. Three real replicas of s1 in
// this process (Raft over loopback, LevelDB in a temp dir); s1-c's file also lists s2.
import t from 'tap';
import { writeLocalClusterConfig } from '../../cluster/local-cluster.js';
import type { ClusterConfig } from '../../common/config.js';
import { silentLogger } from '../../common/logger.js';
import { shardMapVersion } from '../../shards/shard-map.js';
import { startShardReplica, type ShardReplica } from '../../shards/node/replica.js';
import { tempDir } from '../support/temp-dir.js';

const dir = tempDir(t, 'map-skew');
const { config } = await writeLocalClusterConfig({ dir, shards: 1, replicasPerShard: 3 });
const s1 = config.shards[0]!;
// s2 is only named (its replicas never run): enough to change what the file says.
const withS2: ClusterConfig = { ...config, shards: [s1, { ...s1, id: 's2', replicas: s1.replicas.map((r) => ({ ...r, id: r.id.replace('s1', 's2') })) }] };
const fileOf = (id: string): ClusterConfig => (id === 's1-c' ? withS2 : config);
const replicas = new Map<string, ShardReplica>();
for (const r of s1.replicas) replicas.set(r.id, await startShardReplica({ config: fileOf(r.id), shard: s1, replica: r, log: silentLogger, listenAdmin: false }));
t.teardown(async () => {
  for (const r of replicas.values()) await r.close();
});

const skewGauge = async (r: ShardReplica): Promise<number | null> => {
  const m = await r.metrics.registry.getSingleMetric('ringfence_shard_map_file_skew')!.get();
  return m.values[0]?.value ?? null;
};
const statusOf = async (r: ShardReplica): Promise<{ shardMap: { version: number } | null; shardMapFileSkew: boolean | null }> =>
  (await r.app.inject({ method: 'GET', url: '/v1/status', headers: { authorization: `Bearer ${config.tokens.read}` } })).json();
const leaderId = (): string | null => [...replicas.values()].map((r) => r.node.status().leader).find((l) => l !== null) ?? null;

/** Waits until every replica has applied the map of `fileVersion`'s file. */
async function mapEverywhere(version: number): Promise<void> {
  for (let i = 0; i < 300; i++) {
    const versions = await Promise.all([...replicas.values()].map(async (r) => (await statusOf(r)).shardMap?.version));
    if (versions.every((v) => v === version)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`the map of version ${version} did not reach every replica`);
}

const plainVersion = shardMapVersion(['s1']);
const skewedVersion = shardMapVersion(['s1', 's2']);

t.test('each replica flags the file that disagrees with the replicated map, and the flag follows the leader', async (t) => {
  // Lead from a replica with the common file first, then from s1-c.
  for (const leader of ['s1-a', 's1-c']) {
    for (let i = 0; i < 100 && leaderId() === null; i++) await new Promise((r) => setTimeout(r, 100));
    const current = leaderId();
    t.ok(current, 'the shard has a leader');
    if (current !== leader) await replicas.get(current!)!.node.group.transferLeadership(leader);
    const version = leader === 's1-c' ? skewedVersion : plainVersion;
    await mapEverywhere(version);
    for (const [id, r] of replicas) {
      const disagrees = shardMapVersion(fileOf(id).shards.map((s) => s.id).sort()) !== version;
      t.equal(await skewGauge(r), disagrees ? 1 : 0, `${leader} leads: ${id}'s gauge is ${disagrees ? 1 : 0}`);
      t.equal((await statusOf(r)).shardMapFileSkew, disagrees, `${leader} leads: ${id}'s /v1/status says ${disagrees}`);
    }
  }
});
