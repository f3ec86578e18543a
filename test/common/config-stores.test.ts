// The cluster file's stores (DESIGN.md, multi-raft): replicas placed on stores take the
// store's addresses and data directory; `shards: {count: N}` generates N shards spread
// round-robin; a shard with two replicas on one store is refused, naming the field.
import t from 'tap';
import { ConfigError, findStore, replicaStores, validateClusterConfig } from '../../common/config.js';

const stores = [
  { id: 'a', raft: '127.0.0.1:7101', client: '127.0.0.1:7201', admin: '127.0.0.1:7301' },
  { id: 'b', raft: '127.0.0.1:7102', client: '127.0.0.1:7202', admin: '127.0.0.1:7302', data: '/var/lib/rf/b' },
  { id: 'c', raft: '127.0.0.1:7103', client: '127.0.0.1:7203', admin: '127.0.0.1:7303' },
];
const base = (shards: unknown): Record<string, unknown> => ({
  secret: 'q8w7e6r5t4y3u2i1o0pAaSsDdFfGgHhJjKkLl9',
  tokens: { read: 'read-7c1e5b3d9f0a2c4e6a8b0d2f4a6c8e0b', admin: 'admin-0b8e6c4a2f0d8b6e4c2a0f8d6b4e2c0a' },
  stores,
  shards,
});

