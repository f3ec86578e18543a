// Proves the ng control listener's input handling is total: fuzzFramesPerListener()
// datagrams — noise, and mutations of valid ng commands both signed with the gateway's key
// and unsigned — are thrown at a real gateway process (gateway/gateway-process.ts on
// 127.0.0.1, port 0, killed in teardown) from several sockets, in batches, without waiting
// for replies (a signed ping after each batch keeps the kernel from dropping them). Afterwards the process has not exited, a signed ping is answered, the call
// set up before the barrage is still there and relays RTP, and only signed, well-formed
// datagrams ever earned a reply (nothing unsigned is answered, whatever its bytes). A
// quarter of the datagrams are hostile command bodies correctly signed, so the command
// handlers behind authentication get fuzzed too.

import dgram from 'node:dgram';
import t from 'tap';
import fc from 'fast-check';
import type { BDict, BValue } from '../../gateway/bencode.js';
import { verifyNg } from '../../gateway/ng-auth.js';
import { NgClient } from '../../gateway/ng-client.js';
import { parseNgMessage } from '../../gateway/ng-protocol.js';
import { Endpoint, eventually, freePortRange, mediaPort, ngDatagram, rtpPacket, sdp, spawnGateway } from '../gateway/helpers.js';
import { fuzzFramesPerListener, hostileBytes, samples } from '../support/fuzz.js';

const SOCKETS = 4;

const { bvalue } = fc.letrec<{ bvalue: BValue }>((tie) => ({
  bvalue: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.string({ maxLength: 40 }),
    fc.integer({ min: -1e6, max: 1e6 }),
    fc.constantFrom(sdp(7000), sdp(0, '0.0.0.0'), 'v=0\r\nm=audio 1 RTP/AVP 0\r\n', ''),
    fc.array(tie('bvalue'), { maxLength: 4 }),
    fc.dictionary(fc.string({ maxLength: 8 }), tie('bvalue'), { maxKeys: 4 }),
  ),
}));
const hostileBody: fc.Arbitrary<BDict> = fc
  .tuple(
    fc.constantFrom('ping', 'offer', 'answer', 'delete', 'query', 'list', 'statistics', 'frobnicate'),
    fc.dictionary(fc.constantFrom('call-id', 'from-tag', 'to-tag', 'sdp', 'flags', 'replace', 'ICE', 'offset', 'limit', '__proto__', 'auth-ts'), bvalue, { maxKeys: 6 }),
    fc.constantFrom('fz', 'x', ''), // never 'kept': a signed delete of it would be legitimate
  )
  .map(([command, rest, callId]) => ({ 'call-id': callId, 'from-tag': 'a', ...rest, command }) as BDict);
const BATCH = 64;

t.test('random and mutated ng datagrams neither stop nor confuse the gateway', async (t) => {
  const gw = await spawnGateway(t, ['--ports', await freePortRange(64), '--max-sessions', '32']);
  const key = gw.key!;
  const ng = new NgClient({ host: '127.0.0.1', port: gw.control, timeoutMs: 1000, retries: 4, key });
  t.teardown(() => ng.close());
  const caller = await Endpoint.open(t);
  const agent = await Endpoint.open(t);
  const offer = await ng.offer({ callId: 'kept', fromTag: 'caller', sdp: sdp(caller.port) });
  const answer = await ng.answer({ callId: 'kept', fromTag: 'caller', toTag: 'agent', sdp: sdp(agent.port) });

  const commands: BDict[] = [
    { command: 'ping' },
    { command: 'list', limit: 5 },
    { command: 'query', 'call-id': 'kept' },
    { command: 'offer', 'call-id': 'fz', 'from-tag': 'a', sdp: sdp(7000), flags: ['trust-address'], replace: ['origin'] },
    { command: 'answer', 'call-id': 'fz', 'from-tag': 'a', 'to-tag': 'b', sdp: sdp(7002) },
    { command: 'delete', 'call-id': 'fz' },
    { command: 'statistics' },
  ];
  const valid: Buffer[] = [];
  commands.forEach((c, i) => {
    valid.push(ngDatagram(key, `sig-${i}`, c), ngDatagram(null, `plain-${i}`, c));
  });
  // A quarter of the frames are correctly signed commands with hostile bodies: they pass
  // authentication and reach the command handlers (offer, answer, list paging, ...).
  const total = fuzzFramesPerListener();
  const signedBodies = samples(hostileBody, Math.floor(total / 4));
  const frames: Uint8Array[] = [
    ...samples(hostileBytes(valid), total - signedBodies.length),
    ...signedBodies.map((b, i) => ngDatagram(key, `hb-${i}`, b)),
  ];
  for (let i = frames.length - 1; i > 0; i--) {
    const j = (i * 7919) % (i + 1); // a fixed shuffle: repeatable runs
    [frames[i], frames[j]] = [frames[j]!, frames[i]!];
  }

  const sockets = await Promise.all(
    Array.from({ length: SOCKETS }, async () => {
      const s = dgram.createSocket('udp4');
      const replies: Buffer[] = [];
      s.on('message', (m) => replies.push(m));
      s.on('error', () => undefined); // ICMP errors and full buffers are not what we test
      await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
      t.teardown(() => s.close());
      return { s, replies };
    }),
  );
  for (let i = 0; i < frames.length; i += BATCH) {
    await Promise.all(
      frames.slice(i, i + BATCH).map(
        (f, j) => new Promise<void>((r) => sockets[(i + j) % SOCKETS]!.s.send(f, gw.control, '127.0.0.1', () => r())),
      ),
    );
    // Flow control: the ping queues behind the batch on the control socket, so its answer
    // means the batch was read (a burst bigger than the socket buffer would be dropped by
    // the kernel instead of reaching the parser).
    await ng.ping();
  }

  await ng.ping();
  t.equal(gw.child.exitCode, null, 'the gateway process is still running');
  t.equal(gw.child.signalCode, null);
  const l = await ng.list({ limit: 100 });
  t.ok(l.calls.includes('kept'), 'the call set up before the barrage is still there');
  await caller.send(rtpPacket(1), mediaPort(answer.sdp));
  await eventually(() => (agent.received.length === 1 ? true : undefined));
  await agent.send(rtpPacket(1, 0xbbbb), mediaPort(offer.sdp));
  await eventually(() => (caller.received.length === 1 ? true : undefined));
  t.pass('and still relays both ways');

  const replies = sockets.flatMap((x) => x.replies);
  const unsigned = replies.filter((r) => {
    try {
      const { cookie, body } = parseNgMessage(r);
      return verifyNg(key, 'ng-reply', cookie, body, 0) !== 'ok';
    } catch {
      return true;
    }
  });
  t.ok(replies.length > 0, 'signed commands were answered');
  t.equal(unsigned.length, 0, `every reply (${replies.length}) is a signed answer to a signed command`);
  const stats = (await ng.request({ command: 'statistics' }))['control'] as Record<string, number>;
  t.comment(JSON.stringify(stats));
  t.ok(stats['droppedMalformed']! + stats['droppedUnsigned']! + stats['droppedBadSignature']! > 0, 'the barrage was counted as dropped');
});
