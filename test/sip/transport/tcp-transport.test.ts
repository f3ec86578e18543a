// Proves the TCP transport on real sockets (127.0.0.1, port 0): request and response
// between two transports over one reused connection (the response rides the request's
// connection); Content-Length framing of a message split across chunks and of two
// messages in one chunk; a framed but malformed request gets a 400 and the connection
// lives on; bytes that cannot be framed close the connection and the server keeps
// serving; idle connections are closed; connections beyond the maximum are refused.

import net from 'node:net';
import t from 'tap';
import { buildResponse, parseMessage, serializeMessage } from '../../../sip/syntax/index.js';
import { responseTarget } from '../../../sip/transport/response-routing.js';
import { TcpTransport } from '../../../sip/transport/tcp-transport.js';
import type { TransportLimits } from '../../../sip/transport/limits.js';
import { topViaValue } from '../../../sip/transport/via-stamp.js';
import { makeRequest } from '../transaction/fixtures.js';
import { collect, waitUntil } from './wait.js';

type Closer = { teardown(fn: () => unknown): void };

async function server(t: Closer, limits: Partial<TransportLimits> = {}): Promise<TcpTransport> {
  const s = await TcpTransport.listen({ host: '127.0.0.1', port: 0, limits });
  t.teardown(() => s.close());
  return s;
}

/** A raw client socket that records what it receives and whether it was closed. */
async function rawClient(t: Closer, port: number) {
  const socket = net.connect({ host: '127.0.0.1', port });
  t.teardown(() => socket.destroy());
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('error', reject);
  });
  const state = { data: Buffer.alloc(0), closed: false, socket };
  socket.on('data', (d: Buffer) => (state.data = Buffer.concat([state.data, d])));
  socket.on('close', () => (state.closed = true));
  socket.on('error', () => undefined);
  return state;
}

const wire = (method: string, branch: string): Buffer =>
  serializeMessage(makeRequest({ method, via: `SIP/2.0/TCP client.invalid:5060;branch=${branch}` }));

t.test('request/response over one reused TCP connection', async (t) => {
  const a = await server(t);
  const b = await server(t);
  const atA = collect(a);
  const atB = collect(b);
  for (const branch of ['z9hG4bKtcp1', 'z9hG4bKtcp2']) {
    await b.send(makeRequest({ method: 'OPTIONS', via: `SIP/2.0/TCP 127.0.0.1:${b.local.port};branch=${branch}` }), {
      protocol: 'TCP',
      host: '127.0.0.1',
      port: a.local.port,
    });
  }
  await waitUntil('two requests at A', () => atA.length === 2);
  t.equal(atA[0]!.source.connectionId, atA[1]!.source.connectionId, 'both on one connection');
  for (const inbound of atA) {
    const target = responseTarget(topViaValue(inbound.message)!, inbound.source, 5060)!;
    t.equal(target.connectionId, inbound.source.connectionId);
    await a.send(buildResponse(inbound.message as never, 200, 'OK'), target);
  }
  await waitUntil('two responses at B', () => atB.length === 2);
  t.same(atB.map((m) => m.message.kind === 'response' && m.message.status), [200, 200]);
  t.equal(a.connectionCount(), 1);
  t.equal(b.connectionCount(), 1, 'B reused its connection and A answered on it');
  t.equal(a.counters().connectionsOpened, 1);
});

t.test('framing: one message split across chunks, two messages in one chunk', async (t) => {
  const s = await server(t);
  const got = collect(s);
  const c = await rawClient(t, s.local.port);
  const one = wire('OPTIONS', 'z9hG4bKsplit');
  for (const piece of [one.subarray(0, 10), one.subarray(10, 60), one.subarray(60)]) {
    c.socket.write(piece);
    await new Promise((r) => setTimeout(r, 20));
  }
  await waitUntil('split message', () => got.length === 1);
  c.socket.write(Buffer.concat([wire('REGISTER', 'z9hG4bKtwo1'), wire('OPTIONS', 'z9hG4bKtwo2')]));
  await waitUntil('two messages', () => got.length === 3);
  t.same(got.map((m) => m.message.kind === 'request' && m.message.method), ['OPTIONS', 'REGISTER', 'OPTIONS']);
  t.match(topViaValue(got[1]!.message)!, /branch=z9hG4bKtwo1;received=127\.0\.0\.1$/, 'received stamped');
  t.equal(s.counters().messagesReceived, 3);
});

