// Service-level figures and CDR queries across two SIP nodes (README "Service-level
// figures", "Call detail records"): one shard replica process, two SIP nodes in this
// process (each its admin REST on a port named in the cluster file, so each can ask the
// other), an agent phone and a caller as real SIP UAs on loopback. Service 7001 has a
// service level of 1 s.
//   call 1 via sipA, the agent READY: answered at once;
//   call 2 via sipB, the agent NOT_READY: queued, then CANCELed (abandoned while queued);
//   call 3 via sipA: queued, the agent made READY 1.5 s later: answered outside the SL.
// Then: GET /v1/services/7001/stats on either node gives the cluster's figures, the sum of
// each node's (scope=node) — offered 3, answered 2, abandoned 1 (queued), within SL as the
// CDRs' setup times say, ASA their mean — and so do the per-node /metrics (service label;
// promtool-clean), and the dashboard's snapshot. GET /v1/cdrs filters by time, service and agent, limits, and answers
// 400 naming each bad parameter. sipB's event stream has the abandoned call queued,
// abandoned while queued, ended. With sipB closed, sipA's answer names it in `partial`.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import t from 'tap';
import { SnapshotSource } from '../../cluster/dashboard/snapshot-source.js';
import { freePorts } from '../../cluster/local-cluster.js';
import type { ClusterConfig } from '../../common/config.js';
import type { CdrRecord } from '../../sip/node/cdr.js';
import type { ServiceFigures } from '../../sip/node/service-stats.js';
import type { SipTarget } from '../../sip/transport/index.js';
import { addAgent, password, readAgent, sipTarget, startNode, waitFor } from '../sip/node/harness.js';
import { TestUa, type OutgoingCall } from '../sip/node/test-ua.js';
import { startShardCluster } from '../support/shard-cluster.js';
import { tempDir } from '../support/temp-dir.js';

t.setTimeout(240_000);
const SERVICE = '7001';
const DN = '9001';
const cluster = await startShardCluster(t, { shards: 1, replicasPerShard: 1 });
const [adminA, adminB] = await freePorts(2);
const loop = (port: number) => ({ host: '127.0.0.1', port });
const config: ClusterConfig = {
  ...cluster.config,
  services: [{ number: SERVICE, skill: 'sales', minLevel: 0, serviceLevelMs: 1000 }],
  sip: [
    { id: 'sipA', udp: loop(0), tcp: loop(0), admin: loop(adminA!) },
    { id: 'sipB', udp: loop(0), tcp: loop(0), admin: loop(adminB!) },
  ],
};
const dir = tempDir(t, 'stats');
const nodeA = await startNode(t, config, { nodeId: 'sipA', admin: loop(adminA!), cdrPath: join(dir, 'cdr-sipA.jsonl'), queueWaitMs: 60_000 });
const nodeB = await startNode(t, config, { nodeId: 'sipB', admin: loop(adminB!), cdrPath: join(dir, 'cdr-sipB.jsonl'), queueWaitMs: 60_000 });
const viaA: SipTarget = sipTarget(nodeA);
const viaB: SipTarget = sipTarget(nodeB);
const phone = await TestUa.start('answer');
const caller = await TestUa.start();
t.teardown(() => Promise.all([phone.close(), caller.close()]));

async function get<T>(port: number, path: string): Promise<{ status: number; body: T }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, { headers: { authorization: `Bearer ${config.tokens.read}` } });
  return { status: res.status, body: (await res.json()) as T };
}
async function command(cmd: Parameters<typeof cluster.client.command>[1]): Promise<void> {
  const r = await cluster.client.command(DN, cmd, { deadlineMs: 20_000 });
  if (!r.ok) throw new Error(`${cmd.type}: ${r.code} ${r.reason}`);
}
async function answeredAndHungUp(call: OutgoingCall, via: SipTarget): Promise<void> {
  const final = await call.final;
  if (final.status !== 200) throw new Error(`expected 200, got ${final.status}`);
  await caller.ack(call, via);
  await caller.bye(call, via);
  await waitFor(`${DN} READY again`, () => readAgent(cluster, DN), (a) => a.status.state === 'READY', 20_000);
}
const queued = (call: OutgoingCall) => waitFor('182 Queued', () => call.provisionals.some((p) => p.status === 182), (x) => x, 20_000);

