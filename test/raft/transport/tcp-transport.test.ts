// Proves TcpRaftTransport carries Raft messages between authenticated nodes and keeps
// strangers out, over real sockets on 127.0.0.1:
// - two nodes sharing the secret exchange messages for several groups, in order, and a
//   burst queued in one turn leaves in one socket write;
// - a node with the wrong secret can neither deliver to nor receive from the cluster, in
//   either dialing direction; garbage, oversized frames and a skipped proof each close
//   only that connection, with a logged reason, while the node keeps serving its real
//   peers; a message claiming another node's id is dropped, counted and logged, and the
//   honest messages after it on the same link still arrive;
// - a link broken by a peer restart is redialled and delivery resumes;
// - the per-peer queue is bounded (oldest dropped) when the peer is unreachable.

import t from 'tap';
import { encodeFrames } from '../../../common/framing.js';
import { deriveKey } from '../../../common/keys.js';
import { encodeMessage } from '../../../raft/codec.js';
import { computeMac, decodeChallenge, encodeHello, encodeProof, newNonce } from '../../../raft/transport/handshake.js';
import { batchFrameBytesMax, peerQueueMessagesMax } from '../../../raft/transport/limits.js';
import { TcpRaftTransport } from '../../../raft/transport/tcp-transport.js';
import type { Message } from '../../../raft/types.js';
import { heartbeat, rawClient, recordingLogger, waitFor } from './helpers.js';

const SECRET = 'correct horse battery staple';

async function node(t: { teardown(fn: () => unknown): void }, id: string, opts: { secret?: string; peers?: Record<string, { host: string; port: number }>; port?: number } = {}) {
  const logger = recordingLogger();
  const transport = await TcpRaftTransport.listen({ id, host: '127.0.0.1', port: opts.port ?? 0, secret: opts.secret ?? SECRET, peers: opts.peers ?? {}, logger });
  t.teardown(() => transport.close());
  const got: { group: string; m: Message }[] = [];
  return { transport, logger, got, listen: (group: string) => transport.register(group, (m) => got.push({ group, m })) };
}

t.test('authenticated peers exchange messages for several groups, in order', async (t) => {
  const a = await node(t, 'a');
  const b = await node(t, 'b');
  a.transport.setPeer('b', { host: '127.0.0.1', port: b.transport.port });
  b.transport.setPeer('a', { host: '127.0.0.1', port: a.transport.port });
  a.listen('g1');
  b.listen('g1');
  b.listen('g2');
  for (let i = 0; i < 50; i++) a.transport.send(i % 2 ? 'g1' : 'g2', [heartbeat('a', 'b', i + 1)]);
  b.transport.send('g1', [heartbeat('b', 'a', 7, 'ctx')]);
  await waitFor(() => b.got.length === 50 && a.got.length === 1, 'delivery');
  t.same(b.got.map((x) => x.m.term), Array.from({ length: 50 }, (_, i) => i + 1), 'in send order');
  t.same(b.got.filter((x) => x.group === 'g1').length, 25, 'routed by group');
  t.same(a.got[0], { group: 'g1', m: heartbeat('b', 'a', 7, 'ctx') });
  t.equal(b.transport.inbound.rejected, 0);
});

t.test('a burst queued in one turn leaves in one socket write', async (t) => {
  const a = await node(t, 'a');
  const b = await node(t, 'b');
  a.transport.setPeer('b', { host: '127.0.0.1', port: b.transport.port });
  b.listen('g');
  a.transport.send('g', [heartbeat('a', 'b')]);
  await waitFor(() => b.got.length === 1, 'first message');
  const before = a.transport.peerStats().b!.writes;
  for (let i = 0; i < 300; i++) a.transport.send('g', [heartbeat('a', 'b', i)]);
  await waitFor(() => b.got.length === 301, 'burst');
  t.equal(a.transport.peerStats().b!.writes - before, 1, '300 messages, one write');
});

