// Proves the gateway's ng control port serves only holders of the ng key, attacking a real
// gateway process (gateway/gateway-process.ts, killed in teardown) on 127.0.0.1 from plain
// UDP sockets, as a stranger on the network would:
// - unsigned `list`, `query`, `delete`, `offer`, `ping`, a body signed with another key,
//   and noise get no reply at all (no amplification, no oracle) and change nothing: the
//   call still relays RTP both ways and no port pair was taken; the drops are counted;
// - a captured signed command replayed — from another address, from the same address after
//   the call it made was deleted, or with a stale timestamp — runs nothing again;
// - a signed command works, and `delete` of an unknown call answers ok with a warning;
// - the optional allow-list drops even signed commands from other addresses;
// - the process refuses to start without a key, with a world-readable key file, or with
//   the control socket on a wildcard address.

import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync } from 'node:fs';
import t from 'tap';
import type { BDict } from '../../gateway/bencode.js';
import { NgClient } from '../../gateway/ng-client.js';
import { parseNgMessage } from '../../gateway/ng-protocol.js';
import { Endpoint, eventually, freePortRange, mediaPort, ngDatagram, portRange, rtpPacket, sdp, sleep, spawnGateway, type GatewayHandle, writeNgKeyFile } from '../gateway/helpers.js';

type Tap = { teardown(fn: () => void | Promise<void>): void };

function signedClient(t: Tap, gw: GatewayHandle): NgClient {
  const ng = new NgClient({ host: '127.0.0.1', port: gw.control, timeoutMs: 1000, retries: 2, key: gw.key! });
  t.teardown(() => ng.close());
  return ng;
}

/** Replies `from` has received, decoded. */
const bodies = (e: Endpoint): BDict[] => e.received.map((r) => parseNgMessage(r.data).body);

async function statistics(ng: NgClient): Promise<Record<string, number>> {
  return (await ng.request({ command: 'statistics' }))['control'] as Record<string, number>;
}

/** A gateway with one call c1 whose two legs relay RTP between caller and agent. */
async function callUp(t: Tap, extra: string[] = []) {
  const gw = await spawnGateway(t, ['--ports', await freePortRange(6), ...extra]);
  const ng = signedClient(t, gw);
  const caller = await Endpoint.open(t);
  const agent = await Endpoint.open(t);
  const offer = await ng.offer({ callId: 'c1', fromTag: 'caller', sdp: sdp(caller.port) });
  const answer = await ng.answer({ callId: 'c1', fromTag: 'caller', toTag: 'agent', sdp: sdp(agent.port) });
  return { gw, ng, caller, agent, portA: mediaPort(answer.sdp), portB: mediaPort(offer.sdp) };
}

t.test('a stranger without the key gets no reply and changes nothing', async (t) => {
  const c = await callUp(t);
  const before = await c.ng.list();
  const stranger = await Endpoint.open(t);
  const otherKey = randomBytes(32);
  const attacks: Buffer[] = [
    ngDatagram(null, 's1', { command: 'list' }),
    ngDatagram(null, 's2', { command: 'query', 'call-id': 'c1' }),
    ngDatagram(null, 's3', { command: 'delete', 'call-id': 'c1' }),
    ngDatagram(null, 's4', { command: 'offer', 'call-id': 'c1', 'from-tag': 'caller', sdp: sdp(9, '192.0.2.66') }),
    ngDatagram(null, 's5', { command: 'offer', 'call-id': 'new', 'from-tag': 'x', sdp: sdp(9) }),
    ngDatagram(null, 's6', { command: 'ping' }),
    ngDatagram(otherKey, 's7', { command: 'delete', 'call-id': 'c1' }),
    ngDatagram(otherKey, 's8', { command: 'list' }),
    Buffer.from('s9 d7:command4:pi'),
    Buffer.from('s10 d7:command4:list4:auth64:' + '0'.repeat(64) + 'e'),
  ];
  for (const a of attacks) await stranger.send(a, c.gw.control);
  await eventually(async () => ((await statistics(c.ng))['droppedUnsigned']! >= 6 ? true : undefined));
  await sleep(200); // an absence of replies can only be waited for
  t.equal(stranger.received.length, 0, 'not one byte came back to the stranger');

  const stats = await statistics(c.ng);
  t.equal(stats['droppedUnsigned'], 6, 'unsigned commands counted');
  t.equal(stats['droppedBadSignature'], 3, 'commands signed with another key (or a forged auth) counted');
  t.equal(stats['droppedMalformed'], 1, 'a malformed datagram counted');
  t.same(await c.ng.list(), before, 'the same call, the same ports');
  const q = await c.ng.query({ callId: 'c1' });
  t.same(q.legs[0]!.tag, 'caller');

  await c.caller.send(rtpPacket(1), c.portA);
  await eventually(() => (c.agent.received.length === 1 ? true : undefined));
  await c.agent.send(rtpPacket(1, 0xbbbb), c.portB);
  await eventually(() => (c.caller.received.length === 1 ? true : undefined));
  t.pass('the call still relays both ways');
});

