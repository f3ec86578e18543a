// The shard admin REST, route by route, through fastify's inject() against a real
// single-replica shard (Raft over LevelDB in a temp dir): good requests work, and every
// route answers a missing token with 401, a wrong or read-only token with 401/403, a
// malformed body or parameter with 400 and a problem body naming the field, an unknown
// DN with 404 — and nothing is half-applied.
import t from 'tap';
import { startSingleReplica } from '../support/single-replica.js';

const { config, shard, replica } = await startSingleReplica(t, 'admin');
const { app } = replica;
const admin = { authorization: `Bearer ${config.tokens.admin}` };
const reader = { authorization: `Bearer ${config.tokens.read}` };
const wrong = { authorization: 'Bearer not-a-token' };

type Route = { method: 'GET' | 'PUT' | 'POST' | 'DELETE'; url: string; body?: unknown; scope: 'read' | 'admin' };
const routes: Route[] = [
  { method: 'GET', url: '/v1/status', scope: 'read' },
  { method: 'GET', url: '/v1/agents', scope: 'read' },
  { method: 'GET', url: '/v1/agents/3001', scope: 'read' },
  { method: 'PUT', url: '/v1/agents/3001', body: { name: 'Ada', skills: { support: 80 } }, scope: 'admin' },
  { method: 'POST', url: '/v1/agents/3001/state', body: { state: 'READY' }, scope: 'admin' },
  { method: 'POST', url: '/v1/agents/3001/release', body: { reason: 'stuck' }, scope: 'admin' },
  { method: 'DELETE', url: '/v1/agents/3001', scope: 'admin' },
  { method: 'GET', url: '/v1/reservations', scope: 'read' },
  { method: 'POST', url: '/v1/leader/transfer', body: { to: shard.replicas[0]!.id }, scope: 'admin' },
  { method: 'POST', url: '/v1/members', body: { id: 'x1', raft: '127.0.0.1:1' }, scope: 'admin' },
  { method: 'DELETE', url: '/v1/members/x1', scope: 'admin' },
  { method: 'GET', url: '/metrics', scope: 'read' },
];

t.test('a provisioned agent goes READY and shows up in listings', async (t) => {
  const put = await app.inject({ method: 'PUT', url: '/v1/agents/3001', headers: admin, payload: { name: 'Ada', skills: { support: 80 }, wrapUpMs: 1000, password: 'secret1' } });
  t.equal(put.statusCode, 200, put.body);
  t.equal(put.json().dn, '3001');
  t.same(put.json().credentials, { user: '3001', realm: config.realm }, 'credentials are set; their digest hashes never leave the shard through the admin REST');
  t.notMatch(put.body, /secret1/, 'the password never comes back');
  const ready = await app.inject({ method: 'POST', url: '/v1/agents/3001/state', headers: admin, payload: { state: 'READY' } });
  t.equal(ready.statusCode, 200, ready.body);
  t.equal(ready.json().status.state, 'READY');
  const list = await app.inject({ method: 'GET', url: '/v1/agents?state=READY&skill=support', headers: reader });
  t.equal(list.statusCode, 200);
  t.same(list.json().map((a: { dn: string }) => a.dn), ['3001']);
  const none = await app.inject({ method: 'GET', url: '/v1/agents?state=BUSY', headers: reader });
  t.same(none.json(), []);
  const nr = await app.inject({ method: 'POST', url: '/v1/agents/3001/state', headers: admin, payload: { state: 'NOT_READY', reason: 'lunch' } });
  t.same(nr.json().status, { state: 'NOT_READY', reason: 'lunch' });
  const status = await app.inject({ method: 'GET', url: '/v1/status', headers: reader });
  t.equal(status.json().role, 'leader');
  t.equal(status.json().pid, process.pid);
  t.ok(status.json().commit > 0);
  const metrics = await app.inject({ method: 'GET', url: '/metrics', headers: reader });
  t.match(metrics.body, /ringfence_raft_term\{[^}]*\} [1-9]/);
  t.match(metrics.body, /ringfence_apply_seconds_count/);
  t.match(metrics.body, /^ringfence_agents\{state="NOT_READY",shard="[^"]+",replica="[^"]+"\} 1$/m, 'the leader counts its NOT_READY agent');
  t.match(metrics.body, /^ringfence_agents\{state="READY",[^}]*\} 0$/m, 'and every other state at 0');
  const docs = await app.inject({ method: 'GET', url: '/docs/json' });
  t.equal(docs.statusCode, 200, 'OpenAPI needs no token');
  t.ok(docs.json().paths['/v1/agents/{dn}'], 'OpenAPI lists the agent routes');
});

