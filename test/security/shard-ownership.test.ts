// Threat: configuration skew. A SIP node whose cluster file lists other shards than the
// rest (here [s1] while the cluster runs [s1, s2]) hashes DNs to other owners
// (shards/shard-map.ts). Before, a shard accepted a command for ANY DN: the stale node (and
// a stale provisioning tool) put the agent on s1 while the others used s2, and both shards
// granted the same agent to two calls — a double booking split across two Raft groups.
// Now every shard's leader replicates its file's shard map; a shard refuses a DN it does
// not own (SHARD_ERR_WRONG_SHARD) or a command routed under another map version
// (SHARD_ERR_MAP_VERSION), with its map, and the stale client follows that map to the
// owner or is refused. Real shard replica processes on loopback.
import t from 'tap';
import { randomUUID } from 'node:crypto';
import { ShardClient, ShardClientError } from '../../shards/client/shard-client.js';
import { shardMapVersion, shardOf } from '../../shards/shard-map.js';
import type { ReservationView } from '../../shards/state-machine.js';
import type { Command, ShardResult } from '../../shards/types.js';
import { startShardCluster } from '../support/shard-cluster.js';

t.test('a SIP node with a stale shard list can never get one DN granted twice', { timeout: 240_000 }, async (t) => {
  const cluster = await startShardCluster(t, { shards: 2, coHosted: true });
  const { config, client: launcher } = cluster;
  const ids = config.shards.map((s) => s.id).sort();
  t.same(ids, ['s1', 's2']);
  const version = shardMapVersion(ids);

  // Every replica's GET /v1/status shows the map its leader replicated from the file.
  const statusOf = async (r: { admin: { host: string; port: number } }): Promise<Record<string, unknown> | null> => {
    try {
      const res = await fetch(`http://${r.admin.host}:${r.admin.port}/v1/status`, { headers: { authorization: `Bearer ${config.tokens.read}` } });
      return res.ok ? ((await res.json()) as Record<string, unknown>) : null;
    } catch {
      return null;
    }
  };
  for (const shard of config.shards) {
    for (const r of shard.replicas) {
      let status: Record<string, unknown> | null = null;
      for (let i = 0; i < 600; i++) {
        status = await statusOf(r);
        if ((status?.['shardMap'] as { version?: number } | null | undefined)?.version === version) break;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      t.same(status?.['shardMap'], { shardId: shard.id, shardIds: ids, version }, `${r.id} shows the replicated map`);
    }
  }

  // A DN the full list gives to s2, and the stale list [s1] to s1.
  let dn = '5000';
  while (shardOf(dn, ids) !== 's2') dn = String(Number(dn) + 1);
  const make = (principal: string, shardIds?: string[], topology = config.shards): ShardClient =>
    new ShardClient({ shards: topology, auth: { secret: config.secret, principal }, attemptTimeoutMs: 1000, deadlineMs: 10_000, ...(shardIds ? { shardIds } : {}) });
  // The stale node knows every replica's address (to follow a redirect) but hashes over [s1].
  const staleLauncher = make('launcher', ['s1']);
  const freshSip = make('sip:fresh');
  const staleSip = make('sip:stale', ['s1']);
  const blindSip = make('sip:blind', undefined, config.shards.filter((s) => s.id === 's1'));
  t.teardown(() => [staleLauncher, freshSip, staleSip, blindSip].forEach((c) => c.close()));
  t.equal(staleSip.shardFor(dn), 's1', 'the stale node computes another owner');
  t.equal(freshSip.shardFor(dn), 's2');

  // Provisioned by a tool with the full file, and again by one with the stale file.
  const agentCommands: Command[] = [
    { type: 'provision', dn, name: 'Skewed', skills: { s: 50 }, wrapUpMs: 0, maxNoAnswer: 0, credentials: null },
    { type: 'login', dn },
    { type: 'ready', dn },
  ];
  for (const c of agentCommands) {
    const r = await launcher.command(dn, c);
    t.ok(r.ok, `${c.type} through the full map: ${JSON.stringify(r).slice(0, 200)}`);
  }
  for (const c of agentCommands) await staleLauncher.command(dn, c);
  t.same(staleLauncher.routingShardIds, ids, 'the stale tool adopted the replicated map');

  // Both nodes reserve the agent for different calls at once.
  const reserve = (client: ShardClient, owner: string): Promise<ShardResult> =>
    client.command(dn, { type: 'reserve', dn, reservationId: `r-${owner}-${randomUUID()}`, callId: `call-${owner}`, owner, ttlMs: 60_000 });
  const [fresh, stale] = await Promise.all([reserve(freshSip, 'fresh'), reserve(staleSip, 'stale')]);
  const blind = await reserve(blindSip, 'blind').then(
    (r) => (r.ok ? 'granted' : r.code),
    (err: unknown) => (err instanceof ShardClientError ? err.code : String(err)),
  );

  // Exactly one grant for the DN exists, across both shards.
  const grants: ReservationView[] = [];
  for (const shardId of ids) {
    const views = (await launcher.read(shardId, { type: 'reservations' })) as ReservationView[];
    grants.push(...views.filter((v) => v.dn === dn));
  }
  t.equal(grants.length, 1, `exactly one grant for DN ${dn}: ${JSON.stringify(grants)}`);
  t.equal([fresh, stale].filter((r) => r.ok).length, 1, `one reserve granted, the other refused: ${JSON.stringify([fresh, stale].map((r) => (r.ok ? r.type : r.code)))}`);
  const refused = [fresh, stale].find((r) => !r.ok);
  t.ok(refused && !refused.ok && ['SHARD_ERR_AGENT_RESERVED', 'SHARD_ERR_WRONG_SHARD', 'SHARD_ERR_MAP_VERSION'].includes(refused.code), 'the loser is refused');
  t.same(staleSip.routingShardIds, ids, 'the stale node now routes by the replicated map');
  t.equal(staleSip.shardFor(dn), 's2');
  t.ok(blind === 'SHARD_ERR_UNKNOWN_SHARD' || blind === 'SHARD_ERR_MAP_VERSION', `a node that cannot reach the owner is refused (${blind}), not granted`);

  // s1 never got the agent; s2 holds it, reserved once.
  const onS1 = await launcher.read('s1', { type: 'agent', dn }).then(() => 'present', (err: unknown) => (err as { code?: string }).code);
  t.equal(onS1, 'SHARD_ERR_UNKNOWN_DN', 's1 holds no agent for the DN');
  const onS2 = (await launcher.read('s2', { type: 'agent', dn })) as { status: { state: string } };
  t.equal(onS2.status.state, 'RESERVED');
  for (const host of cluster.hosts) t.ok(cluster.procs.isRunning(host), `${host} is still up`);
});