t.test('a turn sending more than batchFrameBytesMax to one peer leaves in several frames, in order', async (t) => {
  const a = await node(t, 'a');
  const b = await node(t, 'b');
  a.transport.setPeer('b', { host: '127.0.0.1', port: b.transport.port });
  b.listen('g');
  a.transport.send('g', [heartbeat('a', 'b')]);
  await waitFor(() => b.got.length === 1, 'link up');
  const before = a.transport.peerStats().b!;
  const data = new Uint8Array(1024 * 1024);
  const appends: Message[] = Array.from({ length: 6 }, (_, i) => ({ type: 'append', from: 'a', to: 'b', term: 2 + i, prevIndex: i, prevTerm: 1, commit: 0, entries: [{ term: 2, index: i + 1, kind: 'normal', timestampMs: 1, data }] }));
  for (const m of appends) a.transport.send('g', [m]);
  await waitFor(() => b.got.length === 7, 'six 1 MiB appends');
  const after = a.transport.peerStats().b!;
  t.equal(after.writes - before.writes, 1, 'one socket write');
  t.equal(after.frames - before.frames, Math.ceil((6 * (data.length + 64)) / batchFrameBytesMax), 'split into frames of at most batchFrameBytesMax');
  t.same(b.got.slice(1).map((x) => x.m.term), [2, 3, 4, 5, 6, 7], 'in order');
});

t.test('a node with the wrong secret can neither send in nor be sent to', async (t) => {
  const a = await node(t, 'a');
  const evil = await node(t, 'evil', { secret: 'guessed', peers: { a: { host: '127.0.0.1', port: a.transport.port } } });
  a.listen('g');
  evil.listen('g');
  a.transport.setPeer('evil', { host: '127.0.0.1', port: evil.transport.port });
  evil.transport.send('g', [heartbeat('evil', 'a')]);
  a.transport.send('g', [heartbeat('a', 'evil')]);
  await waitFor(() => a.transport.inbound.rejected >= 1 && evil.transport.inbound.rejected >= 1, 'both handshakes refused');
  t.same(a.got, [], 'nothing injected into a');
  t.same(evil.got, [], 'nothing leaked to evil');
  t.equal(a.transport.peerStats().evil!.connected, false);
  t.equal(evil.transport.peerStats().a!.connected, false);
  t.match(a.logger.warnings.join('\n'), /failed authentication/);
});