function refusal(doc: unknown): ConfigError {
  try {
    validateClusterConfig(doc);
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('accepted');
}

t.test('generated shards spread replicas and preferred leaders over the stores', async (t) => {
  const c = validateClusterConfig(base({ count: 100 }));
  t.equal(c.shards.length, 100);
  t.equal(c.stores?.length, 3);
  const s2 = c.shards[1]!;
  t.same(s2.replicas.map((r) => r.id), ['s2-b', 's2-c', 's2-a']);
  t.equal(s2.preferredLeader, 's2-b');
  t.same(s2.replicas[0]!.client, { host: '127.0.0.1', port: 7202 });
  t.equal(s2.replicas[0]!.data, '/var/lib/rf/b');
  t.equal(s2.replicas[1]!.data, './data/store-c');
  const leaders = new Map<string, number>();
  for (const s of c.shards) {
    const st = s.replicas.find((r) => r.id === s.preferredLeader)!.store!;
    leaders.set(st, (leaders.get(st) ?? 0) + 1);
    t.equal(new Set(s.replicas.map((r) => r.store)).size, 3, `${s.id} on three stores`);
  }
  t.same([...leaders.values()].sort(), [33, 33, 34]);
  t.equal(findStore(c, 'a').hosted.length, 100);
  t.equal(replicaStores(c).get('s7-c')?.id, 'c');
});

t.test('listed replicas may name a store', async (t) => {
  const c = validateClusterConfig(base([{ id: 's1', replicas: [{ id: 'x', store: 'a' }, { id: 'y', store: 'b' }, { id: 'z', raft: '127.0.0.1:9001', client: '127.0.0.1:9002', admin: '127.0.0.1:9003' }] }]));
  t.equal(c.shards[0]!.replicas[0]!.store, 'a');
  t.equal(c.shards[0]!.replicas[2]!.store, undefined);
  t.same(c.shards[0]!.replicas[1]!.raft, { host: '127.0.0.1', port: 7102 });
});

t.test('bad placements are refused, naming the field', async (t) => {
  t.match(refusal(base([{ id: 's1', replicas: [{ id: 'x', store: 'a' }, { id: 'y', store: 'a' }] }])), { field: 'shards[0].replicas[1].store', message: /both on store a/ });
  t.match(refusal(base([{ id: 's1', replicas: [{ id: 'x', store: 'q' }] }])), { field: 'shards[0].replicas[0].store', message: /no store "q"/ });
  t.match(refusal(base([{ id: 's1', replicas: [{ id: 'x', store: 'a', raft: '127.0.0.1:1' }] }])), { field: 'shards[0].replicas[0].raft' });
  t.match(refusal(base({ count: 0 })), { field: 'shards.count' });
  t.match(refusal(base({ count: 3, stores: ['a', 'zz'] })), { field: 'shards.stores[1]' });
  t.match(refusal(base({ count: 3, stores: ['a', 'a'] })), { field: 'shards.stores' });
  t.match(refusal(base({ count: 3, replicas: 4 })), { field: 'shards.replicas' });
  t.match(refusal(base({ count: 3, cuont: 1 })), { field: 'shards.cuont', message: /did you mean count/ });
  t.match(refusal({ ...base({ count: 1 }), stores: [...stores, stores[0]] }), { field: 'stores' });
});

t.test('a store that replaces another joins every shard of it, and takes its preferred leaders', async (t) => {
  const d = { id: 'd', raft: '127.0.0.1:7104', client: '127.0.0.1:7204', admin: '127.0.0.1:7304', replaces: 'c' };
  const c = validateClusterConfig({ ...base({ count: 6 }), stores: [...stores, d] });
  t.equal(c.stores?.find((st) => st.id === 'd')?.replaces, 'c');
  for (const s of c.shards) {
    const onC = s.replicas.find((r) => r.store === 'c')!;
    const joiner = s.replicas.find((r) => r.store === 'd');
    t.match(joiner, { id: `${s.id}-d`, join: true, raft: { port: 7104 } }, `${s.id}: a joining replica on d beside ${onC.id}`);
    t.equal(s.replicas.filter((r) => !r.join).length, 3, `${s.id}: the bootstrap voters are unchanged`);
  }
  t.same(c.shards.map((s) => s.preferredLeader), ['s1-a', 's2-b', 's3-d', 's4-a', 's5-b', 's6-d'], 'the shards c was to lead prefer d');
  // The placement on a, b, c is the one without d: the replacing store is in no ring.
  const without = validateClusterConfig(base({ count: 6 }));
  t.same(c.shards.map((s) => s.replicas.filter((r) => r.store !== 'd').map((r) => r.id)), without.shards.map((s) => s.replicas.map((r) => r.id)));
  t.equal(findStore(c, 'd').hosted.length, 6);
  // Once every shard moved, d in c's line (no `replaces`) places the same replicas, the
  // same preferred leaders: the README's last step.
  const after = validateClusterConfig({ ...base({ count: 6 }), stores: [stores[0], stores[1], { ...d, replaces: undefined }] });
  const members = (x: typeof c): string[][] => x.shards.map((s) => s.replicas.filter((r) => r.store !== 'c').map((r) => r.id).sort());
  t.same(members(after), members(c));
  t.same(after.shards.map((s) => s.preferredLeader), c.shards.map((s) => s.preferredLeader));
});

t.test('bad replacements are refused, naming the field', async (t) => {
  const d = (extra: Record<string, unknown>): Record<string, unknown> => ({ id: 'd', raft: '127.0.0.1:7104', client: '127.0.0.1:7204', admin: '127.0.0.1:7304', ...extra });
  t.match(refusal({ ...base({ count: 2 }), stores: [...stores, d({ replaces: 'q' })] }), { field: 'stores[3].replaces', message: /no store "q"/ });
  t.match(refusal({ ...base({ count: 2 }), stores: [...stores, d({ replaces: 'd' })] }), { field: 'stores[3].replaces', message: /cannot replace itself/ });
  t.match(refusal({ ...base({ count: 2 }), stores: [...stores, d({ replaces: 'c' }), { ...d({ replaces: 'c' }), id: 'e' }] }), { field: 'stores[4].replaces', message: /already replaced by d/ });
  t.match(refusal({ ...base({ count: 2 }), stores: [...stores, d({ replaces: 'c' }), { ...d({ replaces: 'd' }), id: 'e' }] }), { field: 'stores[4].replaces', message: /d itself replaces c: let e replace c instead/ });
  t.match(refusal({ ...base({ count: 2, stores: ['a', 'b', 'd'] }), stores: [...stores, d({ replaces: 'c' })] }), { field: 'shards.stores[2]', message: /store d replaces c: list c here/ });
  t.match(refusal({ ...base([{ id: 's1', replicas: [{ id: 'x', store: 'a' }] }]), stores: [...stores, d({ replaces: 'c' })] }), { field: 'stores[3].replaces', message: /only with shards: \{count\}/ });
});