t.test('a framed malformed request gets a 400 and the connection stays usable', async (t) => {
  const s = await server(t);
  const got = collect(s);
  const c = await rawClient(t, s.local.port);
  const bad = Buffer.from(wire('OPTIONS', 'z9hG4bKbad').toString().replace('Max-Forwards: 70', 'Max-Forwards: x'));
  c.socket.write(Buffer.concat([bad, wire('OPTIONS', 'z9hG4bKafter')]));
  await waitUntil('400 and the next message', () => c.data.length > 0 && got.length === 1);
  const reply = parseMessage(c.data);
  t.ok(reply.ok && reply.message.kind === 'response' && reply.message.status === 400);
  t.match(reply.ok && reply.message.kind === 'response' && reply.message.reason, /Max-Forwards/);
  t.equal(c.closed, false);
  t.equal(s.counters().parseErrors['SIP_ERR_BAD_MAX_FORWARDS'], 1);
});

t.test('unframeable bytes close the connection; the server keeps serving', async (t) => {
  const s = await server(t);
  const got = collect(s);
  const c = await rawClient(t, s.local.port);
  // No Content-Length on a stream: the end of this message is unknowable.
  c.socket.write('OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP 1.2.3.4;branch=z9hG4bKx\r\n\r\n');
  await waitUntil('connection closed by server', () => c.closed);
  t.equal(got.length, 0);
  t.equal(s.counters().dropped['SIP_ERR_TRANSPORT_FRAMING_LOST'], 1);
  t.ok(Object.keys(s.counters().parseErrors).length === 1, JSON.stringify(s.counters().parseErrors));
  const d = await rawClient(t, s.local.port);
  d.socket.write(wire('OPTIONS', 'z9hG4bKok'));
  await waitUntil('next connection served', () => got.length === 1);
  await waitUntil('dead connection forgotten', () => s.connectionCount() === 1);
  t.equal(s.connectionCount(), 1);
});

t.test('CRLFCRLF keepalive pings get a CRLF pong', async (t) => {
  const s = await server(t);
  const c = await rawClient(t, s.local.port);
  c.socket.write('\r\n\r\n');
  await waitUntil('pong', () => c.data.length === 2);
  t.equal(c.data.toString(), '\r\n');
});

t.test('idle connections are closed; connections beyond the maximum are refused', async (t) => {
  const s = await server(t, { tcpIdleTimeoutMs: 100, tcpConnectionsMax: 1 });
  const c = await rawClient(t, s.local.port);
  await waitUntil('server registered the first', () => s.connectionCount() === 1);
  const d = await rawClient(t, s.local.port);
  await waitUntil('second refused', () => d.closed);
  t.equal(s.counters().connectionsRejected, 1);
  await waitUntil('idle one closed', () => c.closed);
  t.equal(s.connectionCount(), 0);
});

t.test('send to a port nobody listens on rejects with CONNECT_FAILED', async (t) => {
  const s = await server(t);
  const probe = net.createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', () => r()));
  const deadPort = (probe.address() as net.AddressInfo).port;
  await new Promise<void>((r) => probe.close(() => r()));
  await t.rejects(s.send(makeRequest({ method: 'OPTIONS' }), { protocol: 'TCP', host: '127.0.0.1', port: deadPort }), {
    code: 'SIP_ERR_TRANSPORT_CONNECT_FAILED',
  });
});
