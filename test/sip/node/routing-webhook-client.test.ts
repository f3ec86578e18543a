// The routing webhook's HTTP client on its own, against a real node:http server on
// 127.0.0.1:0 that misbehaves on demand: answers reuse one keep-alive connection; a
// connection the server drops between requests is retried once on a fresh one; non-2xx,
// an oversized body, a body cut off mid-way, a trickle past the deadline and a refused
// connection each come back as the fallback result the node counts.

import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import t from 'tap';
import { RoutingWebhook, type WebhookQuery } from '../../../sip/node/routing-webhook.js';
import * as limits from '../../../sip/node/limits.js';

type Behaviour = (req: http.IncomingMessage, res: http.ServerResponse, requestOnConnection: number) => void;
let behave: Behaviour = (_req, res) => res.end('{"dn":"1001"}');
const bodies: unknown[] = [];
let connections = 0;
const perSocket = new WeakMap<Socket, number>();
const server = http.createServer((req, res) => {
  const n = (perSocket.get(req.socket) ?? 0) + 1;
  perSocket.set(req.socket, n);
  let text = '';
  req.setEncoding('utf8');
  req.on('data', (c: string) => (text += c));
  req.on('end', () => {
    bodies.push(JSON.parse(text));
    behave(req, res, n);
  });
});
server.on('connection', () => connections++);
await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
t.teardown(() => {
  server.closeAllConnections();
  server.close();
});
const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/route`;

const query: WebhookQuery = { callId: 'c1', from: 'sip:a@x', to: 'sip:7001@x', service: '7001', skill: 's', minLevel: 1, exclude: [], attempt: 1, node: 'n1' };

function hook(timeoutMs = 2000): RoutingWebhook {
  const h = new RoutingWebhook({ url, timeoutMs });
  t.teardown(() => h.close());
  return h;
}

t.beforeEach(() => {
  connections = 0;
  bodies.length = 0;
  behave = (_req, res) => res.end('{"dn":"1001"}');
});

t.test('answers come over one keep-alive connection and the query is the POSTed body', async (t) => {
  const h = hook();
  for (let i = 0; i < 3; i++) t.same(await h.ask({ ...query, attempt: i + 1 }), { result: 'dn', dn: '1001' });
  t.equal(connections, 1, 'three requests, one connection');
  t.same(bodies.map((b) => (b as WebhookQuery).attempt), [1, 2, 3]);
  behave = (_req, res) => res.end('{"dn":null}');
  t.same(await h.ask(query), { result: 'queue' });
});

t.test('a kept-alive connection the server dropped is retried once on a new one', async (t) => {
  const h = hook();
  t.same(await h.ask(query), { result: 'dn', dn: '1001' });
  // The server hangs up on the second request of a connection without answering, as
  // one whose idle timeout fired just as the request left would.
  behave = (req, res, n) => (n >= 2 ? req.socket.destroy() : res.end('{"dn":"1002"}'));
  t.same(await h.ask(query), { result: 'dn', dn: '1002' });
  t.equal(connections, 2, 'the retry opened a second connection');
});

t.test('a drop on a fresh connection is not retried', async (t) => {
  const h = hook();
  behave = (req) => req.socket.destroy();
  const a = await h.ask(query);
  t.equal(a.result, 'error');
  t.equal(bodies.length, 1, 'sent once');
});

t.test('failures come back as the fallback the node counts', async (t) => {
  const h = hook(300);
  behave = (_req, res) => res.writeHead(503).end('{"dn":"1001"}');
  t.match(await h.ask(query), { result: 'http-status', detail: 'HTTP 503' });

  behave = (_req, res) => res.end('x'.repeat(limits.routingWebhookResponseBytesMax + 1));
  t.match(await h.ask(query), { result: 'malformed', detail: /larger than/ });

  behave = (_req, res) => res.end('{"dn":1001}');
  t.match(await h.ask(query), { result: 'malformed', detail: /unusable body/ });

  // Headers and half a body in time, the rest never: the deadline covers the body too.
  behave = (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.write('{"dn":');
  };
  t.match(await h.ask(query), { result: 'timeout', detail: 'no answer within 300 ms' });

  // Half a body, then the connection is cut.
  behave = (req, res) => {
    res.writeHead(200, { 'content-length': '100' });
    res.write('{"dn":', () => req.socket.destroy());
  };
  t.match(await h.ask(query), { result: 'error' });

  t.equal(connections >= 4, true, 'each broken exchange gave up its connection');
});

t.test('a port nobody listens on is a connection error', async (t) => {
  const s = http.createServer();
  await new Promise<void>((res) => s.listen(0, '127.0.0.1', res));
  const port = (s.address() as AddressInfo).port;
  await new Promise((res) => s.close(res));
  const h = new RoutingWebhook({ url: `http://127.0.0.1:${port}/route`, timeoutMs: 2000 });
  t.teardown(() => h.close());
  t.same(await h.ask(query), { result: 'error', detail: 'ECONNREFUSED' });
});
