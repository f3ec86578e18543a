// A READY agent on the dashboard, from a real replica: its readySinceMs is the shard's
// entry time, which the replica's clock (shards/node/leader-clock.ts) took from the
// monotonic clock with microsecond fractions. The dashboard's schema says integer, so
// GET /v1/dashboard answered 500 for as long as any agent was READY — found by `npm run
// fuzz`, the 10,000-request run in `npm test` never met a READY agent at that moment.
// Now times are whole milliseconds and the snapshot answers 200.
import { Registry } from 'prom-client';
import t from 'tap';
import { createAdminApp } from '../../../common/admin.js';
import { dashboardRoutes } from '../../../cluster/dashboard/dashboard-routes.js';
import type { Snapshot } from '../../../cluster/dashboard/snapshot-source.js';
import { startSingleReplica } from '../../support/single-replica.js';

const { config, client } = await startSingleReplica(t, 'dashboard-ready');
const dn = '4800';
for (const cmd of [{ type: 'provision', dn, name: 'Ada', skills: {}, wrapUpMs: 0, maxNoAnswer: 0, credentials: null }, { type: 'login', dn }, { type: 'ready', dn }] as const) {
  const r = await client.command(dn, cmd);
  if (!r.ok) throw new Error(`${cmd.type}: ${r.code}`);
}
const app = await createAdminApp({ title: 'dashboard with a READY agent', tokens: config.tokens, registry: new Registry() });
await app.register(dashboardRoutes, { config, self: { role: 'sip', id: 'sip1' }, shardClient: client, peerTimeoutMs: 1000, pollIntervalMs: 200, sseClientsMax: 2 });
t.teardown(() => app.close());

t.test('the snapshot shows a READY agent with a whole-millisecond readySinceMs', async (t) => {
  let res = await app.inject({ method: 'GET', url: '/v1/dashboard', headers: { authorization: `Bearer ${config.tokens.read}` } });
  for (let i = 0; i < 50 && res.statusCode === 200 && !(res.json() as Snapshot).agents.list.some((a) => a.dn === dn); i++) {
    await new Promise((r) => setTimeout(r, 100));
    res = await app.inject({ method: 'GET', url: '/v1/dashboard', headers: { authorization: `Bearer ${config.tokens.read}` } });
  }
  t.equal(res.statusCode, 200, `200, not a schema failure: ${res.body.slice(0, 300)}`);
  const row = (res.json() as Snapshot).agents.list.find((a) => a.dn === dn);
  t.match(row, { state: 'READY' });
  t.ok(Number.isInteger(row?.readySinceMs), `readySinceMs ${row?.readySinceMs} is whole milliseconds`);
});
