// Proves per-service configuration end to end (issue #21 point 2) with real shard replica
// processes (one shard of three), two SIP nodes (in this process, as the SIP node tests
// do) and SIP UAs over real UDP on loopback:
// 1. skill-ranked: agents at levels 90, 50 and 10 all READY; ten sequential calls (each
//    ended before the next) all go to the 90; while the 90 is busy the 50 gets the next.
// 2. live change: a PUT on SIP node 1's admin REST changes a service's strategy (and its
//    wrap-up) and the next call on SIP node 2 follows it, no restart.
// 3. maxQueueLength 1 + overflow {status: 486}: the second waiting caller gets 486 with the
//    reason; overflow {service: X}: it is queued in X and answered there; maxWaitMs runs
//    out: the queued caller moves to X (its leg kept) and is answered there.
// 4. priority: with callers waiting in two services one agent can take, the
//    higher-priority service's caller is served first though it arrived later.
// 5. REST: GET shows what is in force (file seeds, edits win); 400 naming the field;
//    401 without a token, 403 with the read token; 404 for an unknown number; DELETE, and
//    the number then gets SIP 404 on both nodes; a SIGKILL of the shard's leader loses
//    no PUT (read back from a replica's REST and a SIP node's); a PUT on a replica's REST
//    reaches both SIP nodes.
// Each scenario has its own skill, so no agent of one takes a call of another.

import t from 'tap';
import type { ServiceConfig } from '../../common/config.js';
import { addAgent, password, readAgent, sipTarget, startNode, waitFor } from '../sip/node/harness.js';
import { TestUa, type OutgoingCall } from '../sip/node/test-ua.js';
import { startShardCluster } from '../support/shard-cluster.js';
import type { SipNode } from '../../sip/node/node.js';

const fileServices: ServiceConfig[] = [
  { number: '6001', skill: 'ranked', minLevel: 0, strategy: 'skill-ranked' },
  { number: '6002', skill: 'live', minLevel: 0, strategy: 'skill-ranked' },
  { number: '6003', skill: 'full', minLevel: 0 },
  { number: '6005', skill: 'spill', minLevel: 0 },
  { number: '6009', skill: 'gone', minLevel: 0 },
];
const cluster = await startShardCluster(t, { shards: 1, replicasPerShard: 3 });
const config = { ...cluster.config, services: fileServices };
const shardId = config.shards[0]!.id;
const node1 = await startNode(t, config, { nodeId: 'sip1', queueWaitMs: 60_000 });
const node2 = await startNode(t, config, { nodeId: 'sip2', queueWaitMs: 60_000 });
const caller = await TestUa.start();
t.teardown(() => caller.close());
const admin = { authorization: `Bearer ${config.tokens.admin}` };
const reader = { authorization: `Bearer ${config.tokens.read}` };

async function phone(node: SipNode, dn: string, skills: Record<string, number>, ready = true): Promise<TestUa> {
  await addAgent(cluster, config, dn, skills, { ready });
  const ua = await TestUa.start('answer');
  t.teardown(() => ua.close());
  const { response } = await ua.register(sipTarget(node), dn, password(dn), { expires: 600 });
  if (response.status !== 200) throw new Error(`register ${dn}: ${response.status}`);
  for (const n of [node1, node2]) await waitFor(`${n.id} sees ${dn}`, () => n.view.get(dn), (a) => a !== undefined && a.contacts.length > 0 && a.status.state === (ready ? 'READY' : 'NOT_READY'));
  return ua;
}

/** READY after its `answered`-th call: a view that has not yet seen the call (a feed
 * behind under load) still shows the READY from before it. */
async function readyAgain(dn: string, answered: number): Promise<void> {
  for (const n of [node1, node2]) await waitFor(`${dn} READY on ${n.id} after ${answered} calls`, () => n.view.get(dn), (a) => a?.status.state === 'READY' && a.counters.callsAnswered >= answered);
}

async function answered(call: OutgoingCall, node: SipNode): Promise<void> {
  const final = await call.final;
  if (final.status !== 200) throw new Error(`call got ${final.status} ${final.reason}`);
  await caller.ack(call, sipTarget(node));
}

