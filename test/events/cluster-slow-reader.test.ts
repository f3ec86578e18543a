// The cluster-scope event stream's bounds (sip/node/events-cluster.ts), on two real admin
// apps on 127.0.0.1 port 0 (sipA reads sipB as its peer) fed by their event logs directly:
//   - a cluster reader that stops reading: sipA stops feeding it and pauses its connection
//     to sipB, so sipB's own stream stops writing; when sipB's ring overwrites events the
//     reader was due, it gets sipB's `gap` naming exactly those (with `node`), then the
//     rest: every seq accounted for, in order, once, and nowhere all of it buffered;
//   - at most clusterStreamReadersMax cluster readers per node: the next is a 503;
//   - a peer that refuses the token is `peer-down` with its HTTP status, while the node's
//     own events keep coming;
//   - a position of an earlier life of this node: its `gap` (with `node`) first;
//   - a peer whose stream goes silent is `peer-down` after the idle time, and is read again
//     from the position it last gave (`: position`), then `peer-up`.
import { randomBytes } from 'node:crypto';
import { createServer, get as httpGet } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connect } from 'node:net';
import t, { type Test } from 'tap';
import { Registry } from 'prom-client';
import { createAdminApp } from '../../common/admin.js';
import { clusterStreamReadersMax } from '../../sip/node/events-cluster.js';
import { EventLog } from '../../sip/node/events.js';
import { eventStreamRoutes } from '../../sip/node/events-stream.js';
import type { Peer } from '../../sip/node/peer-fanout.js';
import { waitFor } from '../sip/node/harness.js';

const tokens = { read: randomBytes(24).toString('hex'), admin: randomBytes(24).toString('hex') };
const logA = new EventLog({ nodeId: 'sipA', retain: 1000, now: () => Date.now(), epoch: 'a' });
const logB = new EventLog({ nodeId: 'sipB', retain: 50, now: () => Date.now(), epoch: 'b' });

async function start(log: EventLog, peers: Peer[], readToken = tokens.read, peerIdleMs?: number): Promise<number> {
  const app = await createAdminApp({ title: 'events', tokens, registry: new Registry() });
  await app.register(eventStreamRoutes, { events: log, peers: () => peers, readToken, ...(peerIdleMs === undefined ? {} : { peerIdleMs }) });
  await app.listen({ host: '127.0.0.1', port: 0 });
  t.teardown(() => app.close());
  return (app.server.address() as { port: number }).port;
}
const portB = await start(logB, []);
const portA = await start(logA, [{ id: 'sipB', baseUrl: `http://127.0.0.1:${portB}` }]);

type Frame = { event: string; id: string | null; data: { seq?: number; node?: string; fromSeq?: number; toSeq?: number | null; reason?: string; error?: string } };
const framesOf = (text: string): Frame[] =>
  // Whole frames only (the last block may still be arriving); chunked-encoding size lines
  // fall between frames, each frame being one write.
  text.split('\n\n').slice(0, -1).filter((b) => b.includes('data: ')).map((b) => ({
    event: /^event: (.*)$/m.exec(b)?.[1] ?? 'message',
    id: /^id: (.*)$/m.exec(b)?.[1] ?? null,
    data: JSON.parse(/^data: (.*)$/m.exec(b)![1]!) as Frame['data'],
  }));

t.test('a paused cluster reader: sipB\'s gap for exactly what its ring lost, nothing else', async (t) => {
  const socket = connect(portA, '127.0.0.1');
  t.teardown(() => socket.destroy());
  await new Promise((r) => socket.once('connect', r));
  socket.write(`GET /v1/events/stream?scope=cluster HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${tokens.read}\r\n\r\n`);
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  const text = (): string => Buffer.concat(chunks).toString('utf8');
  await waitFor('sipB reached', () => framesOf(text()).some((f) => f.event === 'peer-up'), (x) => x, 10_000);
  socket.pause();
  // 64 KiB events: a few hundred of them fill the sockets between sipB, sipA and the reader,
  // after which sipB stops writing to sipA.
  const filler = 'x'.repeat(64 * 1024);
  for (let i = 1; i <= 600; i++) {
    logB.call({ type: 'call.arrived', callId: `c${i}-${filler}`, service: '7001' });
    if (i % 20 === 0) await new Promise((r) => setTimeout(r, 1));
  }
  logA.call({ type: 'call.arrived', callId: 'on-a', service: '7001' });
  socket.resume();
  await waitFor('sipB\'s last event', () => framesOf(text()).some((f) => f.data.node === 'sipB' && f.data.seq === 600), (x) => x, 20_000);
  const got = framesOf(text());
  const gaps = got.filter((f) => f.event === 'gap');
  t.equal(gaps.length, 1, 'one gap');
  t.match(gaps[0]!.data, { node: 'sipB', reason: 'expired' });
  const b = got.filter((f) => f.event === 'call.arrived' && f.data.node === 'sipB');
  const at = got.indexOf(gaps[0]!);
  const before = got.slice(0, at).filter((f) => f.data.node === 'sipB' && f.event === 'call.arrived').map((f) => f.data.seq!);
  t.same(before, before.map((_, i) => i + 1), `before the gap: 1..${before.length}, consecutive`);
  t.equal(gaps[0]!.data.fromSeq, before.length + 1, 'the gap starts right after the last event sent');
  const after = got.slice(at + 1).filter((f) => f.data.node === 'sipB' && f.event === 'call.arrived').map((f) => f.data.seq!);
  t.equal(after[0], gaps[0]!.data.toSeq! + 1, 'and ends right before the next one sent');
  t.same(after, after.map((_, i) => after[0]! + i), 'then consecutive to the last');
  t.equal(after.at(-1), 600);
  t.equal(new Set(b.map((f) => f.data.seq)).size, b.length, 'none twice');
  t.ok(before.length < 550, `sipB stopped sending after ${before.length} events, not buffering the rest`);
  t.ok(got.some((f) => f.data.node === 'sipA' && f.event === 'call.arrived'), 'sipA\'s own event came too');
});