t.test('every route refuses a missing or wrong token', async (t) => {
  for (const r of routes) {
    const missing = await app.inject({ method: r.method, url: r.url, payload: r.body as object | undefined });
    t.equal(missing.statusCode, 401, `${r.method} ${r.url} without a token`);
    t.equal(missing.headers['content-type'], 'application/problem+json; charset=utf-8');
    t.equal(missing.json().code, 'ADMIN_ERR_UNAUTHORIZED');
    const bad = await app.inject({ method: r.method, url: r.url, headers: wrong, payload: r.body as object | undefined });
    t.equal(bad.statusCode, 401, `${r.method} ${r.url} with a wrong token`);
    if (r.scope === 'admin') {
      const ro = await app.inject({ method: r.method, url: r.url, headers: reader, payload: r.body as object | undefined });
      t.equal(ro.statusCode, 403, `${r.method} ${r.url} with the read-only token`);
      t.equal(ro.json().code, 'ADMIN_ERR_FORBIDDEN');
    }
  }
});

t.test('malformed bodies and parameters get 400 naming the field', async (t) => {
  const cases: { method: 'GET' | 'PUT' | 'POST' | 'DELETE'; url: string; payload?: unknown; field: RegExp }[] = [
    { method: 'PUT', url: '/v1/agents/3002', payload: { skills: { support: 50 } }, field: /name/ },
    { method: 'PUT', url: '/v1/agents/3002', payload: { name: 'B', skills: { support: 150 } }, field: /skills/ },
    { method: 'PUT', url: '/v1/agents/3002', payload: { name: 'B', wrapUpMs: -1 }, field: /wrapUpMs/ },
    { method: 'PUT', url: '/v1/agents/abc', payload: { name: 'B' }, field: /dn/ },
    { method: 'POST', url: '/v1/agents/3001/state', payload: { state: 'SLEEPING' }, field: /state/ },
    { method: 'POST', url: '/v1/agents/3001/state', payload: {}, field: /state/ },
    { method: 'POST', url: '/v1/agents/3001/release', payload: {}, field: /reason/ },
    { method: 'POST', url: '/v1/agents/3001/release', payload: { reason: '' }, field: /reason/ },
    { method: 'GET', url: '/v1/agents?state=HAPPY', field: /state/ },
    { method: 'GET', url: '/v1/agents/12x', field: /dn/ },
    { method: 'POST', url: '/v1/leader/transfer', payload: {}, field: /to/ },
    { method: 'POST', url: '/v1/leader/transfer', payload: { to: 'nobody' }, field: /to/ },
    { method: 'POST', url: '/v1/members', payload: { id: 'x1', raft: 'not an address' }, field: /raft/ },
    { method: 'DELETE', url: '/v1/members/bad%20id', field: /id/ },
    { method: 'DELETE', url: '/v1/agents/12x', field: /dn/ },
  ];
  for (const c of cases) {
    const res = await app.inject({ method: c.method, url: c.url, headers: admin, payload: c.payload as object | undefined });
    t.equal(res.statusCode, 400, `${c.method} ${c.url} ${JSON.stringify(c.payload)} → ${res.body}`);
    t.match(res.json().field ?? '', c.field, `the problem names the field (${res.json().field})`);
  }
  const notJson = await app.inject({ method: 'PUT', url: '/v1/agents/3002', headers: { ...admin, 'content-type': 'application/json' }, payload: '{"name": ' });
  t.equal(notJson.statusCode, 400, 'unparsable JSON');
  t.equal(notJson.json().status, 400);
  const after = await app.inject({ method: 'GET', url: '/v1/agents/3002', headers: reader });
  t.equal(after.statusCode, 404, 'nothing was provisioned by the rejected requests');
});

t.test('unknown DNs and members get 404 without side effects', async (t) => {
  const get = await app.inject({ method: 'GET', url: '/v1/agents/3999', headers: reader });
  t.equal(get.statusCode, 404);
  t.equal(get.json().code, 'SHARD_ERR_UNKNOWN_DN');
  const state = await app.inject({ method: 'POST', url: '/v1/agents/3999/state', headers: admin, payload: { state: 'READY' } });
  t.equal(state.statusCode, 404);
  t.match(state.json().field, /dn/);
  const del = await app.inject({ method: 'DELETE', url: '/v1/members/ghost', headers: admin });
  t.equal(del.statusCode, 404);
  const route = await app.inject({ method: 'GET', url: '/v1/nothing', headers: reader });
  t.equal(route.statusCode, 404);
  const list = await app.inject({ method: 'GET', url: '/v1/agents', headers: reader });
  t.same(list.json().map((a: { dn: string }) => a.dn), ['3001'], 'no agent appeared');
});

