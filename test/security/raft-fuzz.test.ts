// Threat: the Raft peer listener is reachable by anyone on the network, and by a peer
// that knows the secret but sends damaged frames (a bug, a bit flip, a compromised
// host); an exception escaping the decoder would end the replica. Proves, against a real
// TcpRaftTransport on 127.0.0.1 port 0:
// - before authentication: fuzzFramesPerListener() hostile frames (noise, and mutations
//   of valid Raft frames) over many raw connections;
// - after authentication: as many hostile frames again, injected into links that a
//   genuine dialer (a second TcpRaftTransport, through a relay the test controls) has
//   authenticated — the relay only forwards the handshake, it never sees the secret, so
//   this test does not depend on how the handshake works;
// and afterwards a third transport that knows the secret still connects and delivers a
// message, and no exception escaped (tap fails the file on one). Messages delivered from
// damaged-but-decodable frames reach the group handler, which must cope anyway.
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import fc from 'fast-check';
import t from 'tap';
import { encodeFrame, encodeFrames } from '../../common/framing.js';
import { encodeBatchFrame, encodeItem, encodeMessage, encodePingFrame } from '../../raft/codec.js';
import { TcpRaftTransport } from '../../raft/transport/tcp-transport.js';
import type { Message } from '../../raft/types.js';
import { fuzzFramesPerListener, hostileBytes, mutated } from '../support/fuzz.js';

const frames = fuzzFramesPerListener();
const framesPerConnection = 10;
const concurrency = 32;
const chunk = 2000;

const entry = (index: number, bytes: number) => ({ term: 2, index, kind: 'normal' as const, timestampMs: 1_700_000_000_000 + index, data: new Uint8Array(randomBytes(bytes)) });
const validMessages = (from: string, to: string): Message[] => [
  { type: 'heartbeat', from, to, term: 2, commit: 3, context: 'ctx' },
  { type: 'append', from, to, term: 2, prevIndex: 3, prevTerm: 1, commit: 3, entries: [entry(4, 40), entry(5, 200)] },
  { type: 'vote', from, to, term: 3, lastLogIndex: 5, lastLogTerm: 2, transfer: false },
  { type: 'preVote', from, to, term: 3, lastLogIndex: 5, lastLogTerm: 2, transfer: true },
  { type: 'appendResp', from, to, term: 2, reject: true, index: 5, hintIndex: 3, hintTerm: 1 },
  { type: 'heartbeatResp', from, to, term: 2, context: 'ctx' },
  { type: 'voteResp', from, to, term: 3, reject: false },
];

/** `count` hostile frames, drawn in chunks from the run's seed plus `salt`. */
function* hostileFrames(valid: readonly Uint8Array[], count: number, salt: number): Generator<Uint8Array[]> {
  const framed = valid.map((p) => new Uint8Array(encodeFrame(p)));
  // Mostly length-prefixed payloads (noise or damaged messages), so the decoder gets
  // past the header; some raw bytes, damaged headers included.
  const one = fc.oneof({ weight: 4, arbitrary: hostileBytes(valid).map((p) => new Uint8Array(encodeFrame(p))) }, { weight: 1, arbitrary: mutated(framed) });
  for (let done = 0, round = 0; done < count; round++) {
    const n = Math.min(chunk, count - done);
    done += n;
    yield fc.sample(one, { numRuns: n, seed: 4242 + salt * 7919 + round });
  }
}

function waitClosed(socket: net.Socket): Promise<void> {
  return new Promise((resolve) => {
    if (socket.destroyed) resolve();
    else socket.once('close', () => resolve());
  });
}

