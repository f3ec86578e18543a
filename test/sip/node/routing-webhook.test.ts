// Proves the HTTP routing webhook end to end: real shard processes, a SIP node in this
// process, real SIP over UDP, and a real fastify server on 127.0.0.1:0 as the customer's
// routing engine. The call goes to the DN the webhook chose even though the built-in
// router (longest idle) would pick another; the webhook gets the call's data (call id,
// from, to, service, skill, minLevel, excluded DNs, attempt number); a webhook DN that is
// not READY is denied by its shard and the webhook is asked again with that DN excluded;
// `{"dn":null}` queues the call (182) until the webhook names an agent. A webhook that
// is down, too slow, answers non-2xx or garbage, or names a DN already tried or not a
// known agent with the skill, leaves the decision to the built-in router — the call is
// still answered — and ringfence_sip_routing_webhook_total counts each case by result.
// The pure body parser and DN vetting are checked on their own at the end.

import Fastify from 'fastify';
import t from 'tap';
import { getHeader } from '../../../sip/syntax/index.js';
import { Router } from '../../../sip/node/router.js';
import { parseWebhookBody, vetWebhookDn } from '../../../sip/node/routing-webhook.js';
import type { SipNode } from '../../../sip/node/node.js';
import { validateClusterConfig } from '../../../common/config.js';
import { addAgent, password, readAgent, sipTarget, startCluster, startNode, waitFor } from './harness.js';
import { TestUa } from './test-ua.js';
import type { Agent } from '../../../shards/types.js';

type Reply = { status?: number; body: string; delayMs?: number };
type Query = { callId: string; from: string; to: string; service: string; skill: string; minLevel: number; exclude: string[]; attempt: number; node: string };

// ---- the customer's routing engine ----
const asked: Query[] = [];
let decide: (q: Query) => Reply = () => ({ body: '{"dn":null}' });
const hook = Fastify();
hook.post('/route', async (req, reply) => {
  const q = req.body as Query;
  asked.push(q);
  const r = decide(q);
  if (r.delayMs !== undefined) await new Promise((res) => setTimeout(res, r.delayMs));
  return reply.status(r.status ?? 200).header('content-type', 'application/json').send(r.body);
});
await hook.listen({ host: '127.0.0.1', port: 0 });
t.teardown(() => hook.close());
const hookUrl = `http://127.0.0.1:${(hook.server.address() as { port: number }).port}/route`;

// A URL nobody listens on: bind a port, then free it.
const gone = Fastify();
await gone.listen({ host: '127.0.0.1', port: 0 });
const deadUrl = `http://127.0.0.1:${(gone.server.address() as { port: number }).port}/route`;
await gone.close();

const skill = 'hook';
const services = [{ number: '7001', skill, minLevel: 10 }];
const { cluster, config } = await startCluster(t, services, 2);
// A deadline far above the hook's real answer time (a few ms): this process runs the
// node, the hook and the test on one event loop of a loaded 2-core machine, and a late
// answer would quietly turn a webhook decision into the built-in router's.
const hookTimeoutMs = 2000;
const node = await startNode(t, config, { nodeId: 'sip-hook', routingWebhook: { url: hookUrl, timeoutMs: hookTimeoutMs }, queueWaitMs: 8000 });
const server = sipTarget(node);
const caller = await TestUa.start();
t.teardown(() => caller.close());

const phones = new Map<string, TestUa>();
for (const dn of ['7101', '7102', '7103']) {
  await addAgent(cluster, config, dn, { [skill]: 50 }, { ready: dn !== '7103' });
  const ua = await TestUa.start('answer');
  t.teardown(() => ua.close());
  if ((await ua.register(server, dn, password(dn), { expires: 600 })).response.status !== 200) throw new Error(`register ${dn}`);
  phones.set(dn, ua);
}
await addAgent(cluster, config, '7109', { other: 50 }); // known, READY, but not for this skill
await addAgent(cluster, config, '7108', { [skill]: 5 }); // the skill, below the service's minLevel

/** Every READY agent's phone visible to `n`'s router, so its choice is predictable. */
async function settled(n: SipNode): Promise<void> {
  for (const dn of ['7101', '7102']) {
    await waitFor(`view of ${dn} on ${n.id}`, () => n.view.get(dn), (a) => a?.status.state === 'READY' && a.contacts.length > 0);
  }
}

