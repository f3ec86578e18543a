// Proves the Raft peer handshake (raft/transport/handshake.ts, ringfence-raft-peer/3) gives
// a stranger nothing to work with and holds no slot for long, over real sockets:
// - a dialer without the key learns no listener MAC: the challenge is exactly the
//   listener's id and a nonce, nothing follows it until a proof checks out, and a forged
//   proof closes the link with no ACCEPT;
// - the listener's proof (ACCEPT) comes only after the dialer's, and verifies under the
//   derived peer key (never the root secret);
// - a connection trickling bytes is closed at the absolute handshake deadline, on the
//   listening and on the dialing side;
// - connections mid-handshake are bounded; real peers still connect afterwards.
import net from 'node:net';
import t from 'tap';
import { encodeFrame, FrameDecoder } from '../../common/framing.js';
import { deriveKey } from '../../common/keys.js';
import { computeMac, decodeAccept, decodeChallenge, encodeChallenge, encodeHello, encodeProof, macMatches, newNonce } from '../../raft/transport/handshake.js';
import { inboundUnauthenticatedMax } from '../../raft/transport/limits.js';
import { TcpRaftTransport } from '../../raft/transport/tcp-transport.js';
import type { Message } from '../../raft/types.js';
import { heartbeat, rawClient, recordingLogger, waitFor } from '../raft/transport/helpers.js';

const SECRET = 'raft-handshake-test-root-secret-0123456789abcdef';

async function node(t: { teardown(fn: () => unknown): void }, id: string, opts: { handshakeTimeoutMs?: number; peers?: Record<string, { host: string; port: number }> } = {}) {
  const logger = recordingLogger();
  const transport = await TcpRaftTransport.listen({ id, host: '127.0.0.1', port: 0, secret: SECRET, peers: opts.peers ?? {}, logger, ...(opts.handshakeTimeoutMs ? { handshakeTimeoutMs: opts.handshakeTimeoutMs } : {}) });
  t.teardown(() => transport.close());
  const got: Message[] = [];
  transport.register('g', (m) => got.push(m));
  return { transport, logger, got };
}

t.test('a dialer without the key learns no listener MAC', async (t) => {
  const a = await node(t, 'a');
  const c = await rawClient(a.transport.port);
  const dialerNonce = newNonce();
  c.send(encodeHello({ dialerId: 'b', dialerNonce }));
  await waitFor(() => c.frames.length === 1, 'challenge');
  const challenge = decodeChallenge(c.frames[0]!);
  t.equal(challenge.listenerId, 'a');
  t.same(Buffer.from(c.frames[0]!), Buffer.from(encodeChallenge({ listenerId: 'a', listenerNonce: challenge.listenerNonce })), 'the challenge is the id and a nonce, byte for byte');
  await new Promise((r) => setTimeout(r, 150));
  t.equal(c.frames.length, 1, 'nothing more before a proof');

  // A proof under a guessed secret: closed, and still only the challenge was ever sent.
  const guessed = deriveKey('a-guess-at-the-secret-0123456789abcdef', 'raft-peer');
  c.send(encodeProof({ mac: computeMac(guessed, { role: 'dialer', dialerId: 'b', listenerId: 'a', dialerNonce, listenerNonce: challenge.listenerNonce }) }));
  await c.closed;
  t.equal(c.frames.length, 1, 'no ACCEPT, no MAC of any kind');
  t.same(a.got, []);
  t.match(a.logger.warnings.join('\n'), /dialer failed authentication/);

  // The root secret itself is not the key: a proof made with it fails too.
  const root = await rawClient(a.transport.port);
  const n2 = newNonce();
  root.send(encodeHello({ dialerId: 'b', dialerNonce: n2 }));
  await waitFor(() => root.frames.length === 1, 'challenge');
  const ch2 = decodeChallenge(root.frames[0]!);
  root.send(encodeProof({ mac: computeMac(Buffer.from(SECRET), { role: 'dialer', dialerId: 'b', listenerId: 'a', dialerNonce: n2, listenerNonce: ch2.listenerNonce }) }));
  await root.closed;
  t.equal(root.frames.length, 1, 'the root secret used as the key is refused');
});

