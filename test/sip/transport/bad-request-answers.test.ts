// Proves "say why, don't go silent" (issue #19 point 11, RFC 4475 §3.1.2) on real sockets
// (127.0.0.1, port 0), over UDP and over TCP: a request missing From/To/Call-ID, one
// with an overflowing CSeq, one with a Max-Forwards above 255 and one with a CSeq that is
// not a number each earn exactly one 400 whose reason phrase names the problem, counted
// under its parser code; a malformed ACK and a malformed response get nothing; a good
// request afterwards is still served. Last, the per-source gate bounds these 400s like
// any answer: a source over its rate gets its its burst of 400s, then silence.

import dgram from 'node:dgram';
import net from 'node:net';
import t from 'tap';
import { SourceGate } from '../../../sip/transport/source-gate.js';
import { TcpTransport } from '../../../sip/transport/tcp-transport.js';
import { UdpTransport } from '../../../sip/transport/udp-transport.js';
import type { SipTransport } from '../../../sip/transport/transport.js';
import { collect, waitUntil } from './wait.js';

type Case = Readonly<{ name: string; headers: string[]; reason: string; code: string }>;

const base = (over: Record<string, string | null>): string[] => {
  const h: Record<string, string | null> = {
    From: '<sip:caller@example.com>;tag=f1',
    To: '<sip:5000@example.com>',
    'Call-ID': 'bad-1@example.com',
    CSeq: '1 OPTIONS',
    'Max-Forwards': '70',
    ...over,
  };
  return Object.entries(h).filter(([, v]) => v !== null).map(([k, v]) => `${k}: ${v}`);
};

const cases: readonly Case[] = [
  { name: 'no From, To, Call-ID (RFC 4475 §3.3.1)', headers: base({ From: null, To: null, 'Call-ID': null }), reason: 'Missing From, To, Call-ID headers', code: 'SIP_ERR_MISSING_HEADER' },
  { name: 'CSeq above 2^32-1 (RFC 4475 §3.1.2.4)', headers: base({ CSeq: '36893488147419103232 OPTIONS' }), reason: 'CSeq number exceeds 2^32-1', code: 'SIP_ERR_BAD_CSEQ' },
  { name: 'Max-Forwards above 255', headers: base({ 'Max-Forwards': '300' }), reason: 'Max-Forwards exceeds 255', code: 'SIP_ERR_BAD_MAX_FORWARDS' },
  { name: 'CSeq without a number', headers: base({ CSeq: 'one OPTIONS' }), reason: 'Malformed CSeq header', code: 'SIP_ERR_BAD_CSEQ' },
  { name: 'no CSeq', headers: base({ CSeq: null }), reason: 'Missing CSeq header', code: 'SIP_ERR_MISSING_HEADER' },
];

function request(method: string, via: string, headers: readonly string[]): Buffer {
  return Buffer.from([`${method} sip:5000@example.com SIP/2.0`, `Via: ${via}`, ...headers, 'Content-Length: 0', '', ''].join('\r\n'));
}

type Answer = Readonly<{ status: number; reason: string; text: string }>;

/** The answers in a TCP byte stream (or datagrams joined), cut at each status line. Read
 * by hand: a 400 copies the request's broken headers, so our own parser rejects it. */
function responses(bytes: Buffer): Answer[] {
  return bytes.toString('latin1').split(/(?=SIP\/2\.0 \d{3} )/).filter((s) => s.length > 0).map((text) => {
    const m = /^SIP\/2\.0 (\d{3}) ([^\r\n]*)\r\n/.exec(text);
    if (m === null) throw new Error(`not a response: ${JSON.stringify(text.slice(0, 80))}`);
    return { status: Number(m[1]), reason: m[2]!, text };
  });
}

type Peer = Readonly<{ protocol: 'UDP' | 'TCP'; port: number; send(b: Buffer): void; received(): Buffer }>;

async function udpPeer(t: { teardown(fn: () => unknown): void }, serverPort: number): Promise<Peer> {
  const raw = dgram.createSocket('udp4');
  t.teardown(() => new Promise<void>((r) => raw.close(() => r())));
  await new Promise<void>((r) => raw.bind(0, '127.0.0.1', () => r()));
  const got: Buffer[] = [];
  raw.on('message', (b) => got.push(b));
  return { protocol: 'UDP', port: raw.address().port, send: (b) => raw.send(b, serverPort, '127.0.0.1'), received: () => Buffer.concat(got) };
}

