// Raw HTTP/1.1 requests for the admin listener fuzz tests: generated as bytes (request
// line, headers, body, chunked encodings), so they can be malformed in ways no HTTP
// client library would produce, and sent one per connection so a request the server
// rejects by closing the connection does not hide the ones behind it.
import net from 'node:net';
import fc from 'fast-check';

export type Tokens = Readonly<{ read: string; admin: string }>;

const methods = ['GET', 'GET', 'GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS', 'TRACE', 'CONNECT', 'G\u00c9T', 'get', ''];

const junk = fc.oneof(fc.string({ maxLength: 40 }), fc.string({ unit: 'binary', maxLength: 40 }), fc.constantFrom('..', '%', '%00', '%zz', '%2e%2e', '\u0000', '\r\n', ' ', '//', '?', '#', ';'));
const dn = fc.oneof(fc.stringMatching(/^[0-9]{1,12}$/), fc.stringMatching(/^[0-9]{30,40}$/), junk);
/** Never a member id of the cluster under test (ids there look like s1-a or sip1). */
const memberId = fc.oneof(fc.stringMatching(/^zz-[a-z0-9]{1,8}$/), junk.map((s) => `zz${s}`));

function enc(s: string): string {
  return encodeURIComponent(s);
}

/** Paths of the admin listeners, with hostile parameters and query strings. */
export const adminPath = fc.oneof(
  fc.constantFrom('/', '/v1/status', '/v1/agents', '/v1/reservations', '/v1/cluster', '/v1/dashboard', '/v1/events', '/v1/calls', '/v1/queue', '/v1/registrations', '/v1/gateways', '/metrics', '/healthz', '/readyz', '/docs', '/docs/json', '/docs/static/index.html', '/v1/leader/transfer', '/v1/members'),
  dn.map((d) => `/v1/agents/${enc(d)}`),
  dn.map((d) => `/v1/agents/${enc(d)}/state`),
  memberId.map((m) => `/v1/members/${enc(m)}`),
  fc.tuple(fc.constantFrom('/v1/agents', '/v1/reservations', '/v1/status', '/v1/dashboard', '/v1/cluster', '/v1/agents/1001'), fc.array(fc.tuple(fc.constantFrom('state', 'skill', 'consistency', 'token', 'x', ''), junk), { maxLength: 4 }))
    .map(([p, q]) => `${p}?${q.map(([k, v]) => `${k}=${enc(v)}`).join('&')}`),
  fc.tuple(fc.constantFrom('/v1/agents?state=', '/v1/agents?consistency=', '/v1/agents?skill=', '/v1/status?token='), junk).map(([p, v]) => p + v),
  junk.map((s) => `/${s}`),
  fc.string({ minLength: 2000, maxLength: 9000 }).map((s) => `/v1/${enc(s)}`),
);

/** JSON bodies: the routes' own fields with the wrong types and ranges, or any JSON. */
const fieldValue = fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.constantFrom(-1, 1e308, 1.5, '', 'READY', 'NOT_READY', 'LOGGED_OUT', 'BUSY', null, true, [], {}, 's1-a', 'x'.repeat(500)));
export const jsonBody = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)),
  fc.dictionary(fc.constantFrom('name', 'skills', 'wrapUpMs', 'maxNoAnswer', 'password', 'state', 'reason', 'to', 'id', 'raft', 'promote', '__proto__', 'constructor'), fieldValue, { maxKeys: 5 }).map((o) => JSON.stringify(o)),
  fc.constantFrom('{"name":', '{"__proto__":{"x":1}}', '[', '"', 'nul', '{"name":"A","skills":{"__proto__":1}}', '{"state":"READY","reason":"' + 'r'.repeat(200) + '"}', '\u0000', '{}{}'),
  fc.string({ maxLength: 200 }),
);

const contentType = fc.constantFrom('application/json', 'application/json; charset=utf-8', 'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/problem+json', '', 'application/json; charset=latin1', '*/*');

export type RequestParts = { method: string; path: string; version: string; headers: [string, string][]; body: string; chunked: 'no' | 'yes' | 'bad' };

export function requestParts(tokens: Tokens): fc.Arbitrary<RequestParts> {
  const auth = fc.constantFrom<[string, string] | null>(['authorization', `Bearer ${tokens.admin}`], ['authorization', `Bearer ${tokens.admin}`], ['authorization', `Bearer ${tokens.read}`], ['authorization', 'Bearer '], ['authorization', 'Basic Zm9vOmJhcg=='], ['authorization', `Bearer ${tokens.admin}x`], null);
  const extra = fc.array(fc.oneof(
    fc.tuple(fc.constantFrom('accept', 'x-ringfence-forwarded', 'content-length', 'host', 'expect', 'connection', 'accept-encoding', 'transfer-encoding', 'cookie', 'x-forwarded-for'), fc.string({ maxLength: 30 })),
    fc.tuple(fc.string({ minLength: 1, maxLength: 20 }), fc.string({ maxLength: 60 })),
  ), { maxLength: 4 });
  return fc.record({
    method: fc.constantFrom(...methods),
    path: adminPath,
    version: fc.constantFrom('HTTP/1.1', 'HTTP/1.1', 'HTTP/1.0', 'HTTP/2.0', 'HTTP/9', 'HTTP/1.1 x'),
    auth,
    contentType,
    extra,
    body: fc.oneof(fc.constant(''), jsonBody),
    chunked: fc.constantFrom<RequestParts['chunked']>('no', 'no', 'yes', 'bad'),
  }).map((r) => ({
    method: r.method,
    path: r.path,
    version: r.version,
    headers: [['host', '127.0.0.1'], ...(r.auth ? [r.auth] : []), ...(r.contentType ? [['content-type', r.contentType] as [string, string]] : []), ...r.extra],
    body: r.body,
    chunked: r.chunked,
  }));
}

