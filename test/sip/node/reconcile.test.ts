// Proves the restart clean-up (sip/node/reconcile.ts) without shards or sockets: every
// shard gets releaseByOwner for the node id; a shard that throws or refuses is retried
// with backoff (100 ms doubling, capped at 2 s) until it succeeds, and `done` resolves
// only then; stop() ends the retries and resolves `done` without another try. A fake
// shard client scripts each shard's answers; the fake sleep records the delays and
// resolves at once (or holds until the test releases it).

import t from 'tap';
import { silentLogger } from '../../../common/logger.js';
import type { Command, ShardResult } from '../../../shards/types.js';
import { Reconcile } from '../../../sip/node/reconcile.js';

type Answer = 'throw' | 'refuse' | 'ok';

function fakeShards(script: Record<string, Answer[]>) {
  const calls: { shardId: string; command: Command }[] = [];
  return {
    calls,
    shards: {
      shardIds: Object.keys(script),
      async commandOnShard(shardId: string, command: Command): Promise<ShardResult> {
        calls.push({ shardId, command });
        const answer = script[shardId]!.shift() ?? 'ok';
        if (answer === 'throw') throw new Error('no leader');
        if (answer === 'refuse') return { ok: false, code: 'SHARD_ERR_TOO_MANY_PENDING', reason: 'the session has too many unacknowledged results' };
        return { ok: true, type: 'releasedByOwner', released: [{ dn: '1001', reservationId: 'r1' }] };
      },
    },
  };
}

t.test('retries each shard until releaseByOwner succeeds', async (t) => {
  const { calls, shards } = fakeShards({ s1: ['throw', 'refuse', 'throw', 'ok'], s2: ['ok'] });
  const delays: number[] = [];
  const r = new Reconcile({ shards, owner: 'sip1', log: silentLogger, sleep: async (ms) => void delays.push(ms) });
  await r.done;
  t.same(calls.filter((c) => c.shardId === 's1').length, 4, 's1 asked until it succeeded');
  t.same(calls.filter((c) => c.shardId === 's2').length, 1, 's2 asked once');
  t.ok(calls.every((c) => c.command.type === 'releaseByOwner' && (c.command as { owner: string }).owner === 'sip1'), 'releaseByOwner for this node id');
  t.same(delays, [100, 200, 400], 'backoff doubles from 100 ms');
});

t.test('backoff is capped at 2 s', async (t) => {
  const { shards } = fakeShards({ s1: Array<Answer>(8).fill('throw') });
  const delays: number[] = [];
  await new Reconcile({ shards, owner: 'sip1', log: silentLogger, sleep: async (ms) => void delays.push(ms) }).done;
  t.same(delays, [100, 200, 400, 800, 1600, 2000, 2000, 2000]);
});

t.test('stop ends the retries and resolves done', async (t) => {
  const { calls, shards } = fakeShards({ s1: Array<Answer>(100).fill('throw') });
  let wake: (() => void) | null = null;
  const r = new Reconcile({ shards, owner: 'sip1', log: silentLogger, sleep: () => new Promise<void>((resolve) => { wake = resolve; }) });
  let finished = false;
  void r.done.then(() => { finished = true; });
  await new Promise((resolve) => setImmediate(resolve));
  t.equal(calls.length, 1, 'first try made, now waiting to retry');
  t.notOk(finished, 'not done while a shard has not answered');
  r.stop();
  wake!();
  await r.done;
  t.equal(calls.length, 1, 'no try after stop');
  t.ok(finished);
});

t.test('no shards: done at once', async (t) => {
  const { calls, shards } = fakeShards({});
  await new Reconcile({ shards, owner: 'sip1', log: silentLogger, sleep: async () => undefined }).done;
  t.equal(calls.length, 0);
});
