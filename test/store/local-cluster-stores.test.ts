// writeLocalClusterConfig's stores layout (cluster/local-cluster.ts): a `stores:` section
// and `shards: {count: N}`, so 3 stores carry any number of shards with 3 listening
// addresses each, one replica of a shard per store and leaders spread over the stores;
// the per-replica layout stays the default. No process is started.
import { readFileSync, rmSync } from 'node:fs';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { parse } from 'yaml';
import { writeLocalClusterConfig } from '../../cluster/local-cluster.js';
import { findStore } from '../../common/config.js';

t.test('3 stores, 20 shards', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ringfence-stores-config-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const { path, config } = await writeLocalClusterConfig({ dir, shards: 20, stores: 3 });
  const doc = parse(readFileSync(path, 'utf8')) as { stores: { id: string }[]; shards: unknown };
  t.same(doc.shards, { count: 20, replicas: 3 }, 'the file says shards: {count: 20}');
  t.same(doc.stores.map((s) => s.id), ['a', 'b', 'c']);
  t.equal(config.shards.length, 20);
  const ports = new Set(config.stores!.flatMap((s) => [s.raft.port, s.client.port, s.admin.port]));
  t.equal(ports.size, 9, 'three addresses per store, all distinct');
  for (const st of config.stores!) {
    const { hosted } = findStore(config, st.id);
    t.equal(hosted.length, 20, `store ${st.id} hosts a replica of every shard`);
    t.ok(hosted.every((h) => h.replica.raft.port === st.raft.port && h.replica.data === st.data), `store ${st.id}'s replicas use its address and data directory`);
  }
  const preferred = new Map<string, number>();
  for (const s of config.shards) preferred.set(s.preferredLeader!.split('-')[1]!, (preferred.get(s.preferredLeader!.split('-')[1]!) ?? 0) + 1);
  t.same([...preferred.values()].sort(), [6, 7, 7], 'preferred leaders spread over the stores');
  await t.rejects(writeLocalClusterConfig({ dir, shards: 2, stores: 2 }), /3 replicas per shard need at least 3 stores/);
});

t.test('the per-replica layout stays the default', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ringfence-stores-config-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const { config } = await writeLocalClusterConfig({ dir, shards: 2 });
  t.equal(config.stores, undefined);
  t.ok(config.shards.every((s) => s.replicas.every((r) => r.store === undefined)));
});
