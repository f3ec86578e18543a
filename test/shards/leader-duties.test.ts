// The duty timer that turns time into log entries (reservation expiry, wrap-up end,
// contact expiry) runs only on the leader, started and stopped by role changes. Proves
// with real processes that the duty moves with leadership: a grant made under one leader
// and never confirmed expires under the next one after the first is SIGKILLed, and an
// agent's wrap-up that began under the new leader ends after the old one rejoins as a
// follower (so the restarted replica did not take the duty with it, nor block it).
import t from 'tap';
import type { Agent, ShardResult } from '../../shards/types.js';
import { startShardCluster } from '../support/shard-cluster.js';

const dn = '3001';

async function agentState(cluster: Awaited<ReturnType<typeof startShardCluster>>): Promise<Agent> {
  const agents = (await cluster.client.read('s1', { type: 'agents', filter: {} }, 'linearizable', { deadlineMs: 20_000 })) as Agent[];
  const a = agents.find((x) => x.dn === dn);
  if (a === undefined) throw new Error(`${dn} not found`);
  return a;
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

t.test('leader duties follow the leader across a SIGKILL', { timeout: 240_000 }, async (t) => {
  const cluster = await startShardCluster(t, { shards: 1 });
  const { client } = cluster;
  const ok = (r: ShardResult, what: string): void => {
    if (!r.ok) throw new Error(`${what}: ${JSON.stringify(r)}`);
  };
  ok(await client.command(dn, { type: 'provision', dn, name: 'Duty', skills: { s: 50 }, wrapUpMs: 5000, maxNoAnswer: 0, credentials: null }), 'provision');
  ok(await client.command(dn, { type: 'login', dn }), 'login');
  ok(await client.command(dn, { type: 'ready', dn }), 'ready');

  const first = await cluster.leaderOf('s1');
  const grant = await client.command(dn, { type: 'reserve', dn, reservationId: 'r-orphan', callId: 'c-orphan', owner: 'node-gone', ttlMs: 2000 });
  t.match(grant, { ok: true, agent: { status: { state: 'RESERVED' } } }, 'granted under the first leader');

  await cluster.procs.kill(first);
  const second = await cluster.leaderOf('s1');
  t.not(second, first, 'another replica leads');
  await until('the orphaned grant to expire', async () => (await agentState(cluster)).status.state === 'READY');
  t.pass('the grant expired under the new leader');

  // The old leader comes back as a follower; a wrap-up started now must still end.
  await cluster.procs.restart(first);
  ok(await client.command(dn, { type: 'reserve', dn, reservationId: 'r-2', callId: 'c-2', owner: 'node-1', ttlMs: 30_000 }), 'reserve');
  ok(await client.command(dn, { type: 'confirm', dn, reservationId: 'r-2' }), 'confirm');
  const released = await client.command(dn, { type: 'release', dn, reservationId: 'r-2', outcome: 'completed' });
  t.match(released, { ok: true, agent: { status: { state: 'WRAP_UP' } } }, 'released into a 5 s wrap-up');
  await until('wrap-up to end', async () => (await agentState(cluster)).status.state === 'READY');
  t.pass('wrap-up ended with the old leader back');
});
