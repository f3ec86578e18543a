// One stream of the whole cluster's events (README "Live events", scope=cluster;
// sip/node/events-cluster.ts). One shard replica process, two SIP nodes in this process
// (each its admin REST on a port named in the cluster file, so each reads the other), an
// agent phone and a caller as real SIP UAs on loopback. Each node's own per-node stream,
// read from its start, is the reference the cluster stream is checked against.
//   1. A cluster reader on sipA sees the calls of both nodes (each event with its node) and
//      every agent change exactly once.
//   2. It disconnects; calls happen on both nodes; reconnecting with its last composite id
//      (Last-Event-ID, and ?after=) gives every missed event once, none it had.
//   3. sipB stopped: `peer-down`, and sipA's events keep coming; sipB started again (a new
//      life): `peer-up`, sipB's `gap` (other-epoch), then sipB's new events.
//   4. A malformed composite is a 400 naming the header or parameter.
import t from 'tap';
import { freePorts } from '../../cluster/local-cluster.js';
import type { ClusterConfig } from '../../common/config.js';
import type { LoggedEvent } from '../../sip/node/events.js';
import type { SipNode } from '../../sip/node/node.js';
import type { SipTarget } from '../../sip/transport/index.js';
import { addAgent, password, readAgent, sipTarget, startNode, waitFor } from '../sip/node/harness.js';
import { TestUa } from '../sip/node/test-ua.js';
import { startShardCluster } from '../support/shard-cluster.js';
import { readSse, type SseReader } from '../support/sse-reader.js';

t.setTimeout(240_000);
const SERVICE = '7001';
const DN = '9201';
const cluster = await startShardCluster(t, { shards: 1, replicasPerShard: 1 });
const [adminA, adminB] = await freePorts(2);
const loop = (port: number) => ({ host: '127.0.0.1', port });
const config: ClusterConfig = {
  ...cluster.config,
  services: [{ number: SERVICE, skill: 'sales', minLevel: 0 }],
  sip: [
    { id: 'sipA', udp: loop(0), tcp: loop(0), admin: loop(adminA!) },
    { id: 'sipB', udp: loop(0), tcp: loop(0), admin: loop(adminB!) },
  ],
};
const nodeA = await startNode(t, config, { nodeId: 'sipA', admin: loop(adminA!) });
let nodeB: SipNode = await startNode(t, config, { nodeId: 'sipB', admin: loop(adminB!) });
const viaA: SipTarget = sipTarget(nodeA);
const phone = await TestUa.start('answer');
const caller = await TestUa.start();
t.teardown(() => Promise.all([phone.close(), caller.close()]));

type Reader = SseReader;
const readers: Reader[] = [];
t.teardown(() => { for (const r of readers) r.close(); });

/** An SSE reader on a node's admin port, closed in teardown. */
async function read(port: number, path: string, headers: Record<string, string> = {}): Promise<Reader> {
  const reader = await readSse(port, path, config.tokens.read, headers);
  readers.push(reader);
  return reader;
}
const eventTypes = new Set(['peer-up', 'peer-down', 'gap']);
const events = (r: Reader): LoggedEvent[] => r.frames.filter((f) => !eventTypes.has(f.event)).map((f) => f.data as LoggedEvent);
const key = (e: LoggedEvent): string => `${e.node}/${e.id}`;
const isCall = (e: LoggedEvent): boolean => e.type.startsWith('call.');
const ended = (node: string, n: number) => (es: LoggedEvent[]): boolean => es.filter((e) => e.type === 'call.ended' && e.node === node).length >= n;
const notices = (r: Reader, event: string): { node: string; reason?: string }[] => r.frames.filter((f) => f.event === event).map((f) => f.data as { node: string });

async function command(cmd: Parameters<typeof cluster.client.command>[1]): Promise<void> {
  const r = await cluster.client.command(DN, cmd, { deadlineMs: 20_000 });
  if (!r.ok) throw new Error(`${cmd.type}: ${r.code}`);
}
/** A call through `node`, answered and hung up, once the node sees the agent READY (else
 * it would queue the call first: events the test does not expect). */
async function callVia(node: SipNode): Promise<void> {
  await waitFor(`${node.id} sees ${DN} READY`, () => node.view.get(DN)?.status.state, (s) => s === 'READY', 10_000);
  const via = sipTarget(node);
  const call = caller.call(via, SERVICE);
  const final = await call.final;
  if (final.status !== 200) throw new Error(`expected 200, got ${final.status}`);
  await caller.ack(call, via);
  await caller.bye(call, via);
  await waitFor(`${DN} READY again`, () => readAgent(cluster, DN), (a) => a.status.state === 'READY', 20_000);
}

// Each node's own stream from its first event: what the cluster stream must match.
const refA = await read(adminA!, '/v1/events/stream');
let refB = await read(adminB!, '/v1/events/stream');
let lastId = '';
let live: Reader | undefined;
let first: LoggedEvent[] = [];

