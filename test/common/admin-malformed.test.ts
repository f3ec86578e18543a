// Requests that never parse as HTTP, against a real admin listener over raw sockets. Found
// by `npm run fuzz` (a million requests at a replica's and a SIP node's admin port): an
// HTTP/1.1 request without Host got Node's bare 400 and, when its chunked body was bad too,
// a second status line after it on the same connection; a bad chunk size or a short body
// got fastify's default body, not a problem. Now each gets exactly one response, a JSON
// problem, and the connection is closed.
import net from 'node:net';
import { Registry } from 'prom-client';
import t from 'tap';
import { createAdminApp } from '../../common/admin.js';

const tokens = { read: `read-${'r'.repeat(40)}`, admin: `admin-${'a'.repeat(40)}` };
const app = await createAdminApp({ title: 'test', tokens, registry: new Registry() });
app.get('/v1/things', { config: { scope: 'read' } }, async () => ({ things: [] }));
app.put('/v1/things', { config: { scope: 'admin' } }, async () => ({ ok: true }));
await app.listen({ port: 0, host: '127.0.0.1' });
t.teardown(() => app.close());
const port = (app.server.address() as net.AddressInfo).port;

/** Writes `raw`, half-closes, and returns everything the server sent before it closed. */
function exchange(raw: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => s.end(raw));
    let out = '';
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`no close within 10 s; got ${JSON.stringify(out)}`));
    }, 10_000);
    s.on('data', (d: Buffer) => (out += d.toString('latin1')));
    s.on('error', () => undefined);
    s.on('close', () => {
      clearTimeout(timer);
      resolve(out);
    });
  });
}

const statusLines = (out: string): string[] => out.match(/HTTP\/1\.1 \d{3} [^\r]*\r\n/g) ?? [];

const cases: [string, string, number, RegExp][] = [
  ['no Host, bad chunked body', 'GET /v1/things HTTP/1.1\r\nauthorization: Bearer \r\ntransfer-encoding: chunked\r\n\r\nzz\r\n\r\n0\r\n\r\n', 400, /Host header/],
  ['no Host', `GET /v1/things HTTP/1.1\r\nauthorization: Bearer ${tokens.read}\r\n\r\n`, 400, /Host header/],
  ['a bad chunk size', `PUT /v1/things HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\nauthorization: Bearer ${tokens.admin}\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n\r\n0\r\n\r\n`, 400, /HPE_INVALID_CHUNK_SIZE/],
  ['a header line of 40 KiB', `GET /v1/things HTTP/1.1\r\nhost: x\r\nx-big: ${'b'.repeat(40 * 1024)}\r\n\r\n`, 431, /HPE_HEADER_OVERFLOW/],
  ['a broken request line', 'GET /v1/things HTTP/9.9 junk\r\nhost: x\r\n\r\n', 400, /malformed HTTP request/],
];

for (const [name, raw, status, detail] of cases) {
  t.test(name, async (t) => {
    const out = await exchange(raw);
    t.equal(statusLines(out).length, 1, `exactly one response on the connection: ${JSON.stringify(out.slice(0, 300))}`);
    t.match(statusLines(out)[0], new RegExp(`^HTTP/1\\.1 ${status} `), `status ${status}`);
    t.match(out, /\r\ncontent-type: application\/problem\+json/i, 'a problem body');
    const body = JSON.parse(out.slice(out.indexOf('\r\n\r\n') + 4)) as { code: string; status: number; detail: string };
    t.match(body, { code: 'ADMIN_ERR_BAD_REQUEST', status, detail });
  });
}

t.test('the listener still serves', async (t) => {
  const res = await fetch(`http://127.0.0.1:${port}/v1/things`, { headers: { authorization: `Bearer ${tokens.read}` } });
  t.equal(res.status, 200);
  t.same(await res.json(), { things: [] });
});
