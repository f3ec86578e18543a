// Live events, end to end (README "Live events"; issue #21 acceptance: a client that
// disconnects and reconnects with its last position receives every event it missed, none
// twice). One shard replica process, a SIP node in this process whose cluster file has a
// signed webhook to a receiver here, an agent phone and a caller as real SIP UAs.
//   1. A reader follows GET /v1/events/stream, sees the agent's state, and disconnects.
//   2. While it is away: the agent goes READY, takes a call (arrived, offered, answered,
//      ended), and goes NOT_READY.
//   3. It reconnects with Last-Event-ID (and another with ?after=): it gets exactly the
//      events after its position, in order: together with what it had, every event once.
//   4. The webhook receiver (500 to its first two POSTs) checked each POST's signature and
//      got every event, in order, once, after the retries.
//   5. A position of an earlier life of the node begins with an explicit `gap`; a
//      malformed one is a 400 naming the header.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import type { ClusterConfig } from '../../common/config.js';
import type { LoggedEvent } from '../../sip/node/events.js';
import { addAgent, password, readAgent, sipTarget, startNode, waitFor } from '../sip/node/harness.js';
import { TestUa } from '../sip/node/test-ua.js';
import { startShardCluster } from '../support/shard-cluster.js';
import { readSse, type SseReader } from '../support/sse-reader.js';

t.setTimeout(180_000);
const SERVICE = '7001';
const DN = '9101';
const hookSecret = randomBytes(24).toString('hex');

// The webhook receiver: verifies each POST as an operator would, fails the first two.
const posts: { status: number }[] = [];
const hooked: LoggedEvent[] = [];
const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks).toString('utf8');
    const m = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(String(req.headers['x-ringfence-signature'] ?? ''));
    const valid = m !== null && timingSafeEqual(createHmac('sha256', hookSecret).update(`${m[1]}.${body}`).digest(), Buffer.from(m[2]!, 'hex'));
    const status = !valid ? 401 : posts.length < 2 ? 500 : 200;
    posts.push({ status });
    if (status === 200) hooked.push(...(JSON.parse(body) as { events: LoggedEvent[] }).events);
    res.writeHead(status).end();
  });
});
await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
t.teardown(() => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }));
const hookUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/events`;

const cluster = await startShardCluster(t, { shards: 1, replicasPerShard: 1 });
const config: ClusterConfig = {
  ...cluster.config,
  services: [{ number: SERVICE, skill: 'sales', minLevel: 0 }],
  events: { retain: 1000, webhooks: [{ url: hookUrl, secret: hookSecret, batchMax: 4, backlogMax: 1000, timeoutMs: 2000, retryMinMs: 50, retryMaxMs: 200 }] },
};
const node = await startNode(t, config, { nodeId: 'sipA' });
const via = sipTarget(node);
const phone = await TestUa.start('answer');
const caller = await TestUa.start();
t.teardown(() => Promise.all([phone.close(), caller.close()]));

type Reader = SseReader;
const read = (path: string, headers: Record<string, string> = {}): Promise<Reader> => readSse(node.adminPort, path, config.tokens.read, headers);
const events = (r: Reader): LoggedEvent[] => r.frames.filter((f) => f.event !== 'gap').map((f) => f.data as LoggedEvent);
const agentState = (e: LoggedEvent): string | null => (e.type === 'agent.state' ? (e.data as { state: string }).state : null);

let lastId = '';
let reader1Seqs: number[] = [];

t.test('a reader follows the stream, then disconnects', async (t) => {
  await addAgent(cluster, config, DN, { sales: 50 }, { ready: false });
  t.equal((await phone.register(via, DN, password(DN), { expires: 600 })).response.status, 200);
  const r = await read('/v1/events/stream');
  t.equal(r.status, 200);
  await waitFor('the agent logged in, on the stream', () => events(r), (es) => es.some((e) => agentState(e) === 'NOT_READY'), 10_000);
  r.close();
  const got = events(r);
  lastId = got[got.length - 1]!.id;
  reader1Seqs = got.map((e) => e.seq);
  t.same(reader1Seqs, reader1Seqs.map((_, i) => i + 1), 'from the first event, consecutive');
  t.same(r.frames.map((f) => f.id), got.map((e) => e.id), 'each frame\'s SSE id is the event\'s position');
});

t.test('while it is away the agent takes a call; reconnecting gets every missed event, none twice', async (t) => {
  const c = async (cmd: Parameters<typeof cluster.client.command>[1]): Promise<void> => {
    const r = await cluster.client.command(DN, cmd, { deadlineMs: 20_000 });
    if (!r.ok) throw new Error(`${cmd.type}: ${r.code}`);
  };
  await c({ type: 'ready', dn: DN });
  await waitFor('the node sees READY', () => node.view.get(DN)?.status.state, (s) => s === 'READY', 10_000);
  const call = caller.call(via, SERVICE);
  t.equal((await call.final).status, 200, 'answered');
  await caller.ack(call, via);
  t.equal((await caller.bye(call, via)).status, 200);
  await waitFor('the agent free', () => readAgent(cluster, DN), (a) => a.status.state === 'READY', 20_000);
  await c({ type: 'notReady', dn: DN, reason: 'break' });
  // The webhook saw the last of them: every event of the scenario is logged by now.
  const done = (es: LoggedEvent[]): boolean => es.some((e) => e.type === 'call.ended') && agentState(es[es.length - 1]!) === 'NOT_READY' && es.length > reader1Seqs.length;
  await waitFor('the webhook got the scenario', () => hooked, done, 20_000);
  const lastSeq = hooked[hooked.length - 1]!.seq;

  const byHeader = await read('/v1/events/stream', { 'last-event-id': lastId });
  const byQuery = await read(`/v1/events/stream?after=${encodeURIComponent(lastId)}`);
  t.teardown(() => { byHeader.close(); byQuery.close(); });
  for (const r of [byHeader, byQuery]) await waitFor('the missed events', () => events(r), (es) => es.some((e) => e.seq === lastSeq), 10_000);
  const missed = events(byHeader);
  const fromSeq = reader1Seqs[reader1Seqs.length - 1]! + 1;
  t.same(missed.map((e) => e.seq), Array.from({ length: lastSeq - fromSeq + 1 }, (_, i) => fromSeq + i), 'exactly the events after the position, in order');
  t.same(byHeader.frames.filter((f) => f.event === 'gap'), [], 'no gap: the ring held them');
  t.same(events(byQuery).map((e) => e.id), missed.map((e) => e.id), '?after= gives the same');
  const all = [...reader1Seqs, ...missed.map((e) => e.seq)];
  t.equal(new Set(all).size, all.length, 'none twice');
  t.same(all, Array.from({ length: lastSeq }, (_, i) => i + 1), 'none missed');

  const calls = missed.filter((e) => e.type.startsWith('call.'));
  t.same(calls.map((e) => e.type), ['call.arrived', 'call.offered', 'call.answered', 'call.ended'], 'the call\'s events, in order');
  t.ok(calls.every((e) => (e.data as { callId: string }).callId === (calls[0]!.data as { callId: string }).callId && e.node === 'sipA'), 'one call, this node');
  t.match(calls[2]!.data, { dn: DN, service: SERVICE, withinServiceLevel: true });
  t.match(calls[3]!.data, { outcome: 'completed', endedBy: 'caller', dn: DN });
  const states = missed.map(agentState).filter((s) => s !== null);
  t.equal(states[0], 'READY', 'the agent went READY first');
  t.ok(states.includes('BUSY'), 'then BUSY with the call');
  t.equal(states[states.length - 1], 'NOT_READY', 'and NOT_READY last');

  t.same(hooked.map((e) => e.seq), Array.from({ length: lastSeq }, (_, i) => i + 1), 'the webhook got every event once, in order');
  t.same(posts.slice(0, 2).map((p) => p.status), [500, 500], 'after two failed POSTs (retried)');
  t.ok(posts.every((p) => p.status !== 401), 'every POST\'s signature verified');
  const metrics = await (await fetch(`http://127.0.0.1:${node.adminPort}/metrics`, { headers: { authorization: `Bearer ${config.tokens.read}` } })).text();
  t.match(metrics, /^ringfence_sip_event_webhook_failures_total\{webhook="0",node="sipA"\} 2$/m, 'the failures counted');
  t.match(metrics, /^ringfence_sip_event_webhook_dropped_total\{webhook="0",node="sipA"\} 0$/m, 'nothing dropped');
});