type Stats = { service: string; scope: string; serviceLevelMs: number; since: string | null; complete: boolean; figures: ServiceFigures; nodes: { node: string; complete: boolean; figures: ServiceFigures }[]; partial: { node: string; error: string }[] };
type Cdrs = { cdrs: CdrRecord[]; truncated: boolean; nodes: { node: string; count: number }[]; partial: unknown[] };
type Problem = { status: number; code: string; field?: string; detail: string };

t.test('three calls: answered at once, abandoned in the queue, answered after the service level', async (t) => {
  await addAgent(cluster, config, DN, { sales: 50 });
  t.equal((await phone.register(viaA, DN, password(DN), { expires: 600 })).response.status, 200);
  await waitFor('both nodes see the agent READY', () => [nodeA.view, nodeB.view].every((v) => v.get(DN)?.status.state === 'READY'), (x) => x, 10_000);

  await answeredAndHungUp(caller.call(viaA, SERVICE), viaA);

  await command({ type: 'notReady', dn: DN, reason: 'break' });
  await waitFor('nodes see NOT_READY', () => [nodeA.view, nodeB.view].every((v) => v.get(DN)?.status.state === 'NOT_READY'), (x) => x, 10_000);
  const abandoned = caller.call(viaB, SERVICE);
  await queued(abandoned);
  caller.cancel(abandoned, viaB);
  t.equal((await abandoned.final).status, 487, 'CANCEL while queued → 487');

  const late = caller.call(viaA, SERVICE);
  await queued(late);
  await new Promise((r) => setTimeout(r, 1500)); // past the 1 s service level, whatever the load
  await command({ type: 'ready', dn: DN });
  await answeredAndHungUp(late, viaA);
});

let cdrs: CdrRecord[] = [];

t.test('GET /v1/cdrs: both nodes\' records, oldest first, filtered; 400 naming each bad parameter', async (t) => {
  const all = await waitFor('three CDRs', () => get<Cdrs>(adminA!, '/v1/cdrs'), (r) => r.body.cdrs.length === 3, 10_000);
  cdrs = all.body.cdrs;
  t.same(cdrs.map((c) => [c.node, c.outcome, c.dn]), [['sipA', 'completed', DN], ['sipB', 'abandoned', null], ['sipA', 'completed', DN]], 'in the order the calls ended');
  t.same(all.body.nodes.map((n) => [n.node, n.count]), [['sipA', 2], ['sipB', 1]]);
  t.same(all.body.partial, []);
  t.same((await get<Cdrs>(adminB!, '/v1/cdrs')).body.cdrs, cdrs, 'the same from the other node');
  t.same((await get<{ cdrs: CdrRecord[] }>(adminB!, '/v1/cdrs?scope=node')).body.cdrs.map((c) => c.callId), [cdrs[1]!.callId], 'scope=node: its own file only');
  const ids = async (q: string): Promise<string[]> => (await get<Cdrs>(adminA!, `/v1/cdrs?${q}`)).body.cdrs.map((c) => c.callId);
  t.same(await ids(`dn=${DN}`), [cdrs[0]!.callId, cdrs[2]!.callId], 'dn: the calls the agent answered');
  t.same(await ids(`service=${SERVICE}`), cdrs.map((c) => c.callId));
  t.same(await ids('service=7999'), []);
  t.same(await ids(`from=${encodeURIComponent(cdrs[2]!.startedAt)}`), [cdrs[2]!.callId], 'from (ISO-8601): started at or after');
  t.same(await ids(`to=${Date.parse(cdrs[1]!.startedAt)}`), [cdrs[0]!.callId], 'to (epoch ms): started before');
  t.same(await ids(`from=${Date.parse(cdrs[1]!.startedAt)}&to=${encodeURIComponent(cdrs[2]!.startedAt)}`), [cdrs[1]!.callId]);
  const limited = await get<Cdrs>(adminA!, '/v1/cdrs?limit=1');
  t.same([limited.body.cdrs.map((c) => c.callId), limited.body.truncated], [[cdrs[0]!.callId], true], 'limit=1: the oldest, truncated');
  const bad = async (q: string): Promise<[number, string | undefined]> => {
    const r = await get<Problem>(adminA!, `/v1/cdrs?${q}`);
    return [r.status, r.body.field];
  };
  t.same(await bad('from=yesterday'), [400, 'querystring.from']);
  t.same(await bad('to=2026-13-45T99:00:00Z'), [400, 'querystring.to']);
  t.same(await bad('from=2000&to=1000'), [400, 'querystring.to'], 'to before from');
  t.same(await bad('limit=0'), [400, 'querystring.limit']);
  t.same(await bad('limit=many'), [400, 'querystring.limit']);
  t.same(await bad('dn=%3Cscript%3E'), [400, 'querystring.dn']);
  t.equal((await bad('frm=1'))[0], 400, 'an unknown parameter');
  t.equal((await fetch(`http://127.0.0.1:${adminA}/v1/cdrs`)).status, 401, 'the read token is needed');
});

