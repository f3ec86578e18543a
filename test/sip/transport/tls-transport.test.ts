// Proves SIP over TLS on real sockets (127.0.0.1, port 0) with a self-signed certificate
// made as `npm start` makes it: a request and its response over one TLS connection with
// TLS Vias; a request sent to the address a peer's Via claims reuses that peer's
// connection, but only for a Via on the connection's own IP; bytes that are not TLS, and
// plain SIP sent to the TLS port, end that connection (counted as a failed handshake)
// and the listener keeps serving; a connection that never handshakes, or handshakes and
// never sends, is closed at the message deadline; the per-IP connection cap holds before
// any handshake; a missing, non-PEM or mismatched certificate or key is refused at start,
// by the SIP role with a message naming the cluster file's field.

import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import tls from 'node:tls';
import t from 'tap';
import { ensureSelfSignedCertificate } from '../../../cluster/self-signed.js';
import { writeLocalClusterConfig } from '../../../cluster/local-cluster.js';
import { serializeMessage } from '../../../sip/syntax/index.js';
import { responseTarget } from '../../../sip/transport/response-routing.js';
import { loadTlsCredentials, TlsCredentialsError, TlsTransport, type TlsCredentials } from '../../../sip/transport/tls-transport.js';
import type { TransportLimits } from '../../../sip/transport/limits.js';
import { topViaValue } from '../../../sip/transport/via-stamp.js';
import { makeRequest } from '../transaction/fixtures.js';
import { tempDir } from '../../support/temp-dir.js';
import { collect, waitUntil } from './wait.js';

type Closer = { teardown(fn: () => unknown): void };

const dir = tempDir(t, 'tls-transport');
const cert = ensureSelfSignedCertificate(dir);
const credentials = loadTlsCredentials(cert.certPath, cert.keyPath);

async function server(t: Closer, limits: Partial<TransportLimits> = {}, creds: TlsCredentials = credentials): Promise<TlsTransport> {
  const s = await TlsTransport.listen({ host: '127.0.0.1', port: 0, limits, credentials: creds });
  t.teardown(() => s.close());
  return s;
}

/** A raw TCP socket to `port` that records whether the server closed it. */
async function rawTcp(t: Closer, port: number): Promise<{ socket: net.Socket; closed: () => boolean; data: () => Buffer }> {
  const socket = net.connect({ host: '127.0.0.1', port });
  t.teardown(() => socket.destroy());
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('error', reject);
  });
  let closed = false;
  let data = Buffer.alloc(0);
  socket.on('data', (d: Buffer) => (data = Buffer.concat([data, d])));
  socket.on('close', () => (closed = true));
  socket.on('error', () => undefined);
  return { socket, closed: () => closed, data: () => data };
}

/** A TLS client that trusts nothing but completes the handshake (as a phone that pinned
 * our fingerprint would). */
async function tlsClient(t: Closer, port: number): Promise<{ socket: tls.TLSSocket; closed: () => boolean; data: () => string }> {
  const socket = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false });
  t.teardown(() => socket.destroy());
  await new Promise<void>((resolve, reject) => {
    socket.once('secureConnect', () => resolve());
    socket.once('error', reject);
  });
  let closed = false;
  let data = '';
  socket.on('data', (d: Buffer) => (data += d.toString('latin1')));
  socket.on('close', () => (closed = true));
  socket.on('error', () => undefined);
  return { socket, closed: () => closed, data: () => data };
}

const options = (branch: string, sentBy: string): Buffer =>
  serializeMessage(makeRequest({ method: 'OPTIONS', via: `SIP/2.0/TLS ${sentBy};branch=${branch}` }));

t.test('request and response over one TLS connection', async (t) => {
  const a = await server(t);
  const b = await server(t);
  const atA = collect(a);
  const atB = collect(b);
  await b.send(makeRequest({ method: 'OPTIONS', via: `SIP/2.0/TLS 127.0.0.1:${b.local.port};branch=z9hG4bKtls1` }), { protocol: 'TLS', host: '127.0.0.1', port: a.local.port });
  await waitUntil('the request at A', () => atA.length === 1);
  const inbound = atA[0]!;
  t.equal(inbound.source.protocol, 'TLS');
  t.match(inbound.source.connectionId, /^tls-/);
  const target = responseTarget(topViaValue(inbound.message)!, inbound.source, 5061)!;
  t.same([target.protocol, target.connectionId], ['TLS', inbound.source.connectionId], 'the response rides the same connection');
  await a.send({ kind: 'response', status: 200, reason: 'OK', headers: inbound.message.headers, body: new Uint8Array(0) }, target);
  await waitUntil('the response at B', () => atB.length === 1);
  t.equal(a.connectionCount(), 1);
  t.equal(b.connectionCount(), 1);
});