async function tcpPeer(t: { teardown(fn: () => unknown): void }, serverPort: number): Promise<Peer> {
  const socket = net.connect({ host: '127.0.0.1', port: serverPort });
  t.teardown(() => socket.destroy());
  await new Promise<void>((resolve, reject) => { socket.once('connect', () => resolve()); socket.once('error', reject); });
  let data = Buffer.alloc(0);
  socket.on('data', (d: Buffer) => (data = Buffer.concat([data, d])));
  return { protocol: 'TCP', port: socket.localPort ?? 0, send: (b) => socket.write(b), received: () => data };
}

async function listen(protocol: 'UDP' | 'TCP', gate: SourceGate | null): Promise<SipTransport> {
  const o = { host: '127.0.0.1', port: 0, sourceGate: gate };
  return protocol === 'UDP' ? UdpTransport.listen(o) : TcpTransport.listen(o);
}

for (const protocol of ['UDP', 'TCP'] as const) {
  t.test(`${protocol}: each malformed request gets one 400 naming its problem; the transport serves on`, async (t) => {
    const server = await listen(protocol, null);
    t.teardown(() => server.close());
    const delivered = collect(server);
    const peer = await (protocol === 'UDP' ? udpPeer : tcpPeer)(t, server.local.port);
    const via = (n: number): string => `SIP/2.0/${protocol} 127.0.0.1:${peer.port};branch=z9hG4bKbad${n};rport`;
    cases.forEach((c, i) => peer.send(request('OPTIONS', via(i), c.headers)));
    await waitUntil('one answer per bad request', () => server.counters().badRequestsAnswered === cases.length);
    await waitUntil('answers arrive', () => (peer.received().toString('latin1').match(/^SIP\/2\.0 /gm) ?? []).length === cases.length);
    const got = responses(peer.received());
    t.same(got.map((r) => [r.status, r.reason]), cases.map((c) => [400, c.reason]), 'status and reason for each, in order');
    const counted = server.counters().parseErrors;
    for (const code of new Set(cases.map((c) => c.code))) {
      t.equal(counted[code], cases.filter((c) => c.code === code).length, `${code} counted`);
    }
    // No answer to a malformed ACK or to a malformed response (RFC 3261 §17.2.3, §8.1.3.3).
    peer.send(request('ACK', via(90), base({ 'Call-ID': null, CSeq: '1 ACK' })));
    peer.send(Buffer.from(`SIP/2.0 200 OK\r\nVia: ${via(91)}\r\nCSeq: 99999999999 OPTIONS\r\nContent-Length: 0\r\n\r\n`));
    const good = request('OPTIONS', via(99), base({ 'Call-ID': 'good@example.com' }));
    peer.send(good);
    await waitUntil('the good request is delivered', () => delivered.length === 1);
    t.equal(delivered[0]!.message.kind === 'request' && delivered[0]!.message.method, 'OPTIONS');
    t.equal(server.counters().badRequestsAnswered, cases.length, 'the ACK and the response got no answer');
    t.equal(server.counters().dropped['SIP_ERR_TRANSPORT_UNANSWERABLE'], 2, 'both dropped and counted');
    t.equal(responses(peer.received()).length, cases.length, 'nothing more came back');
  });
}

t.test('UDP: the per-source gate bounds the 400s (its burst of 400s, then silence)', async (t) => {
  let nowMs = 0;
  const gate = new SourceGate({ requestsPerSecond: 1, burst: 3, rejectsPerSecond: 1, rejectBurst: 2, now: () => nowMs });
  const server = await listen('UDP', gate);
  t.teardown(() => server.close());
  const peer = await udpPeer(t, server.local.port);
  const sent = 20;
  for (let i = 0; i < sent; i++) peer.send(request('OPTIONS', `SIP/2.0/UDP 127.0.0.1:${peer.port};branch=z9hG4bKflood${i};rport`, cases[0]!.headers));
  await waitUntil('every datagram handled', () => {
    const c = server.counters();
    return c.badRequestsAnswered + (c.dropped['SIP_ERR_TRANSPORT_RATE_LIMITED'] ?? 0) + (c.dropped['SIP_ERR_TRANSPORT_SOURCE_FLOODING'] ?? 0) === sent;
  });
  await waitUntil('answers arrive', () => (peer.received().toString('latin1').match(/^SIP\/2\.0 /gm) ?? []).length === 3);
  const got = responses(peer.received()).map((r) => r.status);
  t.same(got, [400, 400, 400], 'three 400s (the burst), then nothing: a malformed request over the rate gets no 503 either');
  nowMs += 1000;
  t.ok(gate.admit('127.0.0.1') === 'pass', 'the source is served again once its bucket refills');
});