t.test('GET /v1/services/7001/stats: the cluster\'s figures, the sum of each node\'s', async (t) => {
  t.equal(cdrs.length, 3, 'the CDRs of the calls (for their setup times)');
  const [first, , third] = cdrs as [CdrRecord, CdrRecord, CdrRecord];
  t.ok(third.setupMs! >= 1500, `call 3 waited ${third.setupMs} ms, past the 1 s service level`);
  const waitSum = first.setupMs! + third.setupMs!;
  const within = [first, third].filter((c) => c.setupMs! <= 1000).length;
  t.comment(`setup times (arrival → answer): ${first.setupMs} ms and ${third.setupMs} ms`);
  const r = await get<Stats>(adminA!, `/v1/services/${SERVICE}/stats`);
  t.equal(r.status, 200);
  t.match(r.body.figures, { offered: 3, answered: 2, abandoned: 1, abandonedQueued: 1, answeredWithinSl: within, answerWaitSumMs: waitSum, asaMs: Math.round(waitSum / 2), waitingNow: 0, longestWaitingNowMs: 0 });
  t.ok(r.body.figures.longestWaitMs >= third.setupMs!, 'the longest wait is at least call 3\'s');
  t.same([r.body.scope, r.body.serviceLevelMs, r.body.complete, r.body.partial], ['cluster', 1000, true, []]);
  t.same(r.body.nodes.map((n) => [n.node, n.figures.offered, n.figures.answered, n.figures.abandoned]), [['sipA', 2, 2, 0], ['sipB', 1, 0, 1]], 'each node\'s own');
  t.same((await get<Stats>(adminB!, `/v1/services/${SERVICE}/stats`)).body.figures, r.body.figures, 'the same figures from the other node');
  const own = await get<Stats>(adminB!, `/v1/services/${SERVICE}/stats?scope=node`);
  t.same([own.body.nodes.length, own.body.figures.offered, own.body.figures.abandoned], [1, 1, 1], 'scope=node: that node only');
  const future = await get<Stats>(adminA!, `/v1/services/${SERVICE}/stats?since=${Date.now() + 60_000}`);
  t.match(future.body.figures, { offered: 0, answered: 0, abandoned: 0 }, 'since a time after the calls: none');
  const since = await get<Stats>(adminA!, `/v1/services/${SERVICE}/stats?since=${encodeURIComponent(third.startedAt)}`);
  t.match(since.body.figures, { offered: 1, answered: 1, abandoned: 0, answerWaitSumMs: third.setupMs }, 'since call 3 arrived: call 3 only');
  t.same([since.body.complete, since.body.since], [true, third.startedAt]);
  const bad = await get<Problem>(adminA!, `/v1/services/${SERVICE}/stats?since=soon`);
  t.same([bad.status, bad.body.field], [400, 'querystring.since']);
  t.equal((await get<Problem>(adminA!, '/v1/services/7999/stats')).status, 404, 'an unknown service');

  // The dashboard's snapshot carries the same sum.
  const source = new SnapshotSource({ config, self: { role: 'launcher', id: 'test' }, shardClient: cluster.client });
  t.teardown(() => source.close());
  const row = (await source.collect()).services.find((v) => v.service === SERVICE);
  t.same(row, { ...r.body.figures, service: SERVICE, serviceLevelMs: 1000, partial: [] }, 'the dashboard shows the cluster\'s figures');

  // The same figures in each node's /metrics, labelled by service; their sum is the REST's.
  const scrape = async (port: number): Promise<string> => (await fetch(`http://127.0.0.1:${port}/metrics`, { headers: { authorization: `Bearer ${config.tokens.read}` } })).text();
  const texts = [await scrape(adminA!), await scrape(adminB!)];
  const sample = (name: string): number => texts.reduce((sum, text) => sum + Number(new RegExp(`^${name}\\{[^}]*service="${SERVICE}"[^}]*\\} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN), 0);
  t.same(
    [sample('ringfence_sip_service_offered_total'), sample('ringfence_sip_service_answered_total'), sample('ringfence_sip_service_abandoned_total'), sample('ringfence_sip_service_abandoned_queued_total'), sample('ringfence_sip_service_answered_within_sl_total')],
    [3, 2, 1, 1, within],
    '/metrics: offered, answered, abandoned, abandoned in queue, within SL',
  );
  t.equal(Math.round(sample('ringfence_sip_service_answer_wait_seconds_total') * 1000), waitSum, 'the wait total (ASA = it / answered)');
  const promtool = spawnSync(process.env.PROMTOOL ?? 'promtool', ['check', 'metrics'], { input: texts[0], encoding: 'utf8' });
  if (promtool.error === undefined) t.equal(promtool.status, 0, `promtool check metrics: ${promtool.stdout}${promtool.stderr}`);
  else if (process.env.REQUIRE_PROMTOOL === '1') t.fail(`REQUIRE_PROMTOOL=1 but promtool does not run: ${promtool.error.message}`);
  else t.comment('promtool not installed: lint skipped');
});

t.test('sipB\'s event stream tells the abandoned call\'s story', async (t) => {
  const res = await fetch(`http://127.0.0.1:${adminB}/v1/events/stream`, { headers: { authorization: `Bearer ${config.tokens.read}` } });
  const reader = res.body!.getReader();
  let text = '';
  const calls = (): { type: string; data: Record<string, unknown> }[] => text.split('\n\n').slice(0, -1).flatMap((b) => {
    const data = /^data: (.*)$/m.exec(b)?.[1];
    const ev = data === undefined ? null : (JSON.parse(data) as { type: string; data: Record<string, unknown> });
    return ev !== null && ev.type.startsWith('call.') ? [ev] : [];
  });
  while (!calls().some((e) => e.type === 'call.ended')) {
    const chunk = await reader.read();
    if (chunk.done) break; // the assertions below say what was missing
    text += new TextDecoder().decode(chunk.value);
  }
  await reader.cancel();
  const story = calls();
  t.same(story.map((e) => e.type), ['call.arrived', 'call.queued', 'call.abandoned', 'call.ended']);
  t.match(story[1]!.data, { service: SERVICE, requeued: false });
  t.match(story[2]!.data, { whileQueued: true });
  t.match(story[3]!.data, { outcome: 'abandoned', endedBy: 'caller' });
  t.equal(story[2]!.data.waitMs, Math.round(story[2]!.data.waitMs as number), 'with its wait in ms');
});

t.test('a node that does not answer is named in partial, never silently left out', async (t) => {
  await nodeB.close();
  const r = await get<Stats>(adminA!, `/v1/services/${SERVICE}/stats`);
  t.same([r.body.partial.map((p) => p.node), r.body.complete, r.body.nodes.map((n) => n.node)], [['sipB'], false, ['sipA']]);
  t.match(r.body.figures, { offered: 2, answered: 2 }, 'the figures of the nodes that answered');
  const c = await get<Cdrs>(adminA!, '/v1/cdrs');
  t.same([c.body.cdrs.length, (c.body.partial as { node: string }[]).map((p) => p.node)], [2, ['sipB']]);
});