t.test('a cluster reader on sipA: both nodes\' calls, each agent change once', async (t) => {
  const r = await read(adminA!, '/v1/events/stream?scope=cluster');
  t.equal(r.status, 200);
  await addAgent(cluster, config, DN, { sales: 50 }, { ready: false });
  t.equal((await phone.register(viaA, DN, password(DN), { expires: 600 })).response.status, 200);
  await command({ type: 'ready', dn: DN });
  await waitFor('both nodes see READY', () => [nodeA.view, nodeB.view].every((v) => v.get(DN)?.status.state === 'READY'), (x) => x, 10_000);
  await callVia(nodeA);
  await callVia(nodeB);
  await waitFor('both calls ended, on the cluster stream', () => events(r), (es) => ended('sipA', 1)(es) && ended('sipB', 1)(es), 20_000);
  await waitFor('and on the node streams', () => [events(refA), events(refB)], ([a, b]) => ended('sipA', 1)(a!) && ended('sipB', 1)(b!), 20_000);
  r.close();
  first = events(r);
  lastId = r.frames.filter((f) => f.id !== null).at(-1)!.id!;
  t.same(notices(r, 'peer-up').map((n) => n.node), ['sipB'], 'sipB reached');
  t.same(notices(r, 'peer-down'), [], 'never down');
  t.same(notices(r, 'gap'), []);
  // The node streams are other readers: wait until they have had what this one had.
  const lastOf = (node: string) => first.filter((e) => e.node === node).at(-1)!;
  await waitFor('sipA\'s stream caught up', () => events(refA).map(key), (ks) => ks.includes(key(lastOf('sipA'))), 10_000);
  await waitFor('sipB\'s stream caught up', () => events(refB).map(key), (ks) => ks.includes(key(lastOf('sipB'))), 10_000);
  const upTo = (r: Reader, last: LoggedEvent): LoggedEvent[] => events(r).slice(0, events(r).findIndex((e) => key(e) === key(last)) + 1);
  const refAHad = upTo(refA, lastOf('sipA'));
  const agents = first.filter((e) => e.type === 'agent.state');
  t.ok(agents.every((e) => e.node === 'sipA'), 'agent changes from one source only');
  t.same(agents.map(key), refAHad.filter((e) => e.type === 'agent.state').map(key), 'every agent change sipA logged, once, in order');
  const changes = (es: LoggedEvent[]) => es.filter((e) => e.type === 'agent.state').map((e) => `${(e.data as { dn: string }).dn}@${(e.data as { index: number }).index}`);
  await waitFor('sipB logged as many changes', () => changes(events(refB)), (c) => c.length >= changes(first).length, 10_000);
  t.same(changes(first), changes(events(refB)).slice(0, changes(first).length), 'the same changes sipB saw');
  t.ok(changes(first).length >= 3, 'NOT_READY, READY, BUSY... at least');
  t.same(first.filter((e) => e.node === 'sipA').map(key), refAHad.map(key), 'all of sipA\'s events, in order');
  t.same(first.filter((e) => e.node === 'sipB').map(key), upTo(refB, lastOf('sipB')).filter(isCall).map(key), 'sipB\'s call events, in order');
  t.same(first.filter((e) => e.node === 'sipB').map((e) => e.type), ['call.arrived', 'call.offered', 'call.answered', 'call.ended']);
  t.equal(new Set(first.map(key)).size, first.length, 'none twice');
  t.match(lastId, /^sipA:[0-9a-z]+-\d+,sipB:[0-9a-z]+-\d+$/, 'the id names both nodes\' positions');
});

t.test('reconnecting with the last composite id: every missed event once', async (t) => {
  await callVia(nodeA);
  await callVia(nodeB);
  await command({ type: 'notReady', dn: DN, reason: 'break' });
  await waitFor('the node streams have it all', () => [events(refA), events(refB)], ([a, b]) => ended('sipA', 2)(a!) && ended('sipB', 2)(b!) && (a!.at(-1)!.data as { state?: string }).state === 'NOT_READY', 20_000);
  const byHeader = await read(adminA!, '/v1/events/stream?scope=cluster', { 'last-event-id': lastId });
  const byQuery = await read(adminA!, `/v1/events/stream?scope=cluster&after=${encodeURIComponent(lastId)}`);
  const expected = [...events(refA), ...events(refB).filter(isCall)].filter((e) => !first.some((f) => key(f) === key(e)));
  for (const r of [byHeader, byQuery]) await waitFor('the missed events', () => events(r), (es) => es.length >= expected.length, 20_000);
  const missed = events(byHeader);
  t.same(missed.map(key).sort(), expected.map(key).sort(), 'exactly the events not had');
  t.same(missed.filter((e) => e.node === 'sipB').map(key), events(refB).filter(isCall).slice(4).map(key), 'sipB\'s, in order');
  t.same(missed.filter((e) => e.node === 'sipA').map(key), events(refA).filter((e) => !first.some((f) => key(f) === key(e))).map(key), 'sipA\'s, in order');
  t.ok(missed.some((e) => e.node === 'sipA' && isCall(e)) && missed.some((e) => e.node === 'sipB' && isCall(e)), 'calls of both nodes');
  t.same(events(byQuery).map(key).sort(), missed.map(key).sort(), '?after= gives the same');
  t.same(notices(byHeader, 'gap'), [], 'no gap: the rings held them');
  byQuery.close();
  lastId = byHeader.frames.filter((f) => f.id !== null).at(-1)!.id!;
  live = byHeader;
});