/** What the built-in router of `n` would choose now (same view, same strategy). */
function builtinPick(n: SipNode): string {
  const dn = new Router(n.view, 'longest-idle').pick({ skill, minLevel: 10, exclude: new Set(), nowMs: Date.now() });
  if (dn === null) throw new Error('built-in router sees no agent');
  return dn;
}
const otherThan = (dn: string): string => (dn === '7101' ? '7102' : '7101');

/** Places a call at `n`, returns which agent's phone answered it, and hangs up. */
async function callVia(n: SipNode): Promise<{ dn: string; provisionals: number[] }> {
  const before = new Map([...phones].map(([dn, ua]) => [dn, ua.invites.length]));
  const target = sipTarget(n);
  const call = caller.call(target, '7001');
  const final = await call.final;
  if (final.status !== 200) throw new Error(`call answered ${final.status}`);
  await caller.ack(call, target);
  const rang = [...phones].filter(([dn, ua]) => ua.invites.length > before.get(dn)!).map(([dn]) => dn);
  if (rang.length !== 1) throw new Error(`phones offered the call: ${rang.join(',')}`);
  await caller.bye(call, target);
  const dn = rang[0]!;
  await waitFor(`${dn} READY`, () => readAgent(cluster, dn), (a) => a.status.state === 'READY');
  await settled(n);
  return { dn, provisionals: call.provisionals.map((p) => p.status) };
}

async function webhookCount(n: SipNode, result: string): Promise<number> {
  const res = await n.app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${config.tokens.read}` } });
  const m = new RegExp(`^ringfence_sip_routing_webhook_total\\{[^}]*result="${result}"[^}]*\\} (\\d+)$`, 'm').exec(res.body);
  return m === null ? 0 : Number(m[1]);
}

t.test('the call goes to the DN the webhook chose, not the built-in pick', async (t) => {
  await settled(node);
  const builtin = builtinPick(node);
  const chosen = otherThan(builtin);
  asked.length = 0;
  decide = () => ({ body: JSON.stringify({ dn: chosen }) });
  const call = caller.call(server, '7001');
  t.equal((await call.final).status, 200);
  await caller.ack(call, server);
  t.equal(phones.get(chosen)!.invites.length, 1, `the webhook's agent ${chosen} was offered the call`);
  t.equal(phones.get(builtin)!.invites.length, 0, `the built-in pick ${builtin} was not`);
  t.equal(asked.length, 1, 'one webhook request');
  t.match(asked[0], { callId: getHeader(call.tx.request, 'Call-ID'), service: '7001', skill, minLevel: 10, exclude: [], attempt: 1, node: 'sip-hook' });
  t.match(asked[0]!.from, /sip:caller@/);
  t.match(asked[0]!.to, /sip:7001@/);
  t.equal(await webhookCount(node, 'accepted'), 1);
  await caller.bye(call, server);
  await waitFor('READY', () => readAgent(cluster, chosen), (a) => a.status.state === 'READY');
  await settled(node);
});

t.test('a webhook DN that is not READY is denied; the webhook is asked again without it', async (t) => {
  asked.length = 0;
  const second = otherThan(builtinPick(node));
  decide = (q) => ({ body: JSON.stringify({ dn: q.exclude.includes('7103') ? second : '7103' }) });
  const { dn } = await callVia(node);
  t.equal(dn, second, 'answered by the webhook\'s second choice');
  t.equal(phones.get('7103')!.invites.length, 0, 'the NOT_READY agent was never offered the call');
  t.same(asked.map((q) => [q.attempt, q.exclude]), [[1, []], [2, ['7103']]], 'second request excludes the denied DN');
  t.equal((await readAgent(cluster, '7103')).status.state, 'NOT_READY');
});

