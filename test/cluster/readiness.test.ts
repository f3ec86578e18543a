// Proves /healthz and /readyz: the readiness decisions on statuses (no sockets), then on
// real processes — a one-shard cluster (three replicas, a gateway, a SIP node) whose
// every role reports ready without a token; a SIP node whose gateway dies reports 503
// naming the gateway; a replica whose shard lost its quorum reports 503 naming the missing
// leader on /readyz while /healthz stays 200, and the SIP node names the shard.
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import { ProcessSet, writeLocalClusterConfig } from '../../cluster/local-cluster.js';
import { gatewayCheck, replicaReadiness, shardReachCheck } from '../../cluster/readiness.js';
import { readinessAppliedLagEntriesMax } from '../../cluster/limits.js';
import type { RaftStatus } from '../../raft/types.js';
import { tempDir } from '../support/temp-dir.js';

const status = (o: Partial<RaftStatus>): RaftStatus => ({
  id: 's1-a', role: 'follower', term: 3, vote: null, leader: 's1-b', commit: 50, applied: 50, lastIndex: 50, firstIndex: 1, snapshotIndex: 0,
  conf: { voters: ['s1-a', 's1-b', 's1-c'], learners: [] } as unknown as RaftStatus['conf'], peers: [], leadership: null, failed: null, ...o,
});

t.test('replica readiness: a leader, caught up, storage working', async (t) => {
  const allOk = (r: Record<string, { ok: boolean }>): boolean => Object.values(r).every((c) => c.ok);
  t.ok(allOk(replicaReadiness(status({}), 50)), 'a follower applied up to the leader\'s commit');
  t.ok(allOk(replicaReadiness(status({ applied: 50 }), 50 + readinessAppliedLagEntriesMax)), 'a lag of exactly the maximum is caught up');
  const behind = replicaReadiness(status({ applied: 50 }), 51 + readinessAppliedLagEntriesMax);
  t.match(behind.caughtUp, { ok: false, detail: /entries behind the leader's commit/ });
  t.match(replicaReadiness(status({ leader: null, role: 'preCandidate' }), null).leader, { ok: false, detail: /no leader known in term 3 \(role preCandidate\)/ });
  t.match(replicaReadiness(status({}), null).leader, { ok: false, detail: /leader s1-b does not answer/ });
  t.match(replicaReadiness(status({ failed: 'ENOSPC' }), 50).storage, { ok: false, detail: 'ENOSPC' });
});

t.test('SIP node readiness: a quorum with a leader in a shard, a live gateway', async (t) => {
  const leader = status({ id: 's1-b', role: 'leader' });
  t.match(shardReachCheck({ shard: 's1', voters: 3, statuses: [status({}), leader, null] }), { ok: true, detail: /2 of 3 replicas answer \(quorum 2\), s1-b leads/ });
  t.match(shardReachCheck({ shard: 's1', voters: 3, statuses: [leader, null, null] }), { ok: false, detail: /1 of 3 replicas answer/ });
  t.match(shardReachCheck({ shard: 's1', voters: 3, statuses: [status({}), status({ id: 's1-c' }), null] }), { ok: false, detail: /none leads/ });
  t.match(gatewayCheck([{ id: 'gw1', alive: false }, { id: 'gw2', alive: true }], 2), { ok: true, detail: 'alive: gw2' });
  t.match(gatewayCheck([{ id: 'gw1', alive: false }], 1), { ok: false });
  t.match(gatewayCheck([], 0), { ok: true });
});

type Probe = { status: number; body: { status: string; missing?: string[]; checks?: Record<string, { ok: boolean; detail: string }> } };

async function get(url: string): Promise<Probe> {
  const res = await fetch(url);
  return { status: res.status, body: (await res.json()) as Probe['body'] };
}

/** Polls `url` until `until` holds (the test's timeout bounds the wait). */
async function waitFor(url: string, until: (p: Probe) => boolean): Promise<Probe> {
  for (;;) {
    const p = await get(url).catch(() => null);
    if (p !== null && until(p)) return p;
    await sleep(100);
  }
}

t.test('real processes: ready, a dead gateway, a shard without quorum', async (t) => {
  const dir = tempDir(t, 'readiness');
  const { path, config } = await writeLocalClusterConfig({ dir, shards: 1, sipNodes: 1, gateways: 1 });
  const procs = new ProcessSet(path, { logFile: join(dir, 'processes.log') });
  t.teardown(() => procs.stopAll(2000));
  const replicas = config.shards[0]!.replicas;
  await Promise.all(replicas.map((r) => procs.start('shard', r.id, [], 120_000)));
  await procs.start('gateway', 'gw1');
  await procs.start('sip', 'sip1', ['--gateway-poll-ms', '200'], 120_000);
  const at = (hp: { host: string; port: number }, route: string): string => `http://${hp.host}:${hp.port}${route}`;
  const sip = config.sip[0]!.admin;

  for (const r of replicas) {
    const ready = await waitFor(at(r.admin, '/readyz'), (p) => p.status === 200);
    t.match(ready.body, { status: 'ready', checks: { leader: { ok: true }, caughtUp: { ok: true }, storage: { ok: true } } }, `${r.id} is ready, without a token`);
  }
  const sipReady = await waitFor(at(sip, '/readyz'), (p) => p.status === 200);
  t.match(sipReady.body.checks, { 'shard s1': { ok: true }, gateway: { ok: true, detail: /gw1/ }, routing: { ok: true } }, 'the SIP node is ready');
  t.equal((await fetch(at(sip, '/v1/status'))).status, 401, 'the rest of the admin REST still needs a token');

  await procs.kill('gw1');
  const noGateway = await waitFor(at(sip, '/readyz'), (p) => p.status === 503);
  t.match(noGateway.body, { status: 'not ready', missing: [/^gateway: none of 1 gateways answers/] }, 'a SIP node without a gateway is not ready, and says so');
  t.same(await get(at(sip, '/healthz')), { status: 200, body: { status: 'ok' } });

  const [survivor, ...killed] = replicas;
  await Promise.all(killed.map((r) => procs.kill(r.id)));
  // First its leader stops answering (when the leader was killed), then its election
  // timer fires and it forgets the leader; either way it is not ready.
  const lost = await waitFor(at(survivor!.admin, '/readyz'), (p) => p.status === 503);
  t.match(lost.body, { status: 'not ready', checks: { leader: { ok: false, detail: /no leader known|does not answer/ } } }, `${survivor!.id} without a quorum is not ready`);
  const leaderless = await waitFor(at(survivor!.admin, '/readyz'), (p) => p.body.checks?.leader?.detail.startsWith('no leader known') === true);
  t.match(leaderless, { status: 503, body: { missing: [/^leader: no leader known in term \d+/] } }, 'it names the missing leader');
  t.same(await get(at(survivor!.admin, '/healthz')), { status: 200, body: { status: 'ok' } }, 'but it is alive');
  const sipLost = await waitFor(at(sip, '/readyz'), (p) => p.status === 503 && p.body.checks?.['shard s1']?.ok === false);
  t.match(sipLost.body.checks?.['shard s1'], { ok: false, detail: /1 of 3 replicas answer \(quorum 2\)/ }, 'the SIP node names the shard it cannot reach');
});
