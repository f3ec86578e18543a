// "Agents anywhere": the agent routes answer on every node, whichever shard owns the DN.
// Real processes: 2 shards of 3 replicas in 3 co-hosted `ringfence shard` processes and
// one `ringfence sip` node, spoken to over real HTTP. For a DN of shard s1 it proves that
// the same PUT, GET, POST .../state, POST .../release and DELETE are answered alike on the
// SIP node, on a FOLLOWER of s1 and on a replica of s2, with the same auth scopes and the
// same problem bodies (404 for an unknown DN, 409 for a BUSY agent, 403 for the read
// token); that GET /v1/agents lists every shard on a SIP node and one shard on a replica;
// that only a shard's leader exports `ringfence_agents{state}`;
// and that routing reuses the node's connections (none opened per request, counted from
// /proc: the SIP node's sockets to the replicas' client ports, and closed ones in TIME-WAIT).
import t from 'tap';
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ProcessSet, shardProcessIds, writeLocalClusterConfig } from '../../cluster/local-cluster.js';
import { ShardClient } from '../../shards/client/shard-client.js';
import type { RaftStatus } from '../../raft/types.js';

t.setTimeout(240_000);
const dir = mkdtempSync(join(tmpdir(), 'ringfence-agents-anywhere-'));
const { path, config } = await writeLocalClusterConfig({ dir, shards: 2, sipNodes: 1 });
const procs = new ProcessSet(path, { logFile: join(dir, 'processes.log') });
const killAll = (): void => procs.killAllNow();
process.once('exit', killAll);
const launcher = new ShardClient({ shards: config.shards, auth: { secret: config.secret, principal: 'launcher' }, attemptTimeoutMs: 1000, deadlineMs: 10_000 });
t.teardown(async () => {
  launcher.close();
  await procs.stopAll(2000);
  process.removeListener('exit', killAll);
  rmSync(dir, { recursive: true, force: true });
});

const hosts = shardProcessIds(config, true);
await Promise.all(hosts.map((id) => procs.start('shard', id, [], 120_000)));
const sipReady = await procs.start('sip', 'sip1', [], 120_000);

const [s1, s2] = config.shards as [typeof config.shards[0], typeof config.shards[0]];
const dnOf = (shard: string, from: number): string => {
  for (let n = from; ; n++) if (launcher.shardFor(String(n)) === shard) return String(n);
};
const dn1 = dnOf(s1.id, 4001);
const dn2 = dnOf(s2.id, 4001);

async function leaderOf(shardId: string): Promise<string> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const s: RaftStatus | null = await launcher.leaderStatus(shardId);
    if (s) return s.id;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`shard ${shardId}: no leader within 60 s`);
}
const s1Leader = await leaderOf(s1.id);
await leaderOf(s2.id);
const follower = s1.replicas.find((r) => r.id !== s1Leader)!;
const otherShard = s2.replicas[2]!;

const base = (hp: { host: string; port: number }): string => `http://${hp.host}:${hp.port}`;
const nodes = [
  { name: `SIP node sip1`, url: base(config.sip[0]!.admin) },
  { name: `follower ${follower.id} of the owning shard ${s1.id}`, url: base(follower.admin) },
  { name: `replica ${otherShard.id} of the other shard ${s2.id}`, url: base(otherShard.admin) },
];
const admin = { authorization: `Bearer ${config.tokens.admin}` };
const reader = { authorization: `Bearer ${config.tokens.read}` };

type Res = { status: number; type: string; body: any };
async function once(url: string, method: string, headers: Record<string, string>, body?: unknown): Promise<Res> {
  const res = await fetch(url, { method, headers: { ...headers, ...(body === undefined ? {} : { 'content-type': 'application/json' }) }, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, type: res.headers.get('content-type') ?? '', body: text === '' ? null : JSON.parse(text) };
}
/** One request; a GET answered 503/504 (an election under way on a loaded machine: a
 * replica's linearizable read needs a leader) is asked again, for up to 30 s. Writes are
 * sent once: the node's shard client already retries them within its deadline. */
async function call(url: string, method: string, headers: Record<string, string>, body?: unknown): Promise<Res> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const res = await once(url, method, headers, body);
    if (method !== 'GET' || (res.status !== 503 && res.status !== 504) || Date.now() > deadline) return res;
    await new Promise((r) => setTimeout(r, 200));
  }
}