t.test('the listener proves itself only after the dialer has', async (t) => {
  const a = await node(t, 'a');
  const key = deriveKey(SECRET, 'raft-peer');
  const c = await rawClient(a.transport.port);
  const dialerNonce = newNonce();
  c.send(encodeHello({ dialerId: 'b', dialerNonce }));
  await waitFor(() => c.frames.length === 1, 'challenge');
  const { listenerNonce } = decodeChallenge(c.frames[0]!);
  const input = { dialerId: 'b', listenerId: 'a', dialerNonce, listenerNonce };
  c.send(encodeProof({ mac: computeMac(key, { ...input, role: 'dialer' }) }));
  await waitFor(() => c.frames.length === 2, 'accept');
  t.ok(macMatches(key, { ...input, role: 'listener' }, decodeAccept(c.frames[1]!).mac), 'the ACCEPT carries the listener\'s MAC under the derived key');
  t.notOk(macMatches(key, { ...input, role: 'dialer' }, decodeAccept(c.frames[1]!).mac), 'not the dialer\'s MAC reflected');
  c.socket.destroy();
});

t.test('a trickling connection is closed at the absolute deadline', async (t) => {
  const a = await node(t, 'a', { handshakeTimeoutMs: 400 });
  const c = await rawClient(a.transport.port);
  // A hello announced at 1000 bytes (under the handshake frame limit), sent a byte at a time.
  const frame = Buffer.concat([Buffer.from([0, 0, 0x03, 0xe8]), Buffer.alloc(1000, 1)]);
  const started = Date.now();
  let at = 0;
  const trickle = setInterval(() => {
    if (at < frame.length) c.socket.write(frame.subarray(at, ++at));
  }, 30);
  await c.closed;
  clearInterval(trickle);
  const took = Date.now() - started;
  t.ok(took >= 350 && took < 2000, `closed at the deadline (${took} ms), though bytes kept coming`);
  t.match(a.logger.warnings.join('\n'), /handshake not done within 400 ms/);
  t.equal(a.transport.inbound.rejected, 1);
});

t.test('the dialer gives up on a trickling listener at the same deadline', async (t) => {
  let closedAfter = -1;
  const server = net.createServer((s) => {
    const accepted = Date.now();
    s.on('error', () => {});
    const decoder = new FrameDecoder(1024);
    s.on('data', (d: Buffer) => {
      if (decoder.push(d).length === 0) return;
      // Answer the hello with a challenge one byte at a time, never finishing it.
      const challenge = encodeFrame(encodeChallenge({ listenerId: 'fake', listenerNonce: newNonce() }));
      let at = 0;
      const trickle = setInterval(() => {
        if (at < challenge.length - 1 && !s.destroyed) s.write(challenge.subarray(at, ++at));
      }, 30);
      s.once('close', () => clearInterval(trickle));
    });
    s.once('close', () => {
      if (closedAfter < 0) closedAfter = Date.now() - accepted;
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  const port = (server.address() as net.AddressInfo).port;
  const a = await node(t, 'a', { handshakeTimeoutMs: 400, peers: { fake: { host: '127.0.0.1', port } } });
  a.transport.send('g', [heartbeat('a', 'fake')]);
  await waitFor(() => closedAfter >= 0, 'the dialer to hang up', 5000);
  t.ok(closedAfter >= 350 && closedAfter < 2000, `the dialer closed at its deadline (${closedAfter} ms)`);
  t.equal(a.transport.peerStats().fake!.connected, false);
});

t.test('connections mid-handshake are bounded; real peers still get through', async (t) => {
  const a = await node(t, 'a');
  const idle = await Promise.all(Array.from({ length: inboundUnauthenticatedMax }, () => rawClient(a.transport.port)));
  await new Promise((r) => setTimeout(r, 100));
  const extra = await rawClient(a.transport.port);
  await extra.closed;
  t.ok(a.transport.inboundDropped >= 1, 'one over the bound is closed on arrival');
  t.notOk(idle.some((c) => c.socket.destroyed), 'the pending ones are left to their deadline');
  for (const c of idle) c.socket.destroy();
  await waitFor(() => a.transport.pendingHandshakes === 0, 'slots freed');
  const b = await node(t, 'b', { peers: { a: { host: '127.0.0.1', port: a.transport.port } } });
  b.transport.send('g', [heartbeat('b', 'a', 3)]);
  await waitFor(() => a.got.length === 1, 'a real peer delivers');
  t.equal(a.got[0]!.term, 3);
});