t.test('an operator frees a stuck BUSY agent, and only a held one', async (t) => {
  const put = await app.inject({ method: 'PUT', url: '/v1/agents/3005', headers: admin, payload: { name: 'Stuck', skills: { support: 50 }, wrapUpMs: 60_000 } });
  t.equal(put.statusCode, 200, put.body);
  t.equal((await app.inject({ method: 'POST', url: '/v1/agents/3005/state', headers: admin, payload: { state: 'READY' } })).statusCode, 200);
  t.match(await replica.client.command('3005', { type: 'reserve', dn: '3005', reservationId: 'r-stuck', callId: 'c-stuck', owner: 'sip-gone', ttlMs: 30_000 }), { ok: true });
  t.match(await replica.client.command('3005', { type: 'confirm', dn: '3005', reservationId: 'r-stuck' }), { ok: true, agent: { status: { state: 'BUSY' } } });

  const wrongId = await app.inject({ method: 'POST', url: '/v1/agents/3005/release', headers: admin, payload: { reason: 'stuck', reservationId: 'r-other' } });
  t.equal(wrongId.statusCode, 409, 'a release naming another reservation is refused');
  t.equal(wrongId.json().code, 'SHARD_ERR_STALE_RESERVATION');
  const reader403 = await app.inject({ method: 'POST', url: '/v1/agents/3005/release', headers: reader, payload: { reason: 'stuck' } });
  t.equal(reader403.statusCode, 403, 'the read token cannot free agents');
  t.equal((await app.inject({ method: 'GET', url: '/v1/agents/3005', headers: reader })).json().status.state, 'BUSY', 'refused requests changed nothing');

  const freed = await app.inject({ method: 'POST', url: '/v1/agents/3005/release', headers: admin, payload: { reason: 'SIP node gone for good', reservationId: 'r-stuck' } });
  t.equal(freed.statusCode, 200, freed.body);
  t.equal(freed.json().status.state, 'WRAP_UP', 'freed into its wrap-up, as after a failed call');
  const again = await app.inject({ method: 'POST', url: '/v1/agents/3005/release', headers: admin, payload: { reason: 'twice' } });
  t.equal(again.statusCode, 409, 'an agent that holds nothing is not released again');
  t.match(again.json().detail ?? again.json().title ?? again.body, /WRAP_UP/);
  const unknown = await app.inject({ method: 'POST', url: '/v1/agents/3999/release', headers: admin, payload: { reason: 'x' } });
  t.equal(unknown.statusCode, 404);
});

t.test('DELETE deprovisions an agent, but not one RESERVED or BUSY, nor an unknown DN', async (t) => {
  t.equal((await app.inject({ method: 'PUT', url: '/v1/agents/3010', headers: admin, payload: { name: 'Held', skills: { support: 50 } } })).statusCode, 200);
  t.equal((await app.inject({ method: 'POST', url: '/v1/agents/3010/state', headers: admin, payload: { state: 'READY' } })).statusCode, 200);
  t.match(await replica.client.command('3010', { type: 'reserve', dn: '3010', reservationId: 'r-held', callId: 'c-held', owner: 'sip-x', ttlMs: 30_000 }), { ok: true });
  const reserved = await app.inject({ method: 'DELETE', url: '/v1/agents/3010', headers: admin });
  t.equal(reserved.statusCode, 409, reserved.body);
  t.equal(reserved.json().code, 'SHARD_ERR_AGENT_RESERVED');
  t.match(await replica.client.command('3010', { type: 'confirm', dn: '3010', reservationId: 'r-held' }), { ok: true });
  const busy = await app.inject({ method: 'DELETE', url: '/v1/agents/3010', headers: admin });
  t.equal(busy.statusCode, 409, busy.body);
  t.equal(busy.json().code, 'SHARD_ERR_AGENT_BUSY');
  t.equal((await app.inject({ method: 'GET', url: '/v1/agents/3010', headers: reader })).json().status.state, 'BUSY', 'the refused DELETE changed nothing');
  t.equal((await app.inject({ method: 'POST', url: '/v1/agents/3010/release', headers: admin, payload: { reason: 'to delete it' } })).statusCode, 200);
  const gone = await app.inject({ method: 'DELETE', url: '/v1/agents/3010', headers: admin });
  t.equal(gone.statusCode, 200, gone.body);
  t.same(gone.json(), { dn: '3010', deprovisioned: true });
  const after = await app.inject({ method: 'GET', url: '/v1/agents/3010', headers: reader });
  t.equal(after.statusCode, 404);
  t.equal(after.json().code, 'SHARD_ERR_UNKNOWN_DN');
  const again = await app.inject({ method: 'DELETE', url: '/v1/agents/3010', headers: admin });
  t.equal(again.statusCode, 404, 'deleting a DN twice finds nothing the second time');
  t.equal(again.json().field, 'params.dn');
  const docs = (await app.inject({ method: 'GET', url: '/docs/json' })).json();
  t.ok(docs.paths['/v1/agents/{dn}'].delete, 'OpenAPI lists DELETE /v1/agents/{dn}');
});