t.test('every webhook failure falls back to the built-in router', async (t) => {
  const cases: { result: string; reply: (q: Query) => Reply }[] = [
    { result: 'timeout', reply: () => ({ body: '{"dn":"7101"}', delayMs: 2 * hookTimeoutMs }) },
    { result: 'http-status', reply: () => ({ status: 503, body: '{"dn":"7101"}' }) },
    { result: 'malformed', reply: () => ({ body: 'route it yourself' }) },
    { result: 'malformed', reply: () => ({ body: '{"dn":7101}' }) },
    { result: 'not-eligible', reply: () => ({ body: '{"dn":"9999"}' }) },
    { result: 'not-eligible', reply: () => ({ body: '{"dn":"7109"}' }) },
    { result: 'not-eligible', reply: () => ({ body: '{"dn":"7108"}' }) },
  ];
  for (const c of cases) {
    const before = await webhookCount(node, c.result);
    decide = c.reply;
    const expected = builtinPick(node);
    const { dn } = await callVia(node);
    t.equal(dn, expected, `${c.result}: answered by the built-in pick ${expected}`);
    t.equal(await webhookCount(node, c.result), before + 1, `${c.result} counted`);
  }
  // The webhook repeats a DN that was just denied: `tried`, then the built-in router.
  const beforeTried = await webhookCount(node, 'tried');
  decide = () => ({ body: '{"dn":"7103"}' });
  const expected = builtinPick(node);
  t.equal((await callVia(node)).dn, expected, 'tried: built-in pick');
  t.equal(await webhookCount(node, 'tried'), beforeTried + 1, 'tried counted');
});

t.test('a webhook that is down: the built-in router routes', async (t) => {
  const down = await startNode(t, config, { nodeId: 'sip-hook-down', routingWebhook: { url: deadUrl, timeoutMs: 250 } });
  await settled(down);
  const expected = builtinPick(down);
  const { dn } = await callVia(down);
  t.equal(dn, expected, 'answered by the built-in pick');
  t.equal(await webhookCount(down, 'error'), 1, 'connection error counted');
});

t.test('{"dn":null} queues the call until the webhook names an agent', async (t) => {
  const target = otherThan(builtinPick(node));
  let asks = 0;
  decide = () => (++asks === 1 ? { body: '{"dn":null}' } : { body: JSON.stringify({ dn: target }) });
  const before = phones.get(target)!.invites.length;
  const { dn, provisionals } = await callVia(node);
  t.ok(provisionals.includes(182), 'caller heard 182 Queued');
  t.equal(dn, target, 'then the webhook\'s agent answered');
  t.equal(phones.get(target)!.invites.length, before + 1);
  t.ok(asks >= 2, 'the queued call was asked about again');
  t.ok((await webhookCount(node, 'queue')) >= 1, 'queue counted');
});

t.test('body parsing and DN vetting (pure)', async (t) => {
  t.same(parseWebhookBody('{"dn":"1005"}'), { dn: '1005' });
  t.same(parseWebhookBody('{"dn":null,"why":"closed"}'), { dn: null });
  for (const bad of ['', 'null', '[]', '{}', '{"dn":1005}', '{"dn":""}', '{"dn":"a b"}', '{"dn":"1005"']) t.equal(parseWebhookBody(bad), null, `malformed: ${bad}`);
  const agent = { skills: { s: 10 } } as unknown as Agent;
  const q = { skill: 's', minLevel: 5, exclude: new Set(['1']) };
  t.equal(vetWebhookDn('1', q, agent), 'tried');
  t.equal(vetWebhookDn('2', q, undefined), 'not-eligible');
  t.equal(vetWebhookDn('2', { ...q, minLevel: 11 }, agent), 'not-eligible');
  t.equal(vetWebhookDn('2', { ...q, skill: 'x' }, agent), 'not-eligible');
  t.equal(vetWebhookDn('2', q, agent), 'ok');
});

t.test('cluster file: routing.webhook is validated with the field named', async (t) => {
  const base = { secret: 'test-secret-0123456789abcdefghijklmnopqrstuvwxyz', tokens: { read: 'test-read-token-0123456789abcdefghijklmn', admin: 'test-admin-token-0123456789abcdefghijklmn' }, shards: [{ id: 'a', replicas: [{ id: 'a1', raft: 1, client: 2, admin: 3 }] }] };
  t.same(validateClusterConfig(base).routing, { webhook: null });
  t.same(validateClusterConfig({ ...base, routing: { webhook: { url: 'http://r.example/route' } } }).routing, { webhook: { url: 'http://r.example/route', timeoutMs: 300 } });
  t.same(validateClusterConfig({ ...base, routing: { webhook: 'https://r.example/x' } }).routing?.webhook?.url, 'https://r.example/x');
  t.throws(() => validateClusterConfig({ ...base, routing: { webhook: { url: 'ftp://r.example' } } }), /routing\.webhook\.url/);
  t.throws(() => validateClusterConfig({ ...base, routing: { webhook: { url: 'http://r', timeoutMs: 0 } } }), /routing\.webhook\.timeoutMs/);
  t.throws(() => validateClusterConfig({ ...base, routing: { webhook: 5 } }), /routing\.webhook/);
});