async function hangUp(call: OutgoingCall, node: SipNode): Promise<void> {
  const bye = await caller.bye(call, sipTarget(node));
  if (bye.status !== 200) throw new Error(`BYE got ${bye.status}`);
}

/** The caller's 182 Queued: its entry committed, so its place in arrival order is set. */
const queued = (call: OutgoingCall): Promise<unknown> => waitFor('182 Queued', () => call.provisionals.map((p) => p.status), (s) => s.includes(182));

async function putService(node: SipNode, number: string, body: Record<string, unknown>): Promise<void> {
  const r = await node.app.inject({ method: 'PUT', url: `/v1/services/${number}`, headers: admin, payload: body });
  if (r.statusCode !== 200) throw new Error(`PUT ${number}: ${r.statusCode} ${r.body}`);
  // Both nodes route by it once their change feed brought it.
  for (const n of [node1, node2]) await waitFor(`${n.id} routes ${number} by it`, () => n.services.get(number) as Record<string, unknown> | undefined, (d) => d !== undefined && Object.entries(body).every(([k, v]) => JSON.stringify(d[k]) === JSON.stringify(v)));
}

t.test('skill-ranked: the 90 takes every call while free; the 50 while the 90 is busy', async (t) => {
  const p90 = await phone(node1, '6101', { ranked: 90 });
  const p50 = await phone(node1, '6102', { ranked: 50 });
  const p10 = await phone(node1, '6103', { ranked: 10 });
  for (let i = 0; i < 10; i++) {
    const call = caller.call(sipTarget(node1), '6001');
    await answered(call, node1);
    await hangUp(call, node1);
    await readyAgain('6101', i + 1);
  }
  t.same([p90.invites.length, p50.invites.length, p10.invites.length], [10, 0, 0], 'all ten calls went to the 90');
  const busy = caller.call(sipTarget(node1), '6001');
  await answered(busy, node1);
  await waitFor('6101 BUSY in view', () => node1.view.get('6101')?.status.state, (s) => s === 'BUSY');
  const next = caller.call(sipTarget(node1), '6001');
  await answered(next, node1);
  t.same([p90.invites.length, p50.invites.length, p10.invites.length], [11, 1, 0], 'the 90 busy: the 50 got the next');
  await hangUp(busy, node1);
  await hangUp(next, node1);
});

t.test('a PUT on one node changes strategy and wrap-up for calls on the other, without restart', async (t) => {
  const low = await phone(node2, '6201', { live: 10 });
  const high = await phone(node2, '6202', { live: 90 });
  const first = caller.call(sipTarget(node2), '6002');
  await answered(first, node2);
  t.equal(high.invites.length, 1, 'skill-ranked (the file\'s): the 90 though the 10 waited longer');
  await hangUp(first, node2);
  await readyAgain('6202', 1);
  // The 10 has now waited longest: longest-idle would pick it, skill-ranked the 90.
  await putService(node1, '6002', { skill: 'live', strategy: 'longest-idle', wrapUpMs: 60_000 });
  const second = caller.call(sipTarget(node2), '6002');
  await answered(second, node2);
  t.same([low.invites.length, high.invites.length], [1, 1], 'longest-idle (the PUT\'s): the 10');
  await hangUp(second, node2);
  const after = await waitFor('6201 released', () => readAgent(cluster, '6201'), (a) => a.counters.callsAnswered === 1);
  t.equal(after.status.state, 'WRAP_UP', 'the service\'s wrap-up (the agent\'s own is 0)');
  t.ok(after.status.state === 'WRAP_UP' && after.status.wrapUpEndsMs - Date.now() > 30_000, 'for the service\'s 60 s');
  await cluster.client.command('6201', { type: 'ready', dn: '6201' }); // ends its wrap-up now
});

