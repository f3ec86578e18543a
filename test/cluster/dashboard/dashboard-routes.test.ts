// The dashboard's routes against a cluster file whose processes are all down (nothing is
// started: every peer refuses or stays silent). Through inject(): the page is public and
// locked down by CSP; the data routes need the read token (none/unknown → 401; read,
// admin and `?token=` → 200); a snapshot shows every replica, SIP node and gateway down,
// no leader, and the unreadable shard listed as stale. Over real sockets: the SSE stream
// sends `snapshot` events, refuses the viewer beyond the limit with 503 + Retry-After,
// takes a new one once a viewer leaves, and app.close() ends open streams instead of
// hanging on them.
import t from 'tap';
import http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { createAdminApp } from '../../../common/admin.js';
import { clusterViewRoutes } from '../../../cluster/cluster-view.js';
import { dashboardRoutes } from '../../../cluster/dashboard/dashboard-routes.js';
import type { Snapshot } from '../../../cluster/dashboard/snapshot-source.js';
import { writeLocalClusterConfig } from '../../../cluster/local-cluster.js';
import { ShardClient } from '../../../shards/client/shard-client.js';

const dir = mkdtempSync(join(tmpdir(), 'ringfence-dashboard-routes-'));
const { config } = await writeLocalClusterConfig({ dir, shards: 1, sipNodes: 1, gateways: 1 });
const shardClient = new ShardClient({ shards: config.shards, auth: { secret: config.secret, principal: 'launcher' }, attemptTimeoutMs: 300, deadlineMs: 1000 });
const app = await createAdminApp({ title: 'dashboard routes test', tokens: config.tokens, registry: new Registry() });
const opts = { config, self: { role: 'sip', id: 'sip1' }, shardClient, peerTimeoutMs: 300 };
await app.register(clusterViewRoutes, opts);
await app.register(dashboardRoutes, { ...opts, pollIntervalMs: 200, sseClientsMax: 2 });
let closed = false;
t.teardown(async () => {
  if (!closed) await app.close();
  shardClient.close();
  rmSync(dir, { recursive: true, force: true });
});
const read = { authorization: `Bearer ${config.tokens.read}` };

