// Three `ringfence store` processes (real OS processes through ProcessSet) hosting 20
// shards × 3 replicas. Proves, with the shard client the SIP nodes use:
// - every shard elects a leader; agents provisioned and reservations reserved, confirmed
//   and released on several shards;
// - fixed resources: each store listens on exactly 3 TCP ports (Raft, client, admin,
//   counted from the socket inodes of its pid in /proc), and the Raft links between the
//   stores are 6 in all (one outbound per peer store per store);
// - SIGKILL the store leading about a third of the shards: every shard commits a
//   reservation again on the two left; restarted, the store catches up (its applied index
//   equals the leader's commit on every group) and every grant made is still held;
// - the store's admin REST: /v1/status of the store, /v1/shards/s3/status, a stand-alone
//   replica's GET /v1/reservations (every hosted shard's), a 404 problem
//   body for a shard it does not host, /metrics with shard-labelled series and the shared
//   log's sync counter (linted by promtool when present; REQUIRE_PROMTOOL=1 fails without
//   it), /readyz, and the cluster view (/v1/cluster) with the stores in it;
// - a leader transfer asked of a third store is forwarded to the leader's store;
// - SIGTERM closes a store and it exits 0.
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync, rmSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { ProcessSet, writeLocalClusterConfig } from '../../cluster/local-cluster.js';
import { storeOldSpaceMbMax, storeSemiSpaceMbMax } from '../../cluster/limits.js';
import type { RaftStatus } from '../../raft/types.js';
import { ShardClient } from '../../shards/client/shard-client.js';
import { shardOf } from '../../shards/shard-map.js';
import type { ShardResult } from '../../shards/types.js';
import { until } from '../support/until.js';

// RINGFENCE_STORE_TEST_SHARDS=100 runs the same scenario at the scale (#20: 100
// shards × 3 on 3 stores); CI runs 20.
const shardCount = Number(process.env.RINGFENCE_STORE_TEST_SHARDS ?? 20);
if (!Number.isInteger(shardCount) || shardCount < 3 || shardCount > 1000) throw new Error(`RINGFENCE_STORE_TEST_SHARDS must be an integer from 3 to 1000, got ${process.env.RINGFENCE_STORE_TEST_SHARDS}`);
const storeIds = ['a', 'b', 'c'] as const;

/** TCP sockets of `pid` (by inode), read from /proc: its fds and the kernel's table. */
function tcpSocketsOf(pid: number): { listening: number; established: { local: number; remote: number }[] } {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) inodes.add(m[1]!);
    } catch {
      // the fd closed while we listed them
    }
  }
  let listening = 0;
  const established: { local: number; remote: number }[] = [];
  for (const file of [`/proc/${pid}/net/tcp`, `/proc/${pid}/net/tcp6`]) {
    let text = '';
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10 || !inodes.has(f[9]!)) continue;
      const port = (addr: string): number => parseInt(addr.split(':')[1]!, 16);
      if (f[3] === '0A') listening++;
      else if (f[3] === '01') established.push({ local: port(f[1]!), remote: port(f[2]!) });
    }
  }
  return { listening, established };
}

