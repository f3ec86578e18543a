// Replacing a store whose data is lost for good, with real `ringfence store` processes:
// - stores a, b, c host 6 shards; store c is SIGKILLed and its data directory deleted;
// - a new store d, started with a cluster file that says `replaces: c`, joins every shard
//   through the admin REST of store a (POST /v1/shards/:id/members, once through a
//   stand-alone replica's POST /v1/members, answered 307, and once through store d itself,
//   with no address), and c's replicas are removed;
// - stores a and b run on the cluster file they started with, which does not name d:
//   they learn where d is from the shard (the placement is in its log);
// - SIGKILL store a: every shard commits on b and d, and d holds every agent and the
//   reservation made before c died;
// - a restarted on its old file still reaches d (it replays the placement from its log);
//   leadership of a shard moves to d, and a transfer asked of a (whose file does not list
//   the leader) answers 503 naming it; SIGKILL b, and every shard commits on a and d.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { parse as parseYaml, stringify as toYaml } from 'yaml';
import { freePorts, ProcessSet, writeLocalClusterConfig, writeSecretFile } from '../../cluster/local-cluster.js';
import { validateClusterConfig } from '../../common/config.js';
import type { RaftStatus } from '../../raft/types.js';
import { ShardClient } from '../../shards/client/shard-client.js';
import { shardOf } from '../../shards/shard-map.js';
import type { Agent, ShardResult } from '../../shards/types.js';
import { until } from '../support/until.js';

// RINGFENCE_STORE_TEST_SHARDS=100 replaces a store of 100 shards (#20's scale); CI runs 6.
const shardCount = Number(process.env.RINGFENCE_STORE_TEST_SHARDS ?? 6);
if (!Number.isInteger(shardCount) || shardCount < 3 || shardCount > 1000) throw new Error(`RINGFENCE_STORE_TEST_SHARDS must be an integer from 3 to 1000, got ${process.env.RINGFENCE_STORE_TEST_SHARDS}`);