/** Well-formed requests aimed at the routes: right method, a valid token, a JSON body
 * with the routes' own fields in the wrong types — these get past the HTTP parser and the
 * token check, into validation and the handlers. */
export function routeRequest(tokens: Tokens): fc.Arbitrary<RequestParts> {
  const target = fc.oneof(
    fc.tuple(fc.constant('GET'), adminPath),
    fc.tuple(fc.constant('PUT'), dn.map((d) => `/v1/agents/${enc(d)}`)),
    fc.tuple(fc.constant('POST'), dn.map((d) => `/v1/agents/${enc(d)}/state`)),
    fc.tuple(fc.constant('PUT'), fc.constant('/v1/agents/1001')),
    fc.tuple(fc.constant('POST'), fc.constant('/v1/agents/1001/state')),
    fc.tuple(fc.constant('POST'), dn.map((d) => `/v1/agents/${enc(d)}/release`)),
    fc.tuple(fc.constant('DELETE'), dn.map((d) => `/v1/agents/${enc(d)}`)),
    fc.tuple(fc.constant('POST'), fc.constant('/v1/leader/transfer')),
    fc.tuple(fc.constant('DELETE'), memberId.map((m) => `/v1/members/${enc(m)}`)),
  );
  return fc.record({
    target,
    token: fc.constantFrom(tokens.admin, tokens.admin, tokens.read),
    contentType: fc.constantFrom('application/json', 'application/json', 'text/plain', ''),
    body: jsonBody,
    chunked: fc.constantFrom<RequestParts['chunked']>('no', 'no', 'no', 'yes'),
  }).map((r) => ({
    method: r.target[0],
    path: r.target[1],
    version: 'HTTP/1.1',
    headers: [['host', '127.0.0.1'], ['authorization', `Bearer ${r.token}`], ...(r.contentType && r.target[0] !== 'GET' ? [['content-type', r.contentType] as [string, string]] : [])],
    body: r.target[0] === 'GET' ? '' : r.body,
    chunked: r.target[0] === 'GET' ? 'no' : r.chunked,
  }));
}

export function renderRequest(p: RequestParts): Uint8Array {
  const head = [`${p.method} ${p.path} ${p.version}`, ...p.headers.map(([k, v]) => `${k}: ${v}`)];
  const body = Buffer.from(p.body, 'utf8');
  let payload: Buffer;
  if (p.chunked === 'no') {
    if (body.length > 0 || p.method === 'POST' || p.method === 'PUT') head.push(`content-length: ${body.length}`);
    payload = body;
  } else {
    head.push('transfer-encoding: chunked');
    const size = p.chunked === 'yes' ? body.length.toString(16) : ['zz', '-1', 'ffffffffffffffff', '', `${body.length.toString(16)};x=${'y'.repeat(20)}`][body.length % 5]!;
    payload = Buffer.concat([Buffer.from(`${size}\r\n`), body, Buffer.from(p.chunked === 'yes' ? '\r\n0\r\n\r\n' : '\r\n0\r\n')]);
  }
  return Buffer.concat([Buffer.from(head.join('\r\n') + '\r\n\r\n', 'utf8'), payload]);
}

export type Answer = { status: number | null; head: string; bodyStart: string };

/** Sends `bytes` on a fresh connection, half-closes it, and resolves with the first
 * response's status (null when the server closed without one). The connection is dropped
 * as soon as the response's headers and the start of its body are in, which also ends
 * an event stream. */
export function sendRaw(port: number, bytes: Uint8Array, giveUpMs: number): Promise<Answer> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    let data = '';
    let done = false;
    const finish = (): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(data);
      const split = data.indexOf('\r\n\r\n');
      resolve({ status: m ? Number(m[1]) : null, head: split >= 0 ? data.slice(0, split) : data, bodyStart: split >= 0 ? data.slice(split + 4, split + 4 + 600) : '' });
    };
    const timer = setTimeout(() => {
      data = data || 'NO ANSWER';
      finish();
    }, giveUpMs);
    socket.on('connect', () => socket.end(bytes));
    socket.on('data', (d: Buffer) => {
      data += d.toString('latin1');
      const split = data.indexOf('\r\n\r\n');
      if (split >= 0 && data.length > split + 4 + 200) finish();
      else if (split >= 0 && /\r\ncontent-type: text\/event-stream/i.test(data)) finish();
    });
    socket.on('error', () => finish());
    socket.on('close', () => finish());
  });
}

/** Runs `count` requests through `send`, `concurrency` at a time. */
export async function inBatches<T>(items: readonly T[], concurrency: number, send: (item: T, i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < items.length) {
      const i = next++;
      await send(items[i]!, i);
    }
  }));
}
