// Proves shardOf: the same placement as every earlier release (a cluster being upgraded
// one process at a time must agree on who owns a DN); pure and independent of the order
// of the shard list; spreads DNs evenly
// (each of 8 shards within ±10% of the mean over 10,000 DNs); adding a shard moves only
// DNs onto the new shard, about 1/(n+1) of them; removing one moves only its own DNs.

import { createHash } from 'node:crypto';
import t from 'tap';
import { ShardClient } from '../../shards/client/shard-client.js';
import { shardOf } from '../../shards/shard-map.js';

const dns = Array.from({ length: 10_000 }, (_, i) => String(100_000 + i * 7));
const shards = Array.from({ length: 8 }, (_, i) => `shard-${i}`);
const owners = dns.map((dn) => shardOf(dn, shards));

t.test('the placement every release has used: highest 48 bits of SHA-256(shard NUL dn)', async (t) => {
  // The formula as first written, with a Hash object per score.
  const reference = (dn: string, ids: readonly string[]): string => {
    let best = '';
    let bestScore = -1;
    for (const id of ids) {
      const s = createHash('sha256').update(id).update('\u0000').update(dn).digest().readUIntBE(0, 6);
      if (s > bestScore || (s === bestScore && id < best)) [best, bestScore] = [id, s];
    }
    return best;
  };
  const differ = dns.slice(0, 2000).filter((dn, i) => owners[i] !== reference(dn, shards));
  t.same(differ, [], 'shardOf agrees with the reference on 2,000 DNs over 8 shards');
  const hundred = Array.from({ length: 100 }, (_, i) => `s${i + 1}`);
  t.same(['100000', '100001', '3001'].map((dn) => shardOf(dn, hundred)), ['100000', '100001', '3001'].map((dn) => reference(dn, hundred)), 'and over 100 shards');
});

t.test('pure and order-independent', async (t) => {
  const reversed = [...shards].reverse();
  const mismatched = dns.slice(0, 1000).filter((dn, i) => shardOf(dn, reversed) !== owners[i]);
  t.same(mismatched, []);
  t.equal(shardOf('1001', ['only']), 'only');
  t.throws(() => shardOf('1001', []));
  t.throws(() => shardOf('1001', ['a', 'a']));
});

t.test('balanced over 8 shards', async (t) => {
  const counts = new Map<string, number>();
  for (const owner of owners) counts.set(owner, (counts.get(owner) ?? 0) + 1);
  const mean = dns.length / shards.length;
  t.equal(counts.size, shards.length, 'every shard owns DNs');
  for (const [id, n] of counts) t.ok(Math.abs(n - mean) / mean < 0.1, `${id} owns ${n} (mean ${mean})`);
});

t.test('adding a shard moves about 1/9 of the DNs, all onto the new shard', async (t) => {
  const grown = [...shards, 'shard-8'];
  let moved = 0;
  for (const [i, dn] of dns.entries()) {
    const before = owners[i]!;
    const after = shardOf(dn, grown);
    if (before !== after) {
      moved += 1;
      if (after !== 'shard-8') t.fail(`${dn} moved from ${before} to ${after}`);
    }
  }
  const fraction = moved / dns.length;
  t.ok(fraction > 0.09 && fraction < 0.13, `moved ${(fraction * 100).toFixed(1)}%`);
});

t.test('removing a shard moves only its own DNs', async (t) => {
  const shrunk = shards.filter((id) => id !== 'shard-3');
  let wrong = 0;
  for (const [i, dn] of dns.entries()) {
    const before = owners[i]!;
    if (before !== 'shard-3' && shardOf(dn, shrunk) !== before) wrong += 1;
  }
  t.equal(wrong, 0);
});

t.test('the client remembers owners without changing them', async (t) => {
  const shards = ['s1', 's2', 's3'].map((id) => ({ id, replicas: [{ id: `${id}-a`, client: { host: '127.0.0.1', port: 1 } }] }));
  const client = new ShardClient({ shards, auth: { secret: 'no replica is ever dialled here', principal: 'launcher' } });
  t.teardown(() => client.close());
  const dns = Array.from({ length: 500 }, (_, i) => String(1000 + i));
  for (let pass = 0; pass < 2; pass++) {
    t.ok(dns.every((dn) => client.shardFor(dn) === shardOf(dn, ['s1', 's2', 's3'])), `pass ${pass + 1}: shardFor equals shardOf for every DN`);
  }
});