t.test("a request to a peer's Via sent-by reuses its connection; another IP's is not believed", async (t) => {
  const node = await server(t);
  const phone = await server(t);
  const atNode = collect(node);
  const atPhone = collect(phone);
  // The phone says it listens on its own port, as a phone's REGISTER does.
  await phone.send(makeRequest({ method: 'REGISTER', via: `SIP/2.0/TLS 127.0.0.1:${phone.local.port};branch=z9hG4bKreg1` }), { protocol: 'TLS', host: '127.0.0.1', port: node.local.port });
  await waitUntil('the REGISTER at the node', () => atNode.length === 1);
  await node.send(makeRequest({ method: 'INVITE', via: `SIP/2.0/TLS 127.0.0.1:${node.local.port};branch=z9hG4bKinv1` }), { protocol: 'TLS', host: '127.0.0.1', port: phone.local.port });
  await waitUntil('the INVITE at the phone', () => atPhone.length === 1);
  t.equal(node.connectionCount(), 1, 'the node opened no connection of its own');
  t.equal(atPhone[0]!.source.port, node.local.port, "it came over the phone's connection (from the node's listening port)");

  const liar = await tlsClient(t, node.local.port);
  liar.socket.write(options('z9hG4bKliar', '127.0.0.2:5999'));
  await waitUntil('the liar at the node', () => atNode.length === 2);
  await t.rejects(node.send(makeRequest({ method: 'OPTIONS', via: `SIP/2.0/TLS 127.0.0.1:${node.local.port};branch=z9hG4bKx` }), { protocol: 'TLS', host: '127.0.0.2', port: 5999 }), { code: 'SIP_ERR_TRANSPORT_CONNECT_FAILED' }, 'a Via naming another IP aliases nothing: the node dials it (and nothing listens)');
  t.notOk(liar.data().includes('OPTIONS'), 'the liar got nothing meant for 127.0.0.2');
});

t.test('bytes that are not TLS end their connection only', async (t) => {
  const s = await server(t);
  const at = collect(s);
  const garbage = await rawTcp(t, s.local.port);
  garbage.socket.write(Buffer.from('\x16\x03\x01\x00\x05hello, not a ClientHello at all\r\n\r\n', 'latin1'));
  await waitUntil('the garbage connection closed', garbage.closed);
  const plain = await rawTcp(t, s.local.port);
  plain.socket.write(options('z9hG4bKplain', '127.0.0.1:5060'));
  await waitUntil('the plain-SIP connection closed', plain.closed);
  t.notOk(plain.data().toString('latin1').includes('SIP/2.0'), 'no plaintext SIP answer');
  t.equal(s.counters().dropped['SIP_ERR_TRANSPORT_TLS_HANDSHAKE_FAILED'], 2, 'both counted as failed handshakes');
  t.equal(at.length, 0, 'nothing reached the listener');
  const good = await tlsClient(t, s.local.port);
  good.socket.write(options('z9hG4bKgood', '127.0.0.1:5060'));
  await waitUntil('a good client still served', () => at.length === 1);
  t.equal(s.connectionCount(), 1, 'only the good connection is open');
});

t.test('a connection that never handshakes, or never sends, is closed at the message deadline', async (t) => {
  const s = await server(t, { tcpMessageDeadlineMs: 200 });
  const silentTcp = await rawTcp(t, s.local.port);
  const silentTls = await tlsClient(t, s.local.port);
  await waitUntil('both closed', () => silentTcp.closed() && silentTls.closed());
  t.equal(s.counters().dropped['SIP_ERR_TRANSPORT_MESSAGE_DEADLINE'], 2);
  t.equal(s.connectionCount(), 0);
});

t.test('the per-IP connection cap holds before any handshake', async (t) => {
  const s = await server(t, { tcpConnectionsPerSourceMax: 2 });
  await rawTcp(t, s.local.port);
  await rawTcp(t, s.local.port);
  const third = await rawTcp(t, s.local.port);
  await waitUntil('the third refused', third.closed);
  t.equal(s.counters().dropped['SIP_ERR_TRANSPORT_SOURCE_CONNECTIONS_EXHAUSTED'], 1);
});

t.test('an unusable certificate or key is refused, naming the file', async (t) => {
  mkdirSync(join(dir, 'other'), { recursive: true });
  const other = ensureSelfSignedCertificate(join(dir, 'other'));
  const notPem = join(dir, 'not.pem');
  writeFileSync(notPem, 'hello\n');
  t.throws(() => loadTlsCredentials(join(dir, 'missing.pem'), cert.keyPath), { file: 'cert', code: 'SIP_ERR_TRANSPORT_TLS_CONFIG', message: /cannot read the TLS certificate/ });
  t.throws(() => loadTlsCredentials(cert.certPath, join(dir, 'missing.pem')), { file: 'key', message: /cannot read the TLS key/ });
  t.throws(() => loadTlsCredentials(notPem, cert.keyPath), { file: 'cert', message: /not a PEM certificate/ });
  t.throws(() => loadTlsCredentials(cert.certPath, notPem), { file: 'key', message: /not a PEM private key/ });
  t.throws(() => loadTlsCredentials(cert.certPath, other.keyPath), { file: 'key', message: /is not the private key of the certificate/ });
  t.ok(new TlsCredentialsError('cert', 'x') instanceof Error);

  // The SIP role refuses to start, before it listens, naming the cluster file's field.
  const cdir = join(dir, 'cluster');
  mkdirSync(cdir, { recursive: true });
  const { path } = await writeLocalClusterConfig({ dir: cdir, shards: 1, sipNodes: 1, sipTls: { cert: cert.certPath, key: other.keyPath } });
  const cli = fileURLToPath(new URL('../../../cluster/cli.ts', import.meta.url));
  const r = spawnSync(process.execPath, ['--import', 'tsx', cli, 'sip', '--config', path, '--id', 'sip1'], { encoding: 'utf8', timeout: 60_000 });
  t.not(r.status, 0, 'exits non-zero');
  t.match(r.stderr, /sip\[0\]\.tls\.key: .*is not the private key of the certificate/, `names the field (${r.stderr.trim()})`);
});
