// Proves SharedLogDb under the real group driver: three nodes, each with one
// TcpRaftTransport (127.0.0.1, port 0) and ONE SharedLogDb, host 12 RaftGroups each (36
// replicas, 3 databases). Every group elects a leader and commits a burst, taking
// snapshots every 8 entries so compaction runs through the shared write queue beside the
// other groups' saves; a node then closes every group and its database, re-opens the
// database, finds its 12 groups with groups(), each with the whole burst in its own log,
// and re-opens them. The log syncs per committed entry over the three databases are printed (not
// asserted: how the follower appends of different groups fall into turns depends on TCP).

import t from 'tap';
import { join } from 'node:path';
import { RaftGroup } from '../../../raft/group/group.js';
import { SharedLogDb } from '../../../raft/storage/shared-log.js';
import { TcpRaftTransport } from '../../../raft/transport/tcp-transport.js';
import { KvStateMachine, put, waitFor } from '../group/helpers.js';

const ids = ['n1', 'n2', 'n3'];
const groupIds = Array.from({ length: 12 }, (_, i) => `shard-${i}`);
const secret = 'shared-log-groups-secret';
const ENTRIES = 20;

t.test('12 groups on 3 nodes, one shared log per node', async (t) => {
  const base = t.testdir();
  const transports = new Map<string, TcpRaftTransport>();
  const dbs = new Map<string, SharedLogDb>();
  const replicas = new Map<string, { group: RaftGroup; sm: KvStateMachine }>();
  t.teardown(async () => {
    for (const r of replicas.values()) await r.group.close();
    for (const db of dbs.values()) await db.close();
    for (const tr of transports.values()) await tr.close();
  });
  for (const id of ids) transports.set(id, await TcpRaftTransport.listen({ id, host: '127.0.0.1', port: 0, secret, peers: {} }));
  for (const a of ids) for (const b of ids) if (a !== b) transports.get(a)!.setPeer(b, { host: '127.0.0.1', port: transports.get(b)!.port });

  async function openReplica(id: string, groupId: string): Promise<void> {
    const sm = new KvStateMachine();
    const storage = dbs.get(id)!.group(groupId);
    const group = await RaftGroup.open({ groupId, id, initialConf: { voters: ids, learners: [] }, storage, transport: transports.get(id)!, stateMachine: sm, snapshotEveryEntries: 8 });
    replicas.set(`${groupId}/${id}`, { group, sm });
  }
  for (const id of ids) {
    dbs.set(id, await SharedLogDb.open(join(base, id)));
    for (const g of groupIds) await openReplica(id, g);
  }
  const leaderOf = (g: string) => ids.map((id) => replicas.get(`${g}/${id}`)!).find((r) => r.group.isLeader());
  await waitFor(() => groupIds.every((g) => leaderOf(g) !== undefined), 'a leader in every group');
  const before = ids.map((id) => ({ ...dbs.get(id)!.stats }));

  // A loaded machine may change a group's leader during the burst (a proposal then lost to
  // a newer term's entry); a put of the same key and value is idempotent, so it is retried
  // on whoever leads then.
  const proposeUntilApplied = async (g: string, i: number): Promise<void> => {
    for (let attempt = 0; ; attempt++) {
      const leader = leaderOf(g);
      try {
        if (leader === undefined) throw new Error(`no leader in ${g}`);
        await leader.group.propose(put(`${g}-k${i}`, `${i}`));
        return;
      } catch (err) {
        if (attempt >= 50) throw err;
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  };
  await Promise.all(groupIds.flatMap((g) => Array.from({ length: ENTRIES }, (_, i) => proposeUntilApplied(g, i))));
  await waitFor(() => [...replicas.values()].every((r) => r.sm.map.size === ENTRIES), 'every replica applied the burst');
  t.pass(`all ${groupIds.length * ids.length} replicas applied ${ENTRIES} entries`);
  const delta = ids.map((id, i) => {
    const s = dbs.get(id)!.stats;
    return { writes: s.writes - before[i]!.writes, syncs: s.syncs - before[i]!.syncs, syncedSaves: s.syncedSaves - before[i]!.syncedSaves };
  });
  const syncs = delta.reduce((a, d) => a + d.syncs, 0);
  const syncedSaves = delta.reduce((a, d) => a + d.syncedSaves, 0);
  t.comment(`burst: ${syncs} fsyncs over 3 databases for ${syncedSaves} synced saves and ${groupIds.length * ENTRIES} committed entries (${(syncs / (groupIds.length * ENTRIES)).toFixed(3)} per commit)`);
  t.ok(syncs > 0 && syncedSaves >= syncs, 'the burst was written with fsyncs');

  // Restart n2 as a store would: close every group and the database, open it again.
  const node = 'n2';
  for (const g of groupIds) {
    await replicas.get(`${g}/${node}`)!.group.close();
    replicas.delete(`${g}/${node}`);
  }
  await dbs.get(node)!.close();
  dbs.set(node, await SharedLogDb.open(join(base, node)));
  t.same(await dbs.get(node)!.groups(), [...groupIds].sort(), 'the re-opened database lists its 12 groups');
  const short: string[] = [];
  for (const g of groupIds) {
    const view = dbs.get(node)!.group(g);
    const { snapshot, entries } = await view.load();
    const last = entries.length > 0 ? entries[entries.length - 1]!.index : (snapshot?.meta.index ?? 0);
    // The leader's no-op of its term comes first, then the burst.
    if (last < ENTRIES + 1) short.push(`${g}: log ends at ${last}`);
    await view.close();
  }
  t.same(short, [], 'each group\'s own log on n2 holds the whole burst');
  for (const g of groupIds) await openReplica(node, g);
  await waitFor(() => groupIds.every((g) => replicas.get(`${g}/${node}`)!.sm.map.size === ENTRIES), 'n2 recovered every group');
  t.equal(replicas.get(`shard-7/${node}`)!.sm.map.get('shard-7-k19'), '19', 'a recovered replica holds the last entry');
});