t.test('maxQueueLength 1: overflow {status: 486} answers the second caller; {service} queues it there', async (t) => {
  await putService(node1, '6003', { skill: 'full', maxQueueLength: 1, overflow: { status: 486 } });
  const first = caller.call(sipTarget(node2), '6003');
  await queued(first);
  const second = caller.call(sipTarget(node2), '6003');
  const refused = await second.final;
  t.equal(refused.status, 486);
  t.match(refused.reason, /queue full/);

  await putService(node1, '6003', { skill: 'full', maxQueueLength: 1, overflow: { service: '6005' } });
  const spillAgent = await phone(node2, '6301', { spill: 50 });
  const third = caller.call(sipTarget(node2), '6003');
  await answered(third, node2);
  t.equal(spillAgent.invites.length, 1, 'queued in 6005 and answered by its agent, the caller\'s leg kept');
  t.ok(third.provisionals.some((p) => p.status === 182), 'it waited in 6005\'s queue (182 Queued) first');
  await hangUp(third, node2);
  caller.cancel(first, sipTarget(node2));
  t.equal((await first.final).status, 487);
  await readyAgain('6301', 1);
});

t.test('maxWaitMs runs out: the queued caller overflows to another service and is answered there', async (t) => {
  await putService(node1, '6004', { skill: 'wait', maxWaitMs: 1000, overflow: { service: '6005' } });
  await cluster.client.command('6301', { type: 'notReady', dn: '6301', reason: 'test' });
  await waitFor('6301 NOT_READY', () => node2.view.get('6301')?.status.state, (s) => s === 'NOT_READY');
  const call = caller.call(sipTarget(node2), '6004');
  await queued(call);
  // It moves to 6005's queue after 1 s; an agent of 6005 that turns READY then takes it.
  await waitFor('entry in 6005', async () => (await node2.app.inject({ method: 'GET', url: '/v1/queue', headers: reader })).json() as { queue: { skill: string }[] }, (q) => q.queue.some((e) => e.skill === 'spill'));
  await cluster.client.command('6301', { type: 'ready', dn: '6301' });
  await answered(call, node2);
  t.pass('answered in the overflow service');
  await hangUp(call, node2);
});

t.test('priority: the higher-priority service\'s caller is served first, though it came later', async (t) => {
  await putService(node1, '6007', { skill: 'prio', priority: 0 });
  await putService(node1, '6008', { skill: 'prio', priority: 50 });
  const agent = await phone(node1, '6401', { prio: 50 }, false);
  const low = caller.call(sipTarget(node1), '6007');
  await queued(low);
  const high = caller.call(sipTarget(node2), '6008');
  await queued(high);
  await cluster.client.command('6401', { type: 'ready', dn: '6401' });
  await answered(high, node2);
  t.equal(agent.invites.length, 1);
  t.equal(low.provisionals.some((p) => p.status === 200), false, 'the earlier, lower-priority caller still waits');
  await hangUp(high, node2);
  await answered(low, node1);
  t.equal(agent.invites.length, 2, 'then the lower-priority one');
  await hangUp(low, node1);
});