t.test('a position from an earlier life of the node: an explicit gap first; a malformed one: 400', async (t) => {
  const r = await read('/v1/events/stream', { 'last-event-id': 'abc-42' });
  t.teardown(() => r.close());
  await waitFor('frames', () => r.frames.length, (n) => n >= 2, 10_000);
  t.equal(r.frames[0]!.event, 'gap');
  t.match(r.frames[0]!.data, { epoch: 'abc', fromSeq: 43, toSeq: null, reason: 'other-epoch' });
  t.equal(r.frames[0]!.id, null, 'the gap has no id: the reader\'s position is not moved by it');
  t.equal((r.frames[1]!.data as LoggedEvent).seq, 1, 'then every event held');
  const bad = await fetch(`http://127.0.0.1:${node.adminPort}/v1/events/stream`, { headers: { authorization: `Bearer ${config.tokens.read}`, 'last-event-id': 'yesterday' } });
  t.same([bad.status, ((await bad.json()) as { field: string }).field], [400, 'headers.last-event-id']);
  const badQuery = await fetch(`http://127.0.0.1:${node.adminPort}/v1/events/stream?after=x`, { headers: { authorization: `Bearer ${config.tokens.read}` } });
  t.same([badQuery.status, ((await badQuery.json()) as { field: string }).field], [400, 'querystring.after']);
  t.equal((await fetch(`http://127.0.0.1:${node.adminPort}/v1/events/stream`)).status, 401, 'the read token is needed');
});