t.test('the same requests for a DN of s1 are answered alike on every node', async (t) => {
  for (const [i, node] of nodes.entries()) {
    const name = `Agent ${i}`;
    const put = await call(`${node.url}/v1/agents/${dn1}`, 'PUT', admin, { name, skills: { support: 60 }, wrapUpMs: 60_000, password: 'pw-secret' });
    t.equal(put.status, 200, `PUT on the ${node.name}: ${JSON.stringify(put.body)}`);
    t.equal(put.body.name, name);
    t.same(put.body.credentials, { user: dn1, realm: config.realm }, 'no HA1 comes back');
    for (const reading of nodes) {
      const get = await call(`${reading.url}/v1/agents/${dn1}`, 'GET', reader);
      t.equal(get.status, 200, `GET on the ${reading.name} after a PUT on the ${node.name}: ${get.status === 200 ? 'ok' : JSON.stringify(get.body)}`);
      t.equal(get.body.name, name, `the ${reading.name} reads what the ${node.name} wrote`);
    }
    const ready = await call(`${node.url}/v1/agents/${dn1}/state`, 'POST', admin, { state: 'READY' });
    t.equal(ready.status, 200, `READY on the ${node.name}: ${JSON.stringify(ready.body)}`);
    t.equal(ready.body.status.state, 'READY');
    const stale = await call(`${node.url}/v1/agents/${dn1}?consistency=stale`, 'GET', reader);
    t.equal(stale.status, 200);

    // Held by a call a SIP node lost: the 409 for a BUSY agent, then the operator's release.
    const reservationId = `r-${i}`;
    t.match(await launcher.command(dn1, { type: 'reserve', dn: dn1, reservationId, callId: `c-${i}`, owner: 'sip-gone', ttlMs: 60_000 }), { ok: true });
    t.match(await launcher.command(dn1, { type: 'confirm', dn: dn1, reservationId }), { ok: true });
    const busy = await call(`${node.url}/v1/agents/${dn1}`, 'DELETE', admin);
    t.equal(busy.status, 409, `DELETE of a BUSY agent on the ${node.name}`);
    t.equal(busy.type, 'application/problem+json; charset=utf-8');
    t.equal(busy.body.code, 'SHARD_ERR_AGENT_BUSY');
    const freed = await call(`${node.url}/v1/agents/${dn1}/release`, 'POST', admin, { reason: `test via ${node.name}`, reservationId });
    t.equal(freed.status, 200, `release on the ${node.name}: ${JSON.stringify(freed.body)}`);
    t.equal(freed.body.status.state, 'WRAP_UP');

    const del = await call(`${node.url}/v1/agents/${dn1}`, 'DELETE', admin);
    t.equal(del.status, 200, `DELETE on the ${node.name}: ${JSON.stringify(del.body)}`);
    t.same(del.body, { dn: dn1, deprovisioned: true });
    for (const reading of nodes) {
      const gone = await call(`${reading.url}/v1/agents/${dn1}`, 'GET', reader);
      t.equal(gone.status, 404, `the ${reading.name} no longer finds it`);
      t.match(gone.body, { code: 'SHARD_ERR_UNKNOWN_DN', status: 404, field: 'params.dn' });
    }
  }
});

t.test('the same auth scopes and problem bodies on every node', async (t) => {
  for (const node of nodes) {
    const none = await call(`${node.url}/v1/agents/${dn2}`, 'GET', {});
    t.equal(none.status, 401, `no token on the ${node.name}`);
    t.equal(none.body.code, 'ADMIN_ERR_UNAUTHORIZED');
    for (const [method, suffix, body] of [['PUT', '', { name: 'x' }], ['DELETE', '', undefined], ['POST', '/state', { state: 'READY' }], ['POST', '/release', { reason: 'x' }]] as const) {
      const ro = await call(`${node.url}/v1/agents/${dn2}${suffix}`, method, reader, body);
      t.equal(ro.status, 403, `${method} ${suffix || '/'} with the read token on the ${node.name}`);
      t.equal(ro.body.code, 'ADMIN_ERR_FORBIDDEN');
    }
    const unknown = await call(`${node.url}/v1/agents/${dn2}/state`, 'POST', admin, { state: 'READY' });
    t.equal(unknown.status, 404, `state change of an unknown DN on the ${node.name}`);
    t.match(unknown.body, { code: 'SHARD_ERR_UNKNOWN_DN', field: 'params.dn' });
    const unknownDelete = await call(`${node.url}/v1/agents/${dn2}`, 'DELETE', admin);
    t.equal(unknownDelete.status, 404, `DELETE of an unknown DN on the ${node.name}`);
    t.match(unknownDelete.body, { code: 'SHARD_ERR_UNKNOWN_DN', field: 'params.dn' });
    const bad = await call(`${node.url}/v1/agents/${dn2}`, 'PUT', admin, { name: 'x', skills: { support: 999 } });
    t.equal(bad.status, 400, `a bad body on the ${node.name}`);
    t.match(bad.body.field, /skills/);
  }
});

