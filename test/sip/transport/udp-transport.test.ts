// Proves the UDP transport on real sockets (127.0.0.1, port 0): a request and its
// response cross between two transports; the server stamps received/rport on the top Via
// and, when rport is present, the response goes to the port the request came from even
// though the Via names another; a malformed request that can be answered gets a 400 with
// the parser's reason; unanswerable garbage is dropped and counted by parser code.

import dgram from 'node:dgram';
import t from 'tap';
import { buildResponse, parseMessage, serializeMessage } from '../../../sip/syntax/index.js';
import { responseTarget } from '../../../sip/transport/response-routing.js';
import { UdpTransport } from '../../../sip/transport/udp-transport.js';
import { topViaValue } from '../../../sip/transport/via-stamp.js';
import { makeRequest } from '../transaction/fixtures.js';
import { collect, waitUntil } from './wait.js';

async function pair(t: { teardown(fn: () => unknown): void }) {
  const server = await UdpTransport.listen({ host: '127.0.0.1', port: 0 });
  const client = await UdpTransport.listen({ host: '127.0.0.1', port: 0 });
  t.teardown(() => Promise.all([server.close(), client.close()]));
  return { server, client };
}

t.test('request and response over UDP; rport sends the response to the source port', async (t) => {
  const { server, client } = await pair(t);
  const atServer = collect(server);
  const atClient = collect(client);
  // The Via claims port 9 (discard): only rport can bring the response back.
  const req = makeRequest({ method: 'OPTIONS', via: `SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKudp1;rport` });
  await client.send(req, { protocol: 'UDP', host: '127.0.0.1', port: server.local.port });
  await waitUntil('request at server', () => atServer.length === 1);
  const inbound = atServer[0]!;
  t.equal(inbound.source.port, client.local.port);
  const via = topViaValue(inbound.message)!;
  t.equal(via, `SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKudp1;rport=${client.local.port};received=127.0.0.1`);
  const target = responseTarget(via, inbound.source, 5060)!;
  t.same(target, { protocol: 'UDP', host: '127.0.0.1', port: client.local.port });
  await server.send(buildResponse(inbound.message as never, 200, 'OK'), target);
  await waitUntil('response at client', () => atClient.length === 1);
  const res = atClient[0]!.message;
  t.equal(res.kind === 'response' && res.status, 200);
  t.equal(server.counters().messagesReceived, 1);
  t.equal(client.counters().messagesSent, 1);
});

t.test('without rport the response goes to the Via sent-by port', async (t) => {
  const { server, client } = await pair(t);
  const atServer = collect(server);
  const atClient = collect(client);
  const req = makeRequest({ method: 'OPTIONS', via: `SIP/2.0/UDP 127.0.0.1:${client.local.port};branch=z9hG4bKudp2` });
  await client.send(req, { protocol: 'UDP', host: '127.0.0.1', port: server.local.port });
  await waitUntil('request at server', () => atServer.length === 1);
  const via = topViaValue(atServer[0]!.message)!;
  t.notMatch(via, /received|rport/, 'same IP, no rport: Via untouched');
  await server.send(buildResponse(atServer[0]!.message as never, 200, 'OK'), responseTarget(via, atServer[0]!.source, 5060)!);
  await waitUntil('response at client', () => atClient.length === 1);
  t.pass('response arrived at the sent-by port');
});

t.test('malformed datagrams: 400 with the parser reason, or dropped and counted', async (t) => {
  const { server } = await pair(t);
  const atServer = collect(server);
  const raw = dgram.createSocket('udp4');
  t.teardown(() => new Promise<void>((r) => raw.close(() => r())));
  await new Promise<void>((r) => raw.bind(0, '127.0.0.1', () => r()));
  const replies: Buffer[] = [];
  raw.on('message', (b) => replies.push(b));
  const rawPort = raw.address().port;
  const good = makeRequest({ method: 'OPTIONS', via: `SIP/2.0/UDP 127.0.0.1:${rawPort};branch=z9hG4bKbadmf` });
  const text = serializeMessage(good).toString().replace('Max-Forwards: 70', 'Max-Forwards: 999');
  raw.send(Buffer.from(text), server.local.port, '127.0.0.1');
  await waitUntil('400 reply', () => replies.length === 1);
  const reply = parseMessage(replies[0]!);
  t.ok(reply.ok && reply.message.kind === 'response' && reply.message.status === 400, '400 sent back');
  t.match(reply.ok && reply.message.kind === 'response' && reply.message.reason, /Max-Forwards/);
  raw.send(Buffer.from('HELLO\r\n\r\n'), server.local.port, '127.0.0.1');
  raw.send(Buffer.from('\r\n\r\n'), server.local.port, '127.0.0.1'); // keepalive: neither message nor error
  await waitUntil('garbage counted', () => server.counters().dropped['SIP_ERR_TRANSPORT_UNANSWERABLE'] === 1);
  const c = server.counters();
  t.equal(c.badRequestsAnswered, 1);
  t.equal(c.parseErrors['SIP_ERR_BAD_MAX_FORWARDS'], 1);
  t.equal(Object.values(c.parseErrors).reduce((a, b) => a + b, 0), 2);
  t.equal(atServer.length, 0, 'nothing reached the listener');
  t.equal(replies.length, 1, 'garbage got no reply');
});

t.test('socket buffers are asked for at the configured size', async (t) => {
  const small = await UdpTransport.listen({ host: '127.0.0.1', port: 0, limits: { socketReceiveBufferBytes: 64 * 1024, socketSendBufferBytes: 64 * 1024 } });
  const big = await UdpTransport.listen({ host: '127.0.0.1', port: 0 });
  t.teardown(() => Promise.all([small.close(), big.close()]));
  const s = small.socketBufferBytes();
  const b = big.socketBufferBytes();
  t.comment(`granted: small ${JSON.stringify(s)}, default(4 MiB asked) ${JSON.stringify(b)}`);
  // The kernel caps at rmem_max/wmem_max; the default must never get less than the small ask.
  t.ok(b.receive >= s.receive && b.send >= s.send);
  t.ok(s.receive >= 64 * 1024, 'the small ask was honoured');
});
