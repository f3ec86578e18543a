// Proves the SIP node's side of its shard leases (sip/node/lease-keeper.ts) on a fake
// clock: it renews on every shard every third of the lease, says when every shard has
// granted a first renewal (routing waits for it), and when renewals stop being
// acknowledged it calls onLost for that shard no later than one lease after the last
// acknowledged renewal was SENT — before the shard, which counts from when it applied it,
// can free the node's agents — and recovers when renewals succeed again.
import t from 'tap';
import { silentLogger } from '../../../common/logger.js';
import type { Command, ShardResult } from '../../../shards/types.js';
import { LeaseKeeper } from '../../../sip/node/lease-keeper.js';
import { FakeClock } from '../../../sip/transport/index.js';

const ttlMs = 3000;

function fakeShards(clock: FakeClock, answerAfterMs: number) {
  const sent: { shardId: string; atMs: number; command: Command }[] = [];
  const down = new Set<string>();
  return {
    sent,
    down,
    shardIds: ['s1', 's2'],
    commandOnShard(shardId: string, command: Command): Promise<ShardResult> {
      sent.push({ shardId, atMs: clock.now(), command });
      return new Promise((resolve, reject) => {
        clock.setTimer(answerAfterMs, () => {
          if (down.has(shardId)) reject(new Error('no leader'));
          else resolve({ ok: true, type: 'leaseRenewed', lease: { owner: 'sip1', ttlMs, renewedIndex: sent.length, renewedAtMs: 0 } });
        });
      });
    },
  };
}

async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await Promise.resolve();
}

/** Moves the fake clock in 100 ms steps, letting promise callbacks run between them as
 * real time would. */
async function pass(clock: FakeClock, ms: number): Promise<void> {
  for (let left = ms; left > 0; left -= 100) {
    clock.advance(Math.min(100, left));
    await settle();
  }
}

t.test('renews every third of the lease and reports a lease it cannot keep', async (t) => {
  const clock = new FakeClock(0);
  const shards = fakeShards(clock, 100);
  const lost: { shardId: string; atMs: number }[] = [];
  const keeper = new LeaseKeeper({ shards, owner: 'sip1', ttlMs, timers: clock, log: silentLogger, onLost: (shardId) => lost.push({ shardId, atMs: clock.now() }) });
  t.teardown(() => keeper.stop());
  let first = false;
  void keeper.firstRenewed.then(() => (first = true));
  t.same(shards.sent.map((s) => s.shardId), ['s1', 's2'], 'a renewal to every shard at once');
  t.same(shards.sent[0]!.command, { type: 'renewLease', owner: 'sip1', ttlMs });
  await pass(clock, 100);
  t.ok(first, 'firstRenewed once every shard acknowledged');
  t.ok(keeper.holds('s1') && keeper.holds('s2'));

  await pass(clock, 2000);
  t.same(shards.sent.map((s) => s.atMs), [0, 0, 1000, 1000, 2000, 2000], 'one renewal per shard every ttl/3');

  // s2 loses its leader: renewals fail from the one sent at 3000 on. The last
  // acknowledged renewal was sent at 2000, so the node's view ends at 5000.
  shards.down.add('s2');
  await pass(clock, 4000);
  t.same(lost.map((l) => l.shardId), ['s2'], 'only the shard that stopped acknowledging is lost');
  t.ok(lost[0]!.atMs >= 5000 && lost[0]!.atMs <= 5000 + keeper.renewIntervalMs, `lost at ${lost[0]!.atMs} ms: within a renewal interval after the lease the node last secured`);
  t.notOk(keeper.holds('s2'));
  t.ok(keeper.holds('s1'), 's1 is kept');

  shards.down.delete('s2');
  await pass(clock, 2000);
  t.ok(keeper.holds('s2'), 'renewed again once the shard answers');
  t.equal(lost.length, 1, 'onLost once per loss');
});

t.test('stop ends the renewals', async (t) => {
  const clock = new FakeClock(0);
  const shards = fakeShards(clock, 10);
  const keeper = new LeaseKeeper({ shards, owner: 'sip1', ttlMs, timers: clock, log: silentLogger, onLost: () => t.fail('no loss after stop') });
  keeper.stop();
  const before = shards.sent.length;
  clock.advance(20_000);
  await settle();
  t.equal(shards.sent.length, before, 'nothing sent after stop');
  t.throws(() => new LeaseKeeper({ shards, owner: '', ttlMs, timers: clock, log: silentLogger, onLost: () => {} }), { code: 'ERR_ASSERTION' });
});