t.test(`three stores, ${shardCount} shards`, { timeout: 300_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ringfence-stores-'));
  const { path, config } = await writeLocalClusterConfig({ dir, shards: shardCount, stores: 3 });
  const procs = new ProcessSet(path, { logFile: join(dir, 'processes.log') });
  const client = new ShardClient({ shards: config.shards, auth: { secret: config.secret, principal: 'launcher' }, attemptTimeoutMs: 1000, deadlineMs: 15_000 });
  const killAll = (): void => procs.killAllNow();
  process.once('exit', killAll);
  t.teardown(async () => {
    client.close();
    await procs.stopAll(2000);
    process.removeListener('exit', killAll);
    if (!process.env.RINGFENCE_KEEP_TEST_DATA) rmSync(dir, { recursive: true, force: true });
  });
  const shardIds = config.shards.map((s) => s.id);
  const replicaOn = (shardId: string, store: string): string => `${shardId}-${store}`;
  const statusOf = (shardId: string, replicaId: string): Promise<RaftStatus | null> => client.replicaStatus(shardId, replicaId, 1000).then((s) => s as RaftStatus, () => null);
  const leaderOf = (shardId: string, stores: readonly string[] = storeIds): Promise<RaftStatus | null> => client.leaderStatus(shardId, config.shards.find((s) => s.id === shardId)!.replicas.filter((r) => stores.includes(r.store!)).map((r) => r.id), 1000);

  const bootStarted = Date.now();
  const ready = await Promise.all(storeIds.map((id) => procs.start('store', id, [], 120_000)));
  for (const [i, r] of ready.entries()) t.match(r, { event: 'ready', role: 'store', id: storeIds[i], shards: shardCount, raft: Number, client: Number, admin: Number, pid: Number }, `store ${storeIds[i]} ready line`);
  await until('every shard to elect', async () => ((await Promise.all(shardIds.map((s) => leaderOf(s)))).every((l) => l !== null) ? true : null), 60_000);
  t.pass(`all ${shardCount} shards have a leader (${Date.now() - bootStarted} ms after the stores were started)`);

  // ---- fixed resources
  const raftPorts = new Set(config.stores!.map((s) => s.raft.port));
  for (const id of storeIds) t.equal(tcpSocketsOf(procs.pid(id)!).listening, 3, `store ${id} listens on 3 TCP ports whatever the shard count`);
  // Counted once every link is up: the stores start together, and a store that dialled a
  // peer not yet listening redials after a backoff, which on a loaded machine can outlast
  // the elections (they need only a quorum's links). Never more than six meanwhile.
  const raftLinksNow = (): number => storeIds.reduce((n, id) => n + tcpSocketsOf(procs.pid(id)!).established.filter((c) => raftPorts.has(c.remote)).length, 0);
  let raftLinksMax = 0;
  const raftLinks = await until('the stores\' Raft links to settle', async () => {
    const n = raftLinksNow();
    raftLinksMax = Math.max(raftLinksMax, n);
    return n === 6 ? n : null;
  }, 15_000).catch(() => raftLinksNow());
  t.equal(raftLinks, 6, 'six Raft connections between the three stores (one outbound per peer store per store)');
  t.ok(raftLinksMax <= 6, `never more than six while they came up (at most ${raftLinksMax})`);

  // ---- one agent per shard, a reservation cycle on several shards
  const dnOf = new Map<string, string>();
  for (let n = 4000; dnOf.size < shardCount; n++) {
    const owner = shardOf(String(n), shardIds);
    if (!dnOf.has(owner)) dnOf.set(owner, String(n));
  }
  const ok = (r: ShardResult, what: string): ShardResult => {
    if (!r.ok) throw new Error(`${what}: ${JSON.stringify(r)}`);
    return r;
  };
  await Promise.all([...dnOf.values()].map(async (dn) => {
    ok(await client.command(dn, { type: 'provision', dn, name: `Agent ${dn}`, skills: { s: 50 }, wrapUpMs: 0, maxNoAnswer: 0, credentials: null }), `provision ${dn}`);
    ok(await client.command(dn, { type: 'login', dn }), `login ${dn}`);
    ok(await client.command(dn, { type: 'ready', dn }), `ready ${dn}`);
  }));
  const cycled = shardIds.slice(0, 5);
  for (const s of cycled) {
    const dn = dnOf.get(s)!;
    t.match(await client.command(dn, { type: 'reserve', dn, reservationId: `r1-${dn}`, callId: `c1-${dn}`, owner: 'test', ttlMs: 60_000 }), { ok: true, agent: { status: { state: 'RESERVED' } } }, `${s}: reserved`);
    t.match(await client.command(dn, { type: 'confirm', dn, reservationId: `r1-${dn}` }), { ok: true, agent: { status: { state: 'BUSY' } } }, `${s}: confirmed`);
    t.match(await client.command(dn, { type: 'release', dn, reservationId: `r1-${dn}`, outcome: 'completed' }), { ok: true }, `${s}: released`);
  }

  // ---- the store's admin REST
  const admin = config.stores![0]!.admin;
  const get = async (p: string): Promise<{ status: number; type: string; body: string }> => {
    const res = await fetch(`http://${admin.host}:${admin.port}${p}`, { headers: { authorization: `Bearer ${config.tokens.read}` } });
    return { status: res.status, type: res.headers.get('content-type') ?? '', body: await res.text() };
  };
  const storeStatus = await get('/v1/status');
  t.equal(storeStatus.status, 200);
  t.match(JSON.parse(storeStatus.body), { store: 'a', pid: procs.pid('a'), groups: shardCount, shards: [{ id: 's1', status: '/v1/shards/s1/status' }] }, '/v1/status answers the store, with a link to each shard');
  // V8's heap limit is the old-space limit the launcher gives stores plus three times the
  // semi-space limit (the young generation's reservation), on Node 20 and 24 alike; Node's
  // default here is over 4 GB, under which a busy store's heap grew to several times what
  // is live.
  const heapLimitMb = (JSON.parse(storeStatus.body) as { heapLimitMb: number }).heapLimitMb;
  t.equal(heapLimitMb, storeOldSpaceMbMax + 3 * storeSemiSpaceMbMax, `the store runs with V8's heap limited to ${storeOldSpaceMbMax} MB old space and ${storeSemiSpaceMbMax} MB semi-spaces`);
  const s3 = await get('/v1/shards/s3/status');
  t.equal(s3.status, 200);
  t.match(JSON.parse(s3.body), { shard: 's3', replica: 's3-a', term: Number, commit: Number }, '/v1/shards/s3/status is the replica\'s status');
  const unknown = await get('/v1/shards/s999/status');
  t.equal(unknown.status, 404, 'unknown shard: 404');
  t.match(unknown.type, /application\/problem\+json/);
  t.match(JSON.parse(unknown.body), { code: 'ADMIN_ERR_NOT_FOUND', detail: /s999/, field: 'params.id' }, 'a problem body naming the shard');
  // Agent routes on a store, as on a replica: any DN, whichever store leads its shard.
  const agents = JSON.parse((await get('/v1/agents')).body) as { dn: string }[];
  t.equal(agents.length, shardCount, `GET /v1/agents on a store lists the agents of the ${shardCount} shards it hosts`);
  const someDn = dnOf.get(shardIds[shardCount - 1]!)!;
  const agent = await get(`/v1/agents/${someDn}?consistency=stale`);
  t.equal(agent.status, 200);
  t.match(JSON.parse(agent.body), { dn: someDn, status: { state: 'READY' } }, `GET /v1/agents/${someDn} on a store`);
  // One reservation held on one shard, the rest released: the store's list names it alone.
  const heldShard = shardIds[6]!;
  const heldDn = dnOf.get(heldShard)!;
  ok(await client.command(heldDn, { type: 'reserve', dn: heldDn, reservationId: `held-${heldDn}`, callId: `held-${heldDn}`, owner: 'test', ttlMs: 60_000 }), 'reserve');
  const oldRoute = await get('/v1/reservations');
  t.equal(oldRoute.status, 200, 'a stand-alone replica\'s route keeps working on a store');
  const held = JSON.parse(oldRoute.body) as { shard?: unknown }[];
  t.ok(Array.isArray(held) && held.every((r) => typeof r.shard === 'string'), `every hosted shard's reservations, each naming its shard (${held.length})`);
  t.match(held, [{ shard: heldShard, dn: heldDn, reservation: { reservationId: `held-${heldDn}` } }], 'the one held, on its shard');
  t.equal(held.length, 1);
  ok(await client.command(heldDn, { type: 'release', dn: heldDn, reservationId: `held-${heldDn}`, outcome: 'completed' }), 'release');
  const metrics = await get('/metrics');
  t.match(metrics.body, /^ringfence_raft_commit_index\{shard="s3",replica="s3-a",store="a"\} [1-9]\d*$/m, '/metrics has shard-labelled series');
  t.match(metrics.body, /^ringfence_store_log_syncs_total\{store="a"\} [1-9]\d*$/m, '/metrics has the shared log\'s sync counter');
  t.match(metrics.body, new RegExp(`^ringfence_store_groups\\{store="a"\\} ${shardCount}$`, 'm'));
  // Lint the store's exposition as test/metrics/promtool.test.ts lints the other roles'.
  const promtoolBin = process.env.PROMTOOL ?? 'promtool';
  const version = spawnSync(promtoolBin, ['--version'], { encoding: 'utf8' });
  if (version.error === undefined && version.status === 0) {
    const lint = spawnSync(promtoolBin, ['check', 'metrics'], { input: metrics.body, encoding: 'utf8' });
    t.equal(lint.status, 0, `promtool check metrics passes the store's /metrics: ${lint.stdout}${lint.stderr}`);
    t.equal(`${lint.stdout}${lint.stderr}`.trim(), '', 'without a warning');
  } else if (process.env.REQUIRE_PROMTOOL === '1') {
    t.fail(`REQUIRE_PROMTOOL=1 but ${promtoolBin} does not run (Debian: apt-get install prometheus)`);
  }
  // Polled: a leadership transfer (the preferred-leader handoff) leaves a follower
  // without a known leader for a moment, and /readyz says so.
  const readyz = await until('/readyz to answer 200', async () => {
    const r = await get('/readyz');
    return r.status === 200 ? r : null;
  }, 30_000);
  t.match(JSON.parse(readyz.body), { status: 'ready', checks: { leaders: { ok: true, detail: new RegExp(`all ${shardCount} groups know a leader`) } } }, '/readyz: ready once every hosted group knows a leader');
  type View = { self: { role: string; id: string }; shards: { id: string; hasLeader: boolean; replicas: { id: string; self: boolean; health: string; pid: number | null; error: string | null }[] }[] };
  let view: View | null = null;
  await until('the cluster view to show every replica up', async () => {
    view = JSON.parse((await get('/v1/cluster')).body) as View;
    return view.shards.every((s) => s.hasLeader && s.replicas.every((r) => r.health === 'up')) ? true : null;
  }, 30_000).catch((err: Error) => t.fail(`${err.message}; not up: ${JSON.stringify(view?.shards.flatMap((s) => s.replicas.filter((r) => r.health !== 'up')).slice(0, 3))}`));
  view = view!;
  t.same(view.self, { role: 'store', id: 'a' });
  t.pass('the cluster view from a store: every replica of every shard up');
  t.ok(view.shards.every((s) => s.replicas.filter((r) => r.self).map((r) => r.id).join() === `${s.id}-a`), 'the store\'s own replicas are marked self');
  t.ok(view.shards.every((s) => s.replicas.every((r) => r.pid === procs.pid(r.id.split('-')[1]!))), 'each replica\'s pid is its store\'s');

  // ---- SIGKILL the store leading about a third of the shards. Each shard's preferred
  // leader (config.ts spreads them over the stores) takes over once caught up.
  const spreadStarted = Date.now();
  const leaders = await until('the leaders to move to their preferred stores', async () => {
    const now = await Promise.all(shardIds.map((s) => leaderOf(s)));
    return now.every((l, i) => l !== null && l.id === config.shards[i]!.preferredLeader) ? now : null;
  }, 60_000);
  t.pass(`every shard is led by its preferred replica (${Date.now() - spreadStarted} ms later)`);
  const ledBy = (store: string): string[] => shardIds.filter((_, i) => leaders[i]?.id === replicaOn(shardIds[i]!, store));
  const victim = 'a';
  t.ok(Math.abs(ledBy(victim).length - shardCount / 3) < 1, `store ${victim} leads ${ledBy(victim).length} of ${shardCount} shards`);
  await procs.kill(victim);
  const killedAt = Date.now();
  const granted = new Map<string, string>();
  const grantMs = new Map<string, number>();
  await Promise.all(shardIds.map(async (s) => {
    const dn = dnOf.get(s)!;
    const r = await client.command(dn, { type: 'reserve', dn, reservationId: `r2-${dn}`, callId: `c2-${dn}`, owner: 'test', ttlMs: 600_000 }, { deadlineMs: 30_000 });
    if (r.ok) granted.set(s, `r2-${dn}`);
    grantMs.set(s, Date.now() - killedAt);
  }));
  t.equal(granted.size, shardCount, `every shard committed a reservation with store ${victim} dead`);
  // Figures, not thresholds: how long after the SIGKILL each shard's grant committed.
  const affected = ledBy(victim).map((s) => grantMs.get(s)!).sort((x, y) => x - y);
  t.comment(`first grant after the kill, shards store ${victim} led: median ${affected[Math.floor(affected.length / 2)]} ms, max ${affected[affected.length - 1]} ms (${affected.join(', ')})`);

  // ---- restart it: it catches up, and no grant is lost
  const restartedAt = Date.now();
  await procs.restart(victim);
  await until(`store ${victim} to catch up on every group`, async () => {
    for (const s of shardIds) {
      const leader = await leaderOf(s);
      const own = await statusOf(s, replicaOn(s, victim));
      if (leader === null || own === null || own.applied < leader.commit) return null;
    }
    return true;
  }, 60_000);
  t.pass(`store ${victim} applied every group up to its leader's commit (${Date.now() - restartedAt} ms after its restart began)`);
  for (const s of shardIds) {
    const dn = dnOf.get(s)!;
    const agent = (await client.read(s, { type: 'agent', dn }, 'linearizable', { deadlineMs: 15_000 })) as { status: { state: string; reservation?: { reservationId: string } } };
    if (agent.status.state !== 'RESERVED' || agent.status.reservation?.reservationId !== granted.get(s)) t.fail(`${s}: grant ${granted.get(s)} lost: ${JSON.stringify(agent.status)}`);
  }
  t.pass('every grant is still held after the restart');

  // ---- a leader transfer asked of a store that neither leads the shard nor is the
  // target: forwarded to the leader's store, at the same /v1/shards/:id path
  const leadersNow = await Promise.all(shardIds.map((s) => leaderOf(s)));
  const moved = shardIds.find((_, i) => leadersNow[i] !== null && !leadersNow[i]!.id.endsWith(`-${victim}`));
  if (moved === undefined) t.fail(`every shard is led from store ${victim} again; no transfer to try`);
  else {
    const leaderStore = leadersNow[shardIds.indexOf(moved)]!.id.split('-')[1]!;
    const asked = config.stores!.find((st) => st.id !== leaderStore && st.id !== victim)!;
    const res = await fetch(`http://${asked.admin.host}:${asked.admin.port}/v1/shards/${moved}/leader/transfer`, {
      method: 'POST', headers: { authorization: `Bearer ${config.tokens.admin}`, 'content-type': 'application/json' }, body: JSON.stringify({ to: replicaOn(moved, victim) }),
    });
    t.match({ status: res.status, body: await res.json() }, { status: 200, body: { transferredTo: replicaOn(moved, victim) } }, `POST /v1/shards/${moved}/leader/transfer on store ${asked.id} (${leaderStore} leads)`);
    await until(`${replicaOn(moved, victim)} to lead`, async () => ((await leaderOf(moved))?.id === replicaOn(moved, victim) ? true : null), 15_000);
    t.pass(`${replicaOn(moved, victim)} leads ${moved}`);
  }

  // ---- SIGTERM closes a store cleanly: exit 0
  const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => {
    procs.onExit = (id, code, signal) => {
      if (id === 'c') resolve({ code, signal });
    };
  });
  await procs.kill('c', 'SIGTERM');
  t.same(await exited, { code: 0, signal: null }, 'SIGTERM: store c closed and exited 0');
});