t.test('sipB stopped: peer-down, sipA goes on; sipB back (a new life): peer-up, its gap, its events', async (t) => {
  const r = live!;
  await command({ type: 'ready', dn: DN });
  await nodeB.close();
  await waitFor('peer-down', () => notices(r, 'peer-down'), (n) => n.length === 1, 20_000);
  t.equal(notices(r, 'peer-down')[0]!.node, 'sipB');
  const before = events(r).length;
  await callVia(nodeA);
  await waitFor('sipA\'s call, while sipB is down', () => events(r).slice(before), ended('sipA', 1), 20_000);
  t.equal(notices(r, 'peer-up').length, 1, 'only the first peer-up so far');

  nodeB = await startNode(t, config, { nodeId: 'sipB', admin: loop(adminB!) });
  refB = await read(adminB!, '/v1/events/stream');
  await waitFor('peer-up again', () => notices(r, 'peer-up'), (n) => n.length === 2, 20_000);
  await waitFor('both nodes see READY', () => [nodeA.view, nodeB.view].every((v) => v.get(DN)?.status.state === 'READY'), (x) => x, 10_000);
  await callVia(nodeB);
  await waitFor('the new sipB\'s call', () => events(r), ended('sipB', 2), 20_000); // one in the last test, one now
  const gaps = notices(r, 'gap');
  t.equal(gaps.length, 1, 'one gap');
  t.match(gaps[0], { node: 'sipB', reason: 'other-epoch' }, 'sipB\'s gap: its earlier life\'s later events are gone');
  const gapFrame = r.frames.find((f) => f.event === 'gap')!;
  t.match(gapFrame.id, new RegExp(`^sipA:[0-9a-z]+-\\d+,sipB:${events(refB)[0]!.id.split('-')[0]}-0$`), 'its id is the position past it, in the new sipB\'s life');
  const order = r.frames.map((f) => (f.event === 'peer-up' || f.event === 'gap' || f.event === 'peer-down' ? `${f.event}:${(f.data as { node: string }).node}` : null)).filter((x) => x !== null);
  t.same(order, ['peer-up:sipB', 'peer-down:sipB', 'peer-up:sipB', 'gap:sipB'], 'down, up, then the gap');
  await waitFor('the new sipB\'s stream', () => events(refB), ended('sipB', 1), 10_000);
  t.same(events(r).filter((e) => e.node === 'sipB').slice(-4).map(key), events(refB).filter(isCall).map(key), 'then the new sipB\'s call events');
  const all = events(r);
  t.equal(new Set(all.map(key)).size, all.length, 'none twice');
  t.match(r.frames.filter((f) => f.id !== null).at(-1)!.id, new RegExp(`^sipA:[0-9a-z]+-\\d+,sipB:${events(refB)[0]!.id.split('-')[0]}-\\d+$`), 'the id now names the new sipB\'s epoch');
});

t.test('a malformed composite is a 400 naming where it was', async (t) => {
  const bad = async (q: string, headers: Record<string, string> = {}): Promise<[number, string | undefined]> => {
    const res = await fetch(`http://127.0.0.1:${adminA}/v1/events/stream?${q}`, { headers: { authorization: `Bearer ${config.tokens.read}`, ...headers } });
    return [res.status, ((await res.json()) as { field?: string }).field];
  };
  t.same(await bad('scope=cluster', { 'last-event-id': 'yesterday' }), [400, 'headers.last-event-id']);
  t.same(await bad('scope=cluster', { 'last-event-id': 'abc-4' }), [400, 'headers.last-event-id'], 'a per-node position is not a cluster one');
  t.same(await bad('scope=cluster&after=sipA:abc-1,sipA:abc-2'), [400, 'querystring.after'], 'a node twice');
  t.same(await bad('scope=cluster&after=sipA:abc-1,'), [400, 'querystring.after'], 'an empty entry');
  t.same(await bad('scope=cluster&after=%25zz:abc-1'), [400, 'querystring.after'], 'a bad node encoding');
  t.same(await bad('scope=everything'), [400, 'querystring.scope']);
  t.equal((await fetch(`http://127.0.0.1:${adminA}/v1/events/stream?scope=cluster`)).status, 401, 'the read token is needed');
});