t.test('a store whose data is lost is replaced by a new one, without restarting the others', { timeout: 300_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ringfence-replace-'));
  const { path, config } = await writeLocalClusterConfig({ dir, shards: shardCount, stores: 3 });
  // The file of the new store: the same cluster, plus store d in c's place.
  const [raftPort, clientPort, adminPort] = await freePorts(3);
  const doc = parseYaml(readFileSync(path, 'utf8')) as { stores: Record<string, unknown>[] };
  doc.stores.push({ id: 'd', raft: `127.0.0.1:${raftPort}`, client: `127.0.0.1:${clientPort}`, admin: `127.0.0.1:${adminPort}`, data: join(dir, 'store-d'), replaces: 'c' });
  const newPath = join(dir, 'cluster-with-d.yaml');
  writeSecretFile(newPath, toYaml(doc));
  const newConfig = validateClusterConfig(doc);

  const procs = new ProcessSet(path, { logFile: join(dir, 'processes.log') });
  const newProcs = new ProcessSet(newPath, { logFile: join(dir, 'processes-d.log') });
  const client = new ShardClient({ shards: newConfig.shards, auth: { secret: config.secret, principal: 'launcher' }, attemptTimeoutMs: 1000, deadlineMs: 20_000 });
  const killAll = (): void => {
    procs.killAllNow();
    newProcs.killAllNow();
  };
  process.once('exit', killAll);
  t.teardown(async () => {
    client.close();
    await Promise.all([procs.stopAll(2000), newProcs.stopAll(2000)]);
    process.removeListener('exit', killAll);
    if (!process.env.RINGFENCE_KEEP_TEST_DATA) rmSync(dir, { recursive: true, force: true });
  });
  const shardIds = config.shards.map((s) => s.id);
  const leaderOn = (shardId: string, stores: readonly string[]): Promise<RaftStatus | null> => client.leaderStatus(shardId, stores.map((st) => `${shardId}-${st}`), 1000);
  const everyShardLeads = (stores: readonly string[]): Promise<true> => until(`every shard to have a leader on ${stores.join(', ')}`, async () => ((await Promise.all(shardIds.map((s) => leaderOn(s, stores)))).every((l) => l !== null) ? true : null), 60_000);
  const ok = (r: ShardResult, what: string): ShardResult => {
    if (!r.ok) throw new Error(`${what}: ${JSON.stringify(r)}`);
    return r;
  };

  await Promise.all(['a', 'b', 'c'].map((id) => procs.start('store', id, [], 120_000)));
  await everyShardLeads(['a', 'b', 'c']);
  const dnOf = new Map<string, string>();
  for (let n = 5000; dnOf.size < shardCount; n++) {
    const owner = shardOf(String(n), shardIds);
    if (!dnOf.has(owner)) dnOf.set(owner, String(n));
  }
  for (const dn of dnOf.values()) {
    ok(await client.command(dn, { type: 'provision', dn, name: `Agent ${dn}`, skills: { s: 50 }, wrapUpMs: 0, maxNoAnswer: 0, credentials: null }), `provision ${dn}`);
    ok(await client.command(dn, { type: 'login', dn }), `login ${dn}`);
    ok(await client.command(dn, { type: 'ready', dn }), `ready ${dn}`);
  }
  const heldDn = dnOf.get(shardIds[2]!)!;
  ok(await client.command(heldDn, { type: 'reserve', dn: heldDn, reservationId: 'held', callId: 'held-call', owner: 'test', ttlMs: 600_000 }), 'reserve');

  // ---- store c is gone for good
  await procs.kill('c', 'SIGKILL');
  rmSync(config.stores!.find((s) => s.id === 'c')!.data, { recursive: true, force: true });
  await everyShardLeads(['a', 'b']);

  const ready = await newProcs.start('store', 'd', [], 120_000);
  t.match(ready, { event: 'ready', role: 'store', id: 'd', shards: shardCount }, 'store d hosts a joining replica of every shard');

  const storeA = config.stores!.find((s) => s.id === 'a')!.admin;
  const adminHeaders = { authorization: `Bearer ${config.tokens.admin}`, 'content-type': 'application/json' };
  // 503 is "leadership is moving, retry": an operator retries it, and so does this test.
  const retrying503 = async (call: () => Promise<Response>): Promise<Response> => {
    for (let attempt = 0; ; attempt++) {
      const res = await call();
      if (res.status !== 503 || attempt >= 30) return res;
      await new Promise((r) => setTimeout(r, 500));
    }
  };
  const dRaft = `127.0.0.1:${raftPort}`;
  const dClient = `127.0.0.1:${clientPort}`;
  const dAdmin = `127.0.0.1:${adminPort}`;

  // Refusals first: no store named, a store that already hosts a replica of the shard.
  const noStore = await fetch(`http://${storeA.host}:${storeA.port}/v1/shards/s1/members`, { method: 'POST', headers: adminHeaders, body: JSON.stringify({ id: 's1-d', raft: dRaft }) });
  t.match({ status: noStore.status, body: await noStore.json() }, { status: 400, body: { code: 'ADMIN_ERR_BAD_REQUEST', field: 'body.store', detail: /lives on stores: name the store/ } }, 'a store-hosted shard: the new replica names its store');
  const unknownStore = await fetch(`http://${storeA.host}:${storeA.port}/v1/shards/s1/members`, { method: 'POST', headers: adminHeaders, body: JSON.stringify({ id: 's1-d', store: 'd' }) });
  t.match({ status: unknownStore.status, body: await unknownStore.json() }, { status: 400, body: { field: 'body.raft', detail: /store d is not in this process's cluster file: give its Raft address/ } }, 'a store a\'s file does not list: its address is needed');
  const sameStore = await retrying503(() => fetch(`http://${storeA.host}:${storeA.port}/v1/shards/s1/members`, { method: 'POST', headers: adminHeaders, body: JSON.stringify({ id: 's1-x', store: 'b' }) }));
  t.match({ status: sameStore.status, body: await sameStore.json() }, { status: 400, body: { field: 'body.store', detail: /already has replica s1-b on store b/ } }, 'never two replicas of a shard on one store');

  const replacingStarted = Date.now();
  const addMs: number[] = [];
  for (const [i, s] of shardIds.entries()) {
    // One through a stand-alone replica's route: 307 to the shard's, which fetch follows
    // with the method and body. One through store d, whose file lists d: no address
    // needed, and d (a learner-to-be, not the leader) forwards it with the address filled in.
    // s1 gets no admin address, so a store whose file predates d cannot forward to it.
    const body = JSON.stringify(i === 1 ? { id: `${s}-d`, store: 'd' } : i === 0 ? { id: `${s}-d`, store: 'd', raft: dRaft, client: dClient } : { id: `${s}-d`, store: 'd', raft: dRaft, client: dClient, admin: dAdmin });
    const url = i === 0 ? `http://${storeA.host}:${storeA.port}/v1/members` : i === 1 ? `http://127.0.0.1:${adminPort}/v1/shards/${s}/members` : `http://${storeA.host}:${storeA.port}/v1/shards/${s}/members`;
    const addStarted = Date.now();
    const add = await retrying503(() => fetch(url, { method: 'POST', headers: adminHeaders, body }));
    addMs.push(Date.now() - addStarted);
    const added = (await add.json()) as { conf?: { voters: string[] } };
    t.equal(add.status, 200, `${s}: ${s}-d added (${JSON.stringify(added).slice(0, 200)})`);
    t.ok(added.conf?.voters.includes(`${s}-d`), `${s}: ${s}-d is a voter`);
    const remove = await retrying503(() => fetch(`http://${storeA.host}:${storeA.port}/v1/shards/${s}/members/${s}-c`, { method: 'DELETE', headers: { authorization: adminHeaders.authorization } }));
    t.equal(remove.status, 200, `${s}: ${s}-c removed (${(await remove.text()).slice(0, 200)})`);
  }

  const again = await retrying503(() => fetch(`http://${storeA.host}:${storeA.port}/v1/shards/s1/members`, { method: 'POST', headers: adminHeaders, body: JSON.stringify({ id: 's1-d', store: 'd', raft: dRaft }) }));
  t.match({ status: again.status, body: await again.json() }, { status: 400, body: { field: 'body.id', detail: /s1-d is already a voter/ } }, 'adding a voter again: 400 (the README\'s loop says to check the status first)');
  addMs.sort((x, y) => x - y);
  t.pass(`${shardCount} shards moved from c to d in ${Date.now() - replacingStarted} ms (each add: median ${addMs[addMs.length >> 1]} ms, max ${addMs[addMs.length - 1]} ms)`);

  // ---- a goes: b and d are a majority of every shard
  await procs.kill('a', 'SIGKILL');
  for (const [s, dn] of dnOf) {
    const command = dn === heldDn ? { type: 'confirm' as const, dn, reservationId: 'held' } : { type: 'notReady' as const, dn, reason: 'after-a' };
    ok(await client.command(dn, command), `${s}: commits on b and d`);
  }
  t.pass(`every shard commits on stores b and d (${shardCount} shards)`);
  // Read from d's own copy (stale: this replica's state, not the leader's).
  const fromD = async (p: string): Promise<unknown> => {
    const res = await fetch(`http://127.0.0.1:${adminPort}${p}`, { headers: { authorization: `Bearer ${config.tokens.read}` } });
    if (res.status !== 200) throw new Error(`GET ${p} on store d: ${res.status} ${await res.text()}`);
    return res.json();
  };
  // A follower applies a commit one round after the leader (it learns the commit index
  // from the next append or heartbeat), so each copy is asked until it has.
  for (const [s, dn] of dnOf) {
    const state = dn === heldDn ? 'BUSY' : 'NOT_READY';
    const agent = await until(`${s}: agent ${dn} ${state} on d`, async () => {
      const a = (await fromD(`/v1/agents/${dn}?consistency=stale`)) as Agent;
      return a.status.state === state ? a : null;
    }, 10_000).catch(() => fromD(`/v1/agents/${dn}?consistency=stale`));
    t.match(agent, { dn, status: { state } }, `${s}: store d holds agent ${dn}, with the change committed after a went`);
  }
  const held = (await fromD(`/v1/shards/${shardIds[2]}/reservations?consistency=stale`)) as { dn: string; reservation: { reservationId: string } }[];
  t.match(held, [{ dn: heldDn, reservation: { reservationId: 'held' } }], 'the reservation made before c died is on d');

  // ---- a restarts on its old file, which does not name d, and still reaches it
  await procs.start('store', 'a', [], 120_000);
  await until('store a to catch up on every shard', async () => {
    for (const s of shardIds) {
      const [fromA, leader] = await Promise.all([client.replicaStatus(s, `${s}-a`, 1000).then((x) => x as RaftStatus, () => null), leaderOn(s, ['b', 'd'])]);
      if (fromA === null || leader === null || fromA.applied < leader.commit) return null;
    }
    return true;
  }, 60_000);
  // Leadership moves to a placed member (asked of store d, whose file lists it), and a
  // store whose file does not list it says where to go instead of bouncing the request.
  const toD = await retrying503(() => fetch(`http://127.0.0.1:${adminPort}/v1/shards/s1/leader/transfer`, { method: 'POST', headers: adminHeaders, body: JSON.stringify({ to: 's1-d' }) }));
  t.equal(toD.status, 200, `leadership of s1 handed to s1-d (${(await toD.text()).slice(0, 200)})`);
  await until('s1-a to hear from its new leader', async () => ((await client.replicaStatus('s1', 's1-a', 1000).catch(() => null)) as RaftStatus | null)?.leader === 's1-d' ? true : null, 10_000);
  const viaA = await fetch(`http://${storeA.host}:${storeA.port}/v1/shards/s1/leader/transfer`, { method: 'POST', headers: adminHeaders, body: JSON.stringify({ to: 's1-a' }) });
  t.match({ status: viaA.status, body: await viaA.json() }, { status: 503, body: { detail: /leader is s1-d, which this process's cluster file does not list: send the request to the admin REST of its store/ } }, 'a store whose file does not list the leader names it');
  // s3's placement has d's admin address: a transfer asked of a is forwarded to d.
  const s3ToD = await retrying503(() => fetch(`http://${dAdmin}/v1/shards/s3/leader/transfer`, { method: 'POST', headers: adminHeaders, body: JSON.stringify({ to: 's3-d' }) }));
  t.equal(s3ToD.status, 200, 'leadership of s3 handed to s3-d');
  await until('s3-a to hear from its new leader', async () => ((await client.replicaStatus('s3', 's3-a', 1000).catch(() => null)) as RaftStatus | null)?.leader === 's3-d' ? true : null, 10_000);
  const forwarded = await retrying503(() => fetch(`http://${storeA.host}:${storeA.port}/v1/shards/s3/leader/transfer`, { method: 'POST', headers: adminHeaders, body: JSON.stringify({ to: 's3-a' }) }));
  t.match({ status: forwarded.status, body: await forwarded.json() }, { status: 200, body: { transferredTo: 's3-a' } }, 'a store whose file does not list the leader forwards to the admin address the shard placed it at');
  // A client whose topology is the old file's (as a SIP node not yet restarted on the new
  // one) follows the hint to s1-d: the hint carries the placed leader's client address.
  const oldClient = new ShardClient({ shards: config.shards, auth: { secret: config.secret, principal: 'launcher' }, attemptTimeoutMs: 1000, deadlineMs: 20_000 });
  t.teardown(() => oldClient.close());
  let newDn = 6000;
  while (shardOf(String(newDn), shardIds) !== 's1' || [...dnOf.values()].includes(String(newDn))) newDn++;
  const provisioned = await oldClient.command(String(newDn), { type: 'provision', dn: String(newDn), name: 'Via the old file', skills: {}, wrapUpMs: 0, maxNoAnswer: 0, credentials: null });
  t.match(provisioned, { ok: true }, 'a client on the old file commits on shard s1, led by s1-d, which its file does not list');
  await procs.kill('b', 'SIGKILL');
  for (const [s, dn] of dnOf) {
    const command = dn === heldDn ? { type: 'release' as const, dn, reservationId: 'held', outcome: 'completed' as const } : { type: 'ready' as const, dn };
    ok(await client.command(dn, command), `${s}: commits on a and d`);
  }
  t.pass('with b gone, every shard commits on a (restarted on its old cluster file) and d');
});
