// The session-eviction nemesis against a real single-replica shard, and the shard client's
// session-loss rule it exercises: once a burst of session opens has evicted the client's
// session, an idempotent command (confirm, release) is re-sent in a fresh session and
// succeeds; a reserve is not re-run but answered SHARD_ERR_SESSION_EXPIRED (its outcome is
// the caller's to treat as unknown), and the client's next commands work again.
import t, { type Test } from 'tap';
import { sessionsMax } from '../../shards/limits.js';
import type { Agent } from '../../shards/types.js';
import { evictSessions } from './session-evict.js';
import { startSingleReplica } from '../support/single-replica.js';

const { config, shard, replica, client } = await startSingleReplica(t, 'evict');

const dn = '4100';
const evict = async (t: Test): Promise<void> => {
  const r = await evictSessions(config, shard.id, shard.replicas[0]!.id, 120_000);
  t.ok(r.opened > sessionsMax, `the burst opened ${r.opened} sessions (table holds ${sessionsMax})`);
};
const state = async (): Promise<string> => ((await client.read(shard.id, { type: 'agents', filter: {} })) as Agent[]).find((a) => a.dn === dn)!.status.state;

t.test('after an eviction, confirm and release are re-sent; reserve is not re-run; the client recovers', async (t) => {
  for (const cmd of [{ type: 'provision', dn, name: dn, skills: {}, wrapUpMs: 0, maxNoAnswer: 0, credentials: null }, { type: 'login', dn }, { type: 'ready', dn }] as const) {
    t.match(await client.command(dn, cmd), { ok: true }, cmd.type);
  }
  t.match(await client.command(dn, { type: 'reserve', dn, reservationId: 'r1', callId: 'c1', owner: 'test', ttlMs: 60_000 }), { ok: true }, 'reserved before the eviction');

  await evict(t);
  t.match(await client.command(dn, { type: 'confirm', dn, reservationId: 'r1' }), { ok: true }, 'confirm re-sent in a new session after its session was evicted');
  await evict(t);
  t.match(await client.command(dn, { type: 'release', dn, reservationId: 'r1', outcome: 'completed' }), { ok: true }, 'release re-sent likewise');
  t.equal(await state(), 'READY');

  await evict(t);
  const lost = await client.command(dn, { type: 'reserve', dn, reservationId: 'r2', callId: 'c2', owner: 'test', ttlMs: 60_000 });
  t.match(lost, { ok: false, code: 'SHARD_ERR_SESSION_EXPIRED' }, 'a reserve on an evicted session is answered, not silently re-run');
  t.equal(await state(), 'READY', 'and it did not run');
  t.match(await client.command(dn, { type: 'reserve', dn, reservationId: 'r3', callId: 'c3', owner: 'test', ttlMs: 60_000 }), { ok: true }, 'the next reserve runs in a fresh session');
  t.match(await client.command(dn, { type: 'release', dn, reservationId: 'r3', outcome: 'abandoned' }), { ok: true });
});
