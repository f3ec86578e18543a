// Threat: a SIP node that dies for good (never restarts) left its agents BUSY forever —
// BUSY grants had no lease, and logout/ready refuse a BUSY agent. Proves with real shard
// replica processes that grants now belong to a lease the node renews: while a node's
// lease keeper runs its BUSY agent stays BUSY (past several lease times); once it stops
// for good, the shard leader frees that agent through its orphan hold into WRAP_UP and
// then READY, with `expireLease` in the change feed, while another live node's BUSY agent
// is untouched.
import t from 'tap';
import { silentLogger } from '../../common/logger.js';
import type { Agent, FeedRecord, ShardResult } from '../../shards/types.js';
import { LeaseKeeper } from '../../sip/node/lease-keeper.js';
import { SystemTimerService } from '../../sip/transport/index.js';
import { startShardCluster } from '../support/shard-cluster.js';

const ttlMs = 2000;

t.test('a dead node\'s agents come back after its lease; a live node\'s stay', { timeout: 240_000 }, async (t) => {
  const cluster = await startShardCluster(t, { shards: 1 });
  const { client } = cluster;
  const ok = (r: ShardResult, what: string): ShardResult => {
    if (!r.ok) throw new Error(`${what}: ${JSON.stringify(r)}`);
    return r;
  };
  for (const dn of ['4001', '4002']) {
    ok(await client.command(dn, { type: 'provision', dn, name: `Agent ${dn}`, skills: { s: 50 }, wrapUpMs: 0, maxNoAnswer: 0, credentials: null }), 'provision');
    ok(await client.command(dn, { type: 'login', dn }), 'login');
    ok(await client.command(dn, { type: 'ready', dn }), 'ready');
  }
  const timers = new SystemTimerService();
  const keeperOf = (owner: string) => new LeaseKeeper({ shards: client, owner, ttlMs, timers, log: silentLogger, onLost: () => {} });
  const doomed = keeperOf('sip-doomed');
  const live = keeperOf('sip-live');
  t.teardown(() => {
    doomed.stop();
    live.stop();
  });
  await Promise.all([doomed.firstRenewed, live.firstRenewed]);
  const busy = async (dn: string, owner: string): Promise<void> => {
    ok(await client.command(dn, { type: 'reserve', dn, reservationId: `r-${dn}`, callId: `c-${dn}`, owner, ttlMs: 30_000, orphanHoldMs: 1000 }), 'reserve');
    ok(await client.command(dn, { type: 'confirm', dn, reservationId: `r-${dn}` }), 'confirm');
  };
  await busy('4001', 'sip-doomed');
  await busy('4002', 'sip-live');
  const stateOf = async (dn: string): Promise<Agent['status']['state']> =>
    ((await client.read('s1', { type: 'agent', dn }, 'linearizable', { deadlineMs: 20_000 })) as Agent).status.state;

  await new Promise((r) => setTimeout(r, 3 * ttlMs));
  t.same([await stateOf('4001'), await stateOf('4002')], ['BUSY', 'BUSY'], 'both stay BUSY while their nodes renew, over three lease times');

  const changes: FeedRecord[] = [];
  const unfollow = client.follow('s1', 0, (page) => changes.push(...page.changes));
  t.teardown(unfollow);
  doomed.stop();
  const seen: string[] = [];
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const state = await stateOf('4001');
    if (seen.at(-1) !== state) seen.push(state);
    if (state === 'READY') break;
    await new Promise((r) => setTimeout(r, 100));
  }
  t.equal(seen.at(-1), 'READY', `the dead node's agent came back (states seen: ${seen.join(' → ')})`);
  t.equal(await stateOf('4002'), 'BUSY', 'the live node\'s agent is untouched');
  t.ok(changes.some((c) => c.dn === '4001' && c.kind === 'expireLease'), 'the change feed says the lease expired');
  t.notOk(changes.some((c) => c.dn === '4002' && c.kind === 'expireLease'), 'and not for the live node\'s agent');
  const r = await client.command('4001', { type: 'reserve', dn: '4001', reservationId: 'r-again', callId: 'c-again', owner: 'sip-live', ttlMs: 30_000 });
  t.match(r, { ok: true, type: 'reserved' }, 'the freed agent can take a new call');
});