t.test('garbage, oversized frames and skipped proofs close only that connection', async (t) => {
  const a = await node(t, 'a');
  const b = await node(t, 'b');
  b.transport.setPeer('a', { host: '127.0.0.1', port: a.transport.port });
  a.listen('g');

  const garbage = await rawClient(a.transport.port);
  garbage.socket.write(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
  await garbage.closed;

  const huge = await rawClient(a.transport.port);
  huge.socket.write(Buffer.from([0x7f, 0xff, 0xff, 0xff]));
  await huge.closed;

  // a stranger says hello, gets a challenge, and sends a Raft frame instead of a proof
  const skipper = await rawClient(a.transport.port);
  skipper.send(encodeHello({ dialerId: 'b', dialerNonce: newNonce() }));
  await waitFor(() => skipper.frames.length === 1, 'challenge');
  skipper.send(encodeMessage('g', heartbeat('b', 'a', 99)));
  await skipper.closed;

  // a stranger with a forged proof
  const forger = await rawClient(a.transport.port);
  forger.send(encodeHello({ dialerId: 'b', dialerNonce: newNonce() }));
  await waitFor(() => forger.frames.length === 1, 'challenge');
  forger.send(encodeProof({ mac: new Uint8Array(32) }));
  forger.send(encodeMessage('g', heartbeat('b', 'a', 98)));
  await forger.closed;

  t.same(a.got, [], 'no stranger frame reached the group');
  t.equal(a.transport.inbound.rejected, 4);
  const log = a.logger.warnings.join('\n');
  t.match(log, /wrong|expected message 1/, 'garbage reason logged');
  t.match(log, /exceeds the maximum/, 'oversized reason logged');
  t.match(log, /expected message 3/, 'skipped proof logged');
  t.match(log, /failed authentication/, 'forged proof logged');

  b.transport.send('g', [heartbeat('b', 'a', 5)]);
  await waitFor(() => a.got.length === 1, 'the real peer still gets through');
  t.equal(a.got[0]!.m.term, 5);
});

t.test('an authenticated peer cannot speak for another node', async (t) => {
  const a = await node(t, 'a');
  a.listen('g');
  const c = await rawClient(a.transport.port);
  const nonce = newNonce();
  c.send(encodeHello({ dialerId: 'b', dialerNonce: nonce }));
  await waitFor(() => c.frames.length === 1, 'challenge');
  const ch = decodeChallenge(c.frames[0]!);
  t.equal(ch.listenerId, 'a');
  const mac = computeMac(deriveKey(SECRET, 'raft-peer'), { role: 'dialer', dialerId: 'b', listenerId: 'a', dialerNonce: nonce, listenerNonce: ch.listenerNonce });
  // the proof and a frame far above the handshake limit arrive in one TCP write
  const big: Message = { type: 'append', from: 'b', to: 'a', term: 1, prevIndex: 0, prevTerm: 0, commit: 0, entries: [{ term: 1, index: 1, kind: 'normal', timestampMs: 1, data: new Uint8Array(50_000) }] };
  c.socket.write(encodeFrames([encodeProof({ mac }), encodeMessage('g', big)]));
  await waitFor(() => a.got.length === 1, 'legit message');
  t.same(a.got[0]!.m, big, 'a large frame right after the proof is accepted');
  c.send(encodeMessage('g', heartbeat('c', 'a', 2)));
  c.send(encodeMessage('g', heartbeat('b', 'a', 3)));
  await waitFor(() => a.got.length === 2, 'the honest message after the forged one');
  t.same(a.got.map((x) => [x.m.from, x.m.term]), [['b', 1], ['b', 3]], 'only the honest messages got through');
  t.equal(a.transport.inbound.misrouted, 1, 'the forged one was counted');
  t.equal(a.transport.stats().misrouted, 1);
  t.match(a.logger.warnings.join('\n'), /claims sender c/);
});

t.test('delivery resumes after the peer restarts on the same port', async (t) => {
  const a = await node(t, 'a');
  const b1 = await node(t, 'b');
  const port = b1.transport.port;
  a.transport.setPeer('b', { host: '127.0.0.1', port });
  b1.listen('g');
  a.transport.send('g', [heartbeat('a', 'b', 1)]);
  await waitFor(() => b1.got.length === 1, 'first delivery');
  await b1.transport.close();
  await waitFor(() => !a.transport.peerStats().b!.connected, 'a notices the loss');
  const b2 = await node(t, 'b', { port });
  b2.listen('g');
  let term = 2;
  await waitFor(() => {
    a.transport.send('g', [heartbeat('a', 'b', term++)]);
    return b2.got.length > 0;
  }, 'delivery to the restarted peer');
  t.ok(a.transport.peerStats().b!.connects >= 2, 'a redialled');
});

t.test('the queue to an unreachable peer is bounded, dropping the oldest', async (t) => {
  const a = await node(t, 'a');
  const gone = await node(t, 'gone');
  const port = gone.transport.port;
  await gone.transport.close();
  a.transport.setPeer('gone', { host: '127.0.0.1', port });
  const extra = 100;
  for (let i = 0; i < peerQueueMessagesMax + extra; i++) a.transport.send('g', [heartbeat('a', 'gone', i)]);
  t.equal(a.transport.peerStats().gone!.dropped, extra);
  t.equal(a.transport.peerStats().gone!.connected, false);
});

t.test('an empty secret is refused', async (t) => {
  await t.rejects(TcpRaftTransport.listen({ id: 'x', host: '127.0.0.1', port: 0, secret: '', peers: {} }));
});
