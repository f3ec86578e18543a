// A store's memory does not grow with its shard count times per-shard limits (issue #20's
// memory bar at steady state): the Raft log entries its groups hold in memory and the
// change records they keep for feeds are budgets of the store, shared among its shards.
// One in-process store hosting 200 one-replica shards (real Raft over the store's shared
// LevelDB); one shard is driven past both shares. Proves:
// - the groups share storeLogEntriesInMemoryMax by how busy each is (the host's log
//   budget, raft/group/log-budget.ts): once the busy shard has applied for a sweep it may
//   hold more than an equal share while the idle ones keep their floor, all within the
//   budget;
// - each shard's change-feed ring holds its share of storeChangeFeedRecordsMax: a reader
//   from the start finds the page truncated (it re-reads the agents), one from a recent
//   index gets every record after it;
// - GET /v1/status and /metrics report both, as the store holds them.
import t from 'tap';
import { writeLocalClusterConfig } from '../../cluster/local-cluster.js';
import { silentLogger } from '../../common/logger.js';
import { changeFeedCapacityFor } from '../../shards/change-feed.js';
import { ShardClient } from '../../shards/client/shard-client.js';
import { ShardStore, snapshotEveryEntriesFor } from '../../shards/node/store.js';
import { storeParts } from '../../shards/node/store-parts.js';
import { storeLogEntriesInMemoryMax, storeSnapshotEveryEntriesMin } from '../../shards/limits.js';
import { shardOf } from '../../shards/shard-map.js';
import type { ShardResult } from '../../shards/types.js';
import { tempDir } from '../support/temp-dir.js';

const shards = 200;

t.test('shares of a store of 200 shards', async (t) => {
  t.equal(snapshotEveryEntriesFor(1, 10_000), 10_000, 'a store of one group keeps the file\'s interval');
  t.equal(snapshotEveryEntriesFor(100, 10_000), 300, '100 groups: 300 each');
  t.equal(snapshotEveryEntriesFor(100, 200), 200, 'never more than the file says');
  t.equal(snapshotEveryEntriesFor(5_000, 10_000), 100, 'never below the floor');
  t.throws(() => snapshotEveryEntriesFor(0, 10_000), /at least one group/);

  const dir = tempDir(t, 'store-budget');
  const { config } = await writeLocalClusterConfig({ dir, shards, stores: 1, replicasPerShard: 1 });
  const store = await ShardStore.start({ config, storeId: 'a', parts: storeParts, log: silentLogger, listenAdmin: false, onStorageFailure: (e) => t.fail(`storage failed: ${e.message}`) });
  const client = new ShardClient({ shards: config.shards, auth: { secret: config.secret, principal: 'launcher' }, attemptTimeoutMs: 2000, deadlineMs: 30_000 });
  t.teardown(async () => {
    client.close();
    await store.close();
  });
  const every = snapshotEveryEntriesFor(shards, config.raft.snapshotEveryEntries);
  const ring = changeFeedCapacityFor(shards);
  t.ok(every < config.raft.snapshotEveryEntries, `an equal share is ${every} entries, less than the file's ${config.raft.snapshotEveryEntries}`);
  type Status = { changeFeed: { records: number; perShardMax: number }; logInMemory: { entries: number; entriesMax: number; snapshotEveryEntries: { min: number; max: number } } };
  const status = async (): Promise<Status> => (await store.app.inject({ method: 'GET', url: '/v1/status', headers: { authorization: `Bearer ${config.tokens.read}` } })).json() as Status;

  const shardIds = config.shards.map((s) => s.id);
  const dn = '3001';
  const busy = shardOf(dn, shardIds);
  const ok = (r: ShardResult, what: string): void => {
    if (!r.ok) throw new Error(`${what}: ${JSON.stringify(r)}`);
  };
  ok(await client.command(dn, { type: 'provision', dn, name: 'Agent', skills: {}, wrapUpMs: 0, maxNoAnswer: 0, credentials: null }), 'provision');
  ok(await client.command(dn, { type: 'login', dn }), 'login');
  // Each notReady changes the agent: one entry and one change record.
  const writes = 2 * every + ring;
  for (let i = 0; i < writes; i++) ok(await client.command(dn, { type: 'notReady', dn, reason: `r${i % 7}` }), 'notReady');

  const node = store.replicas.get(busy)!.node;
  // The budget is reshared once a second (logBudgetSweepMsDefault).
  await new Promise((r) => setTimeout(r, 1500));
  const shares = (await status()).logInMemory.snapshotEveryEntries;
  t.ok(shares.max > every, `the busy shard's share grew past an equal share: ${shares.max} > ${every}`);
  t.equal(shares.min, storeSnapshotEveryEntriesMin, 'the idle shards keep their floor');
  t.ok(shares.max + (shares.min * (shares.max > shares.min ? shards - 1 : shards)) <= storeLogEntriesInMemoryMax, 'the shares fit the budget');
  const all = node.stateMachine.changesSince(0);
  t.equal(all.truncated, true, 'a feed reader from the start re-reads the agents');
  t.equal(all.changes.length, ring, `the ring holds its share: ${ring} records`);
  const recent = node.stateMachine.changesSince(node.stateMachine.appliedIndex - 10);
  t.same(recent.changes.map((r) => r.index), Array.from({ length: 10 }, (_, i) => node.stateMachine.appliedIndex - 9 + i), 'a recent reader gets every record after its index');
  t.equal(recent.truncated, false, 'and no truncation');

  const after = await status();
  const held = [...store.replicas.values()].map((r) => r.node.status());
  t.equal(after.logInMemory.entries, held.reduce((n, s) => n + s.lastIndex - s.snapshotIndex, 0), 'GET /v1/status: the log entries in memory');
  t.ok(after.logInMemory.entries <= after.logInMemory.entriesMax, `within the budget (${after.logInMemory.entries} of ${after.logInMemory.entriesMax})`);
  t.equal(after.logInMemory.entriesMax, storeLogEntriesInMemoryMax, 'the budget, as limits.ts sets it');
  const statusBody = after;
  t.same(statusBody.changeFeed, { records: [...store.replicas.values()].reduce((n, r) => n + r.node.stateMachine.feedRecords, 0), perShardMax: ring }, 'and the change records held');
  const metrics = await store.registry.metrics();
  t.match(metrics, new RegExp(`^ringfence_store_log_entries_in_memory(\\{[^}]*\\})? ${statusBody.logInMemory.entries}$`, 'm'), '/metrics: log entries in memory');
  t.match(metrics, new RegExp(`^ringfence_store_feed_records(\\{[^}]*\\})? ${statusBody.changeFeed.records}$`, 'm'), '/metrics: change records');
});