t.test(`at most ${clusterStreamReadersMax} cluster readers per node`, async (t) => {
  const open: (() => void)[] = [];
  t.teardown(() => { for (const close of open) close(); });
  for (let i = 0; i < clusterStreamReadersMax; i++) {
    await new Promise<void>((resolve, reject) => {
      const req = httpGet({ host: '127.0.0.1', port: portA, path: '/v1/events/stream?scope=cluster&after=now', headers: { authorization: `Bearer ${tokens.read}` } }, (res) => {
        res.resume();
        if (res.statusCode !== 200) reject(new Error(`reader ${i}: HTTP ${res.statusCode}`));
        else resolve();
      });
      req.on('error', () => {});
      open.push(() => req.destroy());
    });
  }
  const res = await fetch(`http://127.0.0.1:${portA}/v1/events/stream?scope=cluster`, { headers: { authorization: `Bearer ${tokens.read}` } });
  t.equal(res.status, 503, 'the next is refused');
  t.equal(res.headers.get('retry-after'), '5');
  t.match(((await res.json()) as { detail: string }).detail, /maximum of 16 readers/);
});

t.test('a peer that refuses the token: peer-down with its status, the node\'s own events go on', async (t) => {
  const logC = new EventLog({ nodeId: 'sipC', retain: 10, now: () => Date.now(), epoch: 'c' });
  const portBad = await start(logC, [{ id: 'sipB', baseUrl: `http://127.0.0.1:${portB}` }], 'not-the-token');
  const socket = connect(portBad, '127.0.0.1');
  t.teardown(() => socket.destroy());
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  await new Promise((r) => socket.once('connect', r));
  socket.write(`GET /v1/events/stream?scope=cluster HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${tokens.read}\r\n\r\n`);
  const down = await waitFor('peer-down', () => framesOf(Buffer.concat(chunks).toString('utf8')).filter((f) => f.event === 'peer-down'), (f) => f.length > 0, 10_000);
  t.match(down[0]!.data, { node: 'sipB', error: 'HTTP 401' });
  logC.call({ type: 'call.arrived', callId: 'on-c', service: '7001' });
  const own = await waitFor('sipC\'s own event', () => framesOf(Buffer.concat(chunks).toString('utf8')).filter((f) => f.event === 'call.arrived'), (f) => f.length > 0, 10_000);
  t.match(own[0]!.data, { node: 'sipC', seq: 1 });
});

/** Reads a cluster stream from a raw socket: its frames so far. */
async function clusterReader(t: Test, port: number, query: string): Promise<() => Frame[]> {
  const socket = connect(port, '127.0.0.1');
  t.teardown(() => socket.destroy());
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  await new Promise((r) => socket.once('connect', r));
  socket.write(`GET /v1/events/stream?scope=cluster${query} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${tokens.read}\r\n\r\n`);
  return () => framesOf(Buffer.concat(chunks).toString('utf8'));
}

t.test('a position of an earlier life of this node: its gap first, then what it holds', async (t) => {
  const frames = await clusterReader(t, portA, `&after=${encodeURIComponent('sipA:old-3,sipB:b-600')}`);
  const got = await waitFor('sipA\'s event', () => frames(), (f) => f.some((x) => x.event === 'call.arrived') && f.some((x) => x.event === 'peer-up'), 10_000);
  t.match(got[0], { event: 'gap', data: { node: 'sipA', epoch: 'old', fromSeq: 4, toSeq: null, reason: 'other-epoch' } });
  t.equal(got[0]!.id, 'sipA:a-0,sipB:b-600', 'the gap\'s id is the position past it: a reconnect is not told it again');
  t.match(got.filter((f) => f.event === 'call.arrived').map((f) => f.data), [{ node: 'sipA', seq: 1 }], 'then sipA\'s held event, and none of sipB\'s (it named sipB\'s last)');
});

t.test('a silent peer: peer-down after the idle time, then read again from its last position', async (t) => {
  const urls: string[] = [];
  const silent = createServer((req, res) => {
    urls.push(req.url ?? '');
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write('retry: 2000\n: position s-7\n\n'); // and then nothing, not even a keep-alive
  });
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => { silent.closeAllConnections(); silent.close(() => r()); }));
  const logD = new EventLog({ nodeId: 'sipD', retain: 10, now: () => Date.now(), epoch: 'd' });
  const portD = await start(logD, [{ id: 'sipS', baseUrl: `http://127.0.0.1:${(silent.address() as AddressInfo).port}` }], tokens.read, 300);
  const frames = await clusterReader(t, portD, '');
  const got = await waitFor('peer-up, peer-down, peer-up', () => frames().filter((f) => f.event.startsWith('peer-')), (f) => f.length >= 3, 10_000);
  t.same(got.slice(0, 3).map((f) => f.event), ['peer-up', 'peer-down', 'peer-up']);
  t.match(got[1]!.data, { node: 'sipS', error: 'no data within 300 ms' });
  t.same(urls.slice(0, 2), ['/v1/events/stream', '/v1/events/stream?after=s-7'], 'the second read resumes after the position the first gave');
});