t.test('a replayed signed command is refused', async (t) => {
  const c = await callUp(t);
  const legit = await Endpoint.open(t);
  const offer = ngDatagram(c.gw.key, 'captured-1', { command: 'offer', 'call-id': 'r1', 'from-tag': 'f', sdp: sdp(legit.port) });
  await legit.send(offer, c.gw.control);
  await eventually(() => (legit.received.length === 1 ? true : undefined));
  t.match(bodies(legit)[0], { result: 'ok' }, 'the signed offer works');
  t.same((await c.ng.list()).calls.sort(), ['c1', 'r1']);
  await c.ng.delete({ callId: 'r1' });

  // The attacker captured the datagram and sends it from its own address.
  const attacker = await Endpoint.open(t);
  await attacker.send(offer, c.gw.control);
  // ... and spoofs the legitimate source (here: sends from the very same socket).
  await legit.send(offer, c.gw.control);
  await eventually(() => (legit.received.length === 2 ? true : undefined));
  t.ok(legit.received[1]!.data.equals(legit.received[0]!.data), 'the same source only gets the cached reply, byte for byte');
  // A stale signed command (its timestamp a minute old), never seen before.
  const stale = ngDatagram(c.gw.key, 'old-1', { command: 'delete', 'call-id': 'c1' }, Date.now() - 60_000);
  await attacker.send(stale, c.gw.control);
  await eventually(async () => ((await statistics(c.ng))['droppedStale'] === 1 ? true : undefined));
  await sleep(200); // an absence of replies can only be waited for
  t.equal(attacker.received.length, 0, 'the attacker got nothing back');
  const stats = await statistics(c.ng);
  t.equal(stats['droppedReplay'], 1, 'the replay from another address counted');
  t.same((await c.ng.list()).calls, ['c1'], 'the deleted call did not come back, c1 was not deleted');
});

t.test('signed commands work; delete of an unknown call answers ok with a warning', async (t) => {
  const c = await callUp(t);
  await c.ng.ping();
  const r = await c.ng.delete({ callId: 'no-such-call' });
  t.equal(r['result'], 'ok');
  t.match(String(r['warning']), /not found/);
  t.same((await c.ng.list()).calls, ['c1'], 'nothing else deleted');
  const del = await c.ng.delete({ callId: 'c1' });
  t.match(del, { result: 'ok', legs: [{ leg: 'A' }, { leg: 'B' }] }, 'a known call gets its final report');
  const again = await c.ng.delete({ callId: 'c1' });
  t.match(again, { result: 'ok', warning: /not found/ }, 'a repeated delete is ok too');
});

t.test('the allow-list drops signed commands from other addresses', async (t) => {
  const gw = await spawnGateway(t, ['--ports', await freePortRange(2), '--ng-allow', '127.0.0.2']);
  const outsider = await Endpoint.open(t, '127.0.0.1');
  const insider = await Endpoint.open(t, '127.0.0.2');
  await outsider.send(ngDatagram(gw.key, 'p1', { command: 'ping' }), gw.control);
  await insider.send(ngDatagram(gw.key, 'p2', { command: 'ping' }), gw.control);
  await eventually(() => (insider.received.length === 1 ? true : undefined));
  t.match(bodies(insider)[0], { result: 'pong' });
  await insider.send(ngDatagram(gw.key, 'p3', { command: 'statistics' }), gw.control);
  await eventually(() => (insider.received.length === 2 ? true : undefined));
  t.match(bodies(insider)[1], { control: { droppedNotAllowed: 1 } });
  t.equal(outsider.received.length, 0, 'a signed ping from outside the list is dropped');
});

t.test('the process refuses to start unkeyed, with a readable key file, or on a wildcard address', async (t) => {
  const run = (args: string[]) =>
    spawnSync(process.execPath, ['--import', 'tsx', 'gateway/gateway-process.ts', '--control', '127.0.0.1:0', '--ports', portRange(2), ...args], { encoding: 'utf8', timeout: 30_000 });
  const noKey = run([]);
  t.equal(noKey.status, 2);
  t.match(noKey.stderr, /--ng-key-file PATH is required \(or --ng-auth off/);
  const { file } = writeNgKeyFile(t);
  chmodSync(file, 0o644);
  const readable = run(['--ng-key-file', file]);
  t.equal(readable.status, 2);
  t.match(readable.stderr, /accessible to every user \(mode 644\); chmod 600 it/);
  chmodSync(file, 0o600);
  const wildcard = run(['--ng-key-file', file, '--control', '0.0.0.0:0']);
  t.equal(wildcard.status, 2);
  t.match(wildcard.stderr, /--control: bind the ng control socket to one interface address, not 0\.0\.0\.0/);
});