t.test('GET /v1/agents: every shard on a SIP node, its own shard on a replica', async (t) => {
  for (const dn of [dn1, dn2]) t.equal((await call(`${nodes[0]!.url}/v1/agents/${dn}`, 'PUT', admin, { name: `List ${dn}` })).status, 200);
  const all = await call(`${nodes[0]!.url}/v1/agents`, 'GET', reader);
  t.same(all.body.map((a: { dn: string }) => a.dn).sort(), [dn1, dn2].sort(), 'the SIP node lists both shards\' agents');
  t.same((await call(`${nodes[1]!.url}/v1/agents`, 'GET', reader)).body.map((a: { dn: string }) => a.dn), [dn1], `${follower.id} lists ${s1.id}'s`);
  t.same((await call(`${nodes[2]!.url}/v1/agents`, 'GET', reader)).body.map((a: { dn: string }) => a.dn), [dn2], `${otherShard.id} lists ${s2.id}'s`);
  const docs = await call(`${nodes[0]!.url}/docs/json`, 'GET', {});
  t.ok(docs.body.paths['/v1/agents/{dn}'].delete, 'the SIP node\'s OpenAPI lists DELETE /v1/agents/{dn}');
  t.ok(docs.body.paths['/v1/agents/{dn}/release'].post, 'and the release route');
});

t.test('agents by state: the leader of each shard exports them, a follower does not', async (t) => {
  const scrape = async (hp: { host: string; port: number }): Promise<string> => (await fetch(`${base(hp)}/metrics`, { headers: reader })).text();
  const leader = s1.replicas.find((r) => r.id === s1Leader)!;
  const fromLeader = await scrape(leader.admin);
  const samples = [...fromLeader.matchAll(/^ringfence_agents\{state="(\w+)",shard="(\w+)",replica="([\w-]+)"\} (\d+)$/gm)];
  t.equal(samples.length, 6, 'one sample per state');
  t.ok(samples.every((m) => m[2] === s1.id && m[3] === leader.id), 'labelled with the shard and the leader');
  t.equal(samples.reduce((a, m) => a + Number(m[4]), 0), 1, `leader ${leader.id} counts its one agent, ${dn1}`);
  t.equal(samples.find((m) => m[1] === 'LOGGED_OUT')?.[4], '1', 'provisioned, not logged in');
  const fromFollower = await scrape(follower.admin);
  t.match(fromFollower, /^# TYPE ringfence_agents gauge$/m);
  t.notMatch(fromFollower, /^ringfence_agents\{/m, `follower ${follower.id} exports no samples`);
});

const clientPorts = new Set(config.shards.flatMap((s) => s.replicas.map((r) => r.client.port)));
/** TCP sockets of this host whose far end is a replica's client port, from /proc/net/tcp:
 * the kernel's state code (01 established, 06 time-wait) and the socket's inode. */
function socketsToReplicas(): { state: string; inode: string }[] {
  const rows = readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1);
  return rows.map((l) => l.trim().split(/\s+/)).filter((f) => f.length > 9 && clientPorts.has(parseInt(f[2]!.split(':')[1]!, 16))).map((f) => ({ state: f[3]!, inode: f[9]! }));
}
/** Established links of a process to the replicas' client ports (its fds' socket inodes). */
function linksToReplicas(pid: number): number {
  const inodes = new Set(readdirSync(`/proc/${pid}/fd`).flatMap((fd) => {
    try {
      return [/^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`))?.[1] ?? ''];
    } catch {
      return []; // closed meanwhile
    }
  }));
  return socketsToReplicas().filter((s) => s.state === '01' && inodes.has(s.inode)).length;
}
/** Links to the replicas' client ports closed from this host's side lately (TIME-WAIT). */
const closedLinksToReplicas = (): number => socketsToReplicas().filter((s) => s.state === '06').length;

t.test('routing reuses the node\'s connections: none is opened per request', async (t) => {
  const pid = Number(sipReady.pid);
  // Warm: the admin client has reached both shards' leaders.
  for (const dn of [dn1, dn2]) t.equal((await call(`${nodes[0]!.url}/v1/agents/${dn}/state`, 'POST', admin, { state: 'NOT_READY', reason: 'warm' })).status, 200);
  const openBefore = linksToReplicas(pid);
  const closedBefore = closedLinksToReplicas();
  t.ok(openBefore > 0, `the SIP node holds ${openBefore} links to replicas`);
  for (let i = 0; i < 20; i++) {
    const dn = i % 2 === 0 ? dn1 : dn2;
    t.equal((await call(`${nodes[0]!.url}/v1/agents/${dn}`, 'GET', reader)).status, 200);
    t.equal((await call(`${nodes[0]!.url}/v1/agents/${dn}/state`, 'POST', admin, { state: i % 4 < 2 ? 'READY' : 'NOT_READY', reason: 'flip' })).status, 200);
  }
  // An election on a loaded machine may send the node to a replica it has no link to yet:
  // one new link per replica at most, where a link per request would add 40.
  const replicaCount = clientPorts.size;
  const openAfter = linksToReplicas(pid);
  t.ok(openAfter <= openBefore + replicaCount, `40 requests later the SIP node holds ${openAfter} links (${openBefore} before; at most one more per replica)`);
  const closedAfter = closedLinksToReplicas();
  t.ok(closedAfter <= closedBefore + replicaCount, `and closed ${Math.max(0, closedAfter - closedBefore)}`);
});