t.test('REST: what is in force, bad bodies, tokens, 404, DELETE, and a leader kill loses no PUT', async (t) => {
  const list = await node2.app.inject({ method: 'GET', url: '/v1/services', headers: reader });
  t.equal(list.statusCode, 200);
  const byNumber = new Map((list.json() as { number: string; strategy: string | null }[]).map((d) => [d.number, d]));
  t.match(byNumber.get('6001'), { skill: 'ranked', strategy: 'skill-ranked', maxWaitMs: null, priority: 0 }, 'a file service, seeded, defaults filled');
  t.match(byNumber.get('6002'), { strategy: 'longest-idle', wrapUpMs: 60_000 }, 'the REST edit is what is in force');

  const bad = await node1.app.inject({ method: 'PUT', url: '/v1/services/6010', headers: admin, payload: { skill: 'x', strategy: 'random' } });
  t.equal(bad.statusCode, 400);
  t.match(bad.json(), { code: 'ADMIN_ERR_BAD_REQUEST', field: 'body.strategy', detail: /expected one of longest-idle/ });
  t.match((await node1.app.inject({ method: 'PUT', url: '/v1/services/6010', headers: admin, payload: { skill: 'x', maxWaitMs: 5 } })).json(), { field: 'body.maxWaitMs' });
  t.match((await node1.app.inject({ method: 'PUT', url: '/v1/services/6010', headers: admin, payload: { skill: 'x', overflow: { service: '6999' } } })).json(), { status: 400, field: 'body.overflow.service' });
  t.match((await node1.app.inject({ method: 'PUT', url: '/v1/services/6010', headers: admin, payload: { number: '6011', skill: 'x' } })).json(), { status: 400, field: 'body.number' });
  t.equal((await node1.app.inject({ method: 'PUT', url: '/v1/services/6010', payload: { skill: 'x' } })).statusCode, 401);
  t.equal((await node1.app.inject({ method: 'PUT', url: '/v1/services/6010', headers: reader, payload: { skill: 'x' } })).statusCode, 403);
  t.equal((await node1.app.inject({ method: 'DELETE', url: '/v1/services/6009', headers: reader })).statusCode, 403);
  const unknown = await node1.app.inject({ method: 'GET', url: '/v1/services/6999', headers: reader });
  t.equal(unknown.statusCode, 404);
  t.match(unknown.json(), { field: 'params.number' });

  const docs = (await node1.app.inject({ method: 'GET', url: '/docs/json' })).json() as { paths: Record<string, Record<string, { responses: Record<string, unknown> }>> };
  t.ok(docs.paths['/v1/services']?.get && docs.paths['/v1/services/{number}']?.put && docs.paths['/v1/services/{number}']?.delete, 'OpenAPI lists the service routes');
  t.ok(docs.paths['/v1/services/{number}']!.put!.responses['200'] && docs.paths['/v1/services/{number}']!.put!.responses['400'], 'with the definition and problem schemas');
  const del = await node1.app.inject({ method: 'DELETE', url: '/v1/services/6009', headers: admin });
  t.same(del.json(), { number: '6009', deleted: true });
  t.equal((await node1.app.inject({ method: 'DELETE', url: '/v1/services/6009', headers: admin })).statusCode, 404);
  t.equal((await node2.app.inject({ method: 'GET', url: '/v1/services/6009', headers: reader })).statusCode, 404);
  for (const n of [node1, node2]) {
    await waitFor(`${n.id} learns 6009 is gone`, () => n.services.get('6009'), (d) => d === undefined);
    t.equal((await caller.call(sipTarget(n), '6009').final).status, 404, `${n.id} answers 404 for a deleted service`);
  }

  await putService(node1, '6010', { skill: 'kept', priority: 9 });
  const leader = await cluster.leaderOf(shardId);
  await cluster.procs.kill(cluster.hostOf(leader));
  const survivor = config.shards[0]!.replicas.find((r) => r.id !== leader)!;
  const fromReplica = await waitFor('replica REST after the kill', async () => {
    try {
      const res = await fetch(`http://${survivor.admin.host}:${survivor.admin.port}/v1/services/6010`, { headers: reader });
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    } catch {
      return { status: 0, body: {} };
    }
  }, (r) => r.status === 200, 30_000);
  t.match(fromReplica.body, { number: '6010', skill: 'kept', priority: 9 }, 'the PUT survived the leader\'s SIGKILL');
  t.match((await node2.app.inject({ method: 'GET', url: '/v1/services/6010', headers: reader })).json(), { priority: 9 });

  // A replica's REST writes too (after the failover), and every SIP node follows it.
  const put = await fetch(`http://${survivor.admin.host}:${survivor.admin.port}/v1/services/6010`, { method: 'PUT', headers: { ...admin, 'content-type': 'application/json' }, body: JSON.stringify({ skill: 'kept', priority: 11 }) });
  t.equal(put.status, 200);
  for (const n of [node1, node2]) await waitFor(`${n.id} follows the replica's PUT`, () => n.services.priorityOf('6010'), (p) => p === 11);
  t.pass('both SIP nodes route by the definition PUT on a replica');
});