t.test('the page is public and self-contained', async (t) => {
  const res = await app.inject({ method: 'GET', url: '/' });
  t.equal(res.statusCode, 200);
  t.match(res.headers['content-type'], /^text\/html/);
  const csp = String(res.headers['content-security-policy']);
  t.match(csp, /script-src 'sha256-[A-Za-z0-9+/=]+'/, 'only the page\'s own script may run');
  t.match(csp, /connect-src 'self'/);
  t.notMatch(csp, /unsafe-eval|script-src[^;]*unsafe-inline/);
  t.equal(res.headers['referrer-policy'], 'no-referrer', 'the token in the URL never leaks in a Referer');
  t.match(res.body, /new EventSource\('\/v1\/events\?token='/);
  t.notMatch(res.body, /<script[^>]+src=|<link[^>]+href=|https?:\/\//, 'no external scripts, styles or URLs');
});

t.test('token rules on the data routes', async (t) => {
  for (const url of ['/v1/dashboard', '/v1/events']) {
    const none = await app.inject({ method: 'GET', url });
    t.equal(none.statusCode, 401, `${url}: no token`);
    t.equal(none.json().code, 'ADMIN_ERR_UNAUTHORIZED');
    t.equal((await app.inject({ method: 'GET', url: `${url}?token=wrong` })).statusCode, 401, `${url}: unknown token in the query`);
  }
  t.equal((await app.inject({ method: 'GET', url: '/v1/dashboard', headers: { authorization: `Bearer ${config.tokens.admin}` } })).statusCode, 200, 'admin token reads');
  t.equal((await app.inject({ method: 'GET', url: `/v1/dashboard?token=${config.tokens.read}` })).statusCode, 200, 'read token in the query');
});

t.test('a snapshot of a cluster that is all down', async (t) => {
  const res = await app.inject({ method: 'GET', url: '/v1/dashboard', headers: read });
  t.equal(res.statusCode, 200);
  const s = res.json() as Snapshot;
  const shard = s.cluster.shards[0]!;
  t.equal(shard.hasLeader, false);
  t.equal(shard.leader, null);
  t.same(shard.replicas.map((r) => r.health), ['down', 'down', 'down']);
  t.ok(shard.replicas.every((r) => r.error !== null), 'each says why');
  t.equal(s.cluster.sip[0]!.health, 'down');
  t.equal(s.cluster.gateways[0]!.health, 'down', 'a silent gateway is down after its ng timeout');
  t.same(s.agents.staleShards, ['s1'], 'the shard that could not be read');
  t.equal(s.agents.total, 0);
  t.same(s.agents.counts, { LOGGED_OUT: 0, NOT_READY: 0, READY: 0, RESERVED: 0, BUSY: 0, WRAP_UP: 0 });
  t.same(s.calls, []);
  t.equal(s.failovers.count, 0);
});

type Viewer = { res: http.IncomingMessage; events: { event: string; data: string }[]; ended: Promise<void>; req: http.ClientRequest };

function openStream(port: number, token: string): Promise<Viewer | { status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: `/v1/events?token=${encodeURIComponent(token)}` }, (res) => {
      if (res.statusCode !== 200) {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
        return;
      }
      const v: Viewer = { res, req, events: [], ended: new Promise((r) => res.on('close', () => r())) };
      let buf = '';
      res.on('data', (d: Buffer) => {
        buf += d.toString();
        let i: number;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const event = /^event: (.*)$/m.exec(block)?.[1];
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (event && data) v.events.push({ event, data });
        }
      });
      resolve(v);
    });
    req.on('error', reject);
  });
}

async function until(ok: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

t.test('the live stream: snapshots, viewer limit, close', async (t) => {
  await app.listen({ host: '127.0.0.1', port: 0 });
  const port = (app.server.address() as import('node:net').AddressInfo).port;
  const a = (await openStream(port, config.tokens.read)) as Viewer;
  const b = (await openStream(port, config.tokens.admin)) as Viewer;
  t.equal(a.res.statusCode, 200);
  t.match(a.res.headers['content-type'], /^text\/event-stream/);
  await until(() => a.events.length >= 2 && b.events.length >= 1, 'snapshots on both streams');
  const first = JSON.parse(a.events[0]!.data) as Snapshot;
  t.equal(a.events[0]!.event, 'snapshot');
  t.equal(first.cluster.shards[0]!.id, 's1');
  t.ok((JSON.parse(a.events[1]!.data) as Snapshot).seq > first.seq, 'later snapshots have higher seq');

  const c = await openStream(port, config.tokens.read);
  t.notOk('events' in c, 'a third viewer is refused');
  const refused = c as { status: number; headers: http.IncomingHttpHeaders; body: string };
  t.equal(refused.status, 503);
  t.equal(refused.headers['retry-after'], '5');
  t.equal(JSON.parse(refused.body).code, 'ADMIN_ERR_UNAVAILABLE');

  a.req.destroy();
  await a.ended;
  let d: Awaited<ReturnType<typeof openStream>> | null = null;
  // The server notices the closed socket a moment later; retry briefly until it has.
  for (let i = 0; i < 40 && !(d && 'events' in d); i++) {
    d = await openStream(port, config.tokens.read);
    if (!('events' in d)) await new Promise((r) => setTimeout(r, 50));
  }
  t.ok(d && 'events' in d, 'the freed place is taken by a new viewer');
  const viewer = d as Viewer;
  await until(() => viewer.events.length >= 1, 'snapshot for the new viewer');

  await app.close();
  closed = true;
  await Promise.all([b.ended, viewer.ended]);
  t.pass('app.close() ended the open streams');
});
