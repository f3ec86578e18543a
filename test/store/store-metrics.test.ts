// The store's own series (shards/node/store-status.ts storeMetrics) read one walk of the
// hosted replicas per scrape: at 100 shards each walk builds 100 statuses, and the nine
// series of then used to walk them nine times. A later scrape walks again, so values stay current.
import { setImmediate as nextTurn } from 'node:timers/promises';
import t from 'tap';
import { Registry } from 'prom-client';
import { storeMetrics, type StoreFigures } from '../../shards/node/store-status.js';

t.test('one walk per scrape, a fresh one for the next', async (t) => {
  const registry = new Registry();
  let walks = 0;
  let entries = 10;
  storeMetrics(registry, (): StoreFigures => {
    walks++;
    return {
      storeId: 'a', statuses: [], host: { quiesced: 0, peerStoresAlive: { b: true } }, log: { writes: 3, syncs: 2, saves: 5, ops: 9 },
      changeFeed: { records: 7, perShardMax: 655 }, logInMemory: { entries, entriesMax: 30_000, snapshotEveryEntries: { min: 100, max: 1000 } },
    };
  });
  const first = await registry.metrics();
  t.equal(walks, 1, 'every series of one scrape read the same walk');
  t.match(first, /^ringfence_store_log_entries_in_memory 10$/m);
  t.match(first, /^ringfence_store_log_syncs_total 2$/m);
  t.match(first, /^ringfence_store_log_ops_total 9$/m, 'the key puts and deletes of the shared log');
  t.match(first, /^ringfence_store_peers_alive 1$/m);
  entries = 20;
  await nextTurn();
  const second = await registry.metrics();
  t.equal(walks, 2, 'the next scrape walks again');
  t.match(second, /^ringfence_store_log_entries_in_memory 20$/m, 'and shows what changed');
});