async function waitFor(what: string, cond: () => boolean): Promise<void> {
  // A hang guard, not a measurement.
  for (let i = 0; !cond(); i++) {
    if (i > 2000) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

t.test(`a Raft listener takes ${frames} hostile frames before and ${frames} after authentication`, { timeout: 0 }, async (t) => {
  const secret = randomBytes(32).toString('hex');
  const received: { from: string; context: string | null }[] = [];
  /** Heartbeat contexts delivered (how a dialer knows its relayed link is authenticated). */
  const seen = new Set<string>();
  const a = await TcpRaftTransport.listen({ id: 'a', host: '127.0.0.1', port: 0, secret, peers: {} });
  t.teardown(() => a.close());
  a.register('g', (m) => {
    if (m.type === 'heartbeat') seen.add(m.context);
    if (received.length < 100_000) received.push({ from: m.from, context: m.type === 'heartbeat' ? m.context : null });
  });
  const valid = [
    ...validMessages('b0', 'a').map((m) => encodeMessage('g', m)),
    encodeMessage('other-group', validMessages('b0', 'a')[0]!),
    encodeMessage('g', validMessages('x', 'a')[0]!),
    // what stores send: every message of a turn in one batch frame, and liveness pings
    encodeBatchFrame(validMessages('b0', 'a').map((m, i) => encodeItem(i % 2 ? 'g' : 'other-group', m))),
    encodeBatchFrame([encodeItem('g', { type: 'heartbeat', from: 'b0', to: 'a', term: 2, commit: 3, context: '', quiesce: true })]),
    encodePingFrame(),
  ];

  // 1. Strangers: raw connections, framesPerConnection hostile frames each.
  let sentBefore = 0;
  for (const batch of hostileFrames(valid, frames, 1)) {
    const groups: Uint8Array[][] = [];
    for (let i = 0; i < batch.length; i += framesPerConnection) groups.push(batch.slice(i, i + framesPerConnection));
    let next = 0;
    await Promise.all(Array.from({ length: concurrency }, async () => {
      while (next < groups.length) {
        const group = groups[next++]!;
        const s = net.connect({ host: '127.0.0.1', port: a.port });
        s.on('error', () => {});
        s.on('data', () => {});
        s.once('connect', () => s.end(Buffer.concat(group)));
        await waitClosed(s);
        sentBefore += group.length;
      }
    }));
  }
  t.equal(sentBefore, frames, `${frames} frames sent before authentication`);
  t.equal(received.length, 0, 'no stranger got a message delivered');

  // 2. Authenticated links: each dialer reaches a through a relay on two ports (switching
  // its peer address between them makes it redial at once instead of backing off), and
  // several dialers work at once, so the run waits on reconnects less.
  type Link = { inject(bytes: Uint8Array): Promise<void> };
  const dialers = 8;
  let sentAfter = 0;
  let links = 0;
  const startDialer = async (k: number): Promise<{ run(group: Uint8Array[]): Promise<void> }> => {
    let current: Link | null = null;
    const relays = await Promise.all([0, 1].map(() => new Promise<net.Server>((resolve) => {
      const server = net.createServer((down) => {
        const up = net.connect({ host: '127.0.0.1', port: a.port });
        let injecting = false;
        down.on('data', (d) => { if (!injecting) up.write(d); });
        up.on('data', (d) => { if (!injecting) down.write(d); });
        for (const s of [up, down]) {
          s.on('error', () => {});
          s.on('close', () => { up.destroy(); down.destroy(); });
        }
        current = {
          inject: async (bytes) => {
            injecting = true;
            up.end(bytes);
            await waitClosed(up);
          },
        };
      });
      server.listen(0, '127.0.0.1', () => resolve(server));
    })));
    t.teardown(() => { for (const r of relays) r.close(); });
    const relayPort = (i: number): number => (relays[i % 2]!.address() as net.AddressInfo).port;
    const id = `b${k}`;
    const b = await TcpRaftTransport.listen({ id, host: '127.0.0.1', port: 0, secret, peers: { a: { host: '127.0.0.1', port: relayPort(0) } } });
    t.teardown(() => b.close());
    let cycle = 0;
    return {
      async run(group) {
        cycle++;
        current = null;
        b.setPeer('a', { host: '127.0.0.1', port: relayPort(cycle) });
        const context = `${id}-cycle-${cycle}`;
        // The heartbeat arriving proves this link through the relay is authenticated. It
        // is re-sent while waiting: one written into the link being torn down is lost, as
        // Raft allows.
        let polls = 0;
        await waitFor(`${id}'s heartbeat ${context}`, () => {
          if (polls++ % 10 === 0) b.send('g', [{ type: 'heartbeat', from: id, to: 'a', term: 2, commit: 0, context }]);
          return seen.has(context) && current !== null;
        });
        seen.delete(context);
        await (current as Link | null)!.inject(Buffer.concat(group));
        links++;
        sentAfter += group.length;
      },
    };
  };
  const pool = await Promise.all(Array.from({ length: dialers }, (_, k) => startDialer(k)));
  for (const batch of hostileFrames(valid, frames, 2)) {
    const groups: Uint8Array[][] = [];
    for (let i = 0; i < batch.length; i += framesPerConnection) groups.push(batch.slice(i, i + framesPerConnection));
    let next = 0;
    await Promise.all(pool.map(async (d) => {
      while (next < groups.length) await d.run(groups[next++]!);
    }));
    received.length = 0;
  }
  t.equal(sentAfter, frames, `${frames} frames injected into ${links} authenticated links`);

  // 3. A genuine peer still gets through, straight to the listener.
  const c = await TcpRaftTransport.listen({ id: 'c', host: '127.0.0.1', port: 0, secret, peers: { a: { host: '127.0.0.1', port: a.port } } });
  t.teardown(() => c.close());
  c.send('g', [{ type: 'heartbeat', from: 'c', to: 'a', term: 2, commit: 0, context: 'after the barrage' }]);
  await waitFor('c\'s heartbeat', () => seen.has('after the barrage'));
  t.pass('a genuine peer connects and delivers a message after the barrage');
  t.ok(a.inbound.rejected > 0, `the listener closed hostile connections (${a.inbound.rejected} rejected, ${a.inbound.authenticated} authenticated)`);
});
