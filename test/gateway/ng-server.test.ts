// Proves the gateway process speaks the ng protocol over UDP as a SIP node needs: ping →
// pong; offer rewrites c=/m= to the gateway and allocates two legs; answer does the same
// for the answer SDP with the other leg's port; query reports both legs and their tags;
// delete frees the ports (the next call can take them); list is paged; a retransmitted
// command (same cookie, raw datagram, signed with the gateway's key) gets the
// byte-identical reply and allocates nothing a second time;
// an exhausted port range and the session ceiling are error replies with a reason, which
// NgClient turns into typed errors; unknown commands are errors, and so are malformed
// datagrams to a gateway running with --ng-auth off (with a key they get silence).
// SIGTERM stops the process cleanly; bad flags exit 2 with usage. The gateway runs as a
// real child process, killed in teardown.

import { spawnSync } from 'node:child_process';
import dgram from 'node:dgram';
import t from 'tap';
import { GatewayErrorCode } from '../../gateway/errors.js';
import { parseNgMessage } from '../../gateway/ng-protocol.js';
import { NgClient } from '../../gateway/ng-client.js';
import { freePortRange, mediaPort, ngDatagram, sdp, spawnGateway, type GatewayHandle } from './helpers.js';

function client(t: { teardown(fn: () => void): void }, gw: GatewayHandle): NgClient {
  const c = new NgClient({ host: '127.0.0.1', port: gw.control, timeoutMs: 1000, retries: 2, ...(gw.key !== null ? { key: gw.key } : {}) });
  t.teardown(() => c.close());
  return c;
}

async function rawExchange(port: number, datagram: Buffer, copies: number): Promise<Buffer[]> {
  const s = dgram.createSocket('udp4');
  const replies: Buffer[] = [];
  const done = new Promise<void>((resolve) =>
    s.on('message', (m) => {
      replies.push(m);
      if (replies.length === copies) resolve();
    }),
  );
  for (let i = 0; i < copies; i++) s.send(datagram, port, '127.0.0.1');
  const timer = setTimeout(() => s.emit('message', Buffer.alloc(0)), 5000);
  await done;
  clearTimeout(timer);
  s.close();
  return replies;
}

t.test('offer, answer, query, delete, ping, list', async (t) => {
  const range = await freePortRange(20);
  const min = Number(range.split('-')[0]);
  const gw = await spawnGateway(t, ['--ports', range]);
  const ng = client(t, gw);
  await ng.ping();

  const offer = await ng.offer({ callId: 'call-1', fromTag: 'caller', sdp: sdp(7000, '192.0.2.1'), ice: 'remove' });
  t.match(offer.sdp, /^c=IN IP4 127\.0\.0\.1\r$/m, 'offer c= points at the gateway');
  const portB = mediaPort(offer.sdp);
  t.ok(portB >= min && portB % 2 === 0, 'an even port from the range');
  t.notMatch(offer.sdp, /^c=.*192\.0\.2\.1/m, 'the caller address is gone from c=');

  const answer = await ng.answer({ callId: 'call-1', fromTag: 'caller', toTag: 'agent', sdp: sdp(8000, '192.0.2.2') });
  const portA = mediaPort(answer.sdp);
  t.not(portA, portB, 'each leg has its own pair');
  t.match(answer.sdp, /^a=rtcp:\d+ IN IP4 127\.0\.0\.1\r$/m);

  const q = await ng.query({ callId: 'call-1' });
  t.equal(q.timedOut, false);
  t.same(q.legs.map((l) => [l.leg, l.tag, l.localPort]), [['A', 'caller', portA], ['B', 'agent', portB]]);
  t.ok(q.raw['tags'] && typeof q.raw['tags'] === 'object' && 'caller' in q.raw['tags'] && 'agent' in q.raw['tags'], 'rtpengine-ish tags');

  t.match(await ng.list(), { calls: ['call-1'], timedOut: [], portPairsInUse: 2, portPairsFree: 18 });
  await ng.delete({ callId: 'call-1', fromTag: 'caller' });
  await t.rejects(ng.query({ callId: 'call-1' }), { code: GatewayErrorCode.UNKNOWN_CALL });
  await t.rejects(ng.answer({ callId: 'nope', fromTag: 'a', toTag: 'b', sdp: sdp(1) }), { code: GatewayErrorCode.UNKNOWN_CALL });
  await t.rejects(ng.request({ command: 'frobnicate' }), { code: GatewayErrorCode.NG_UNKNOWN_COMMAND });
  await t.rejects(ng.offer({ callId: 'bad', fromTag: 'x', sdp: 'not sdp' }), { code: GatewayErrorCode.SDP_INVALID });
  t.match(await ng.list(), { calls: [], portPairsInUse: 0 }, 'a failed offer leaves no call and no ports behind');
  const again = await ng.offer({ callId: 'call-2', fromTag: 'c2', sdp: sdp(7002), flags: ['trust-address', 'whatever'] });
  t.ok(mediaPort(again.sdp) > 0, 'unknown flags are ignored');

  // Without authentication (rtpengine-style) a malformed body earns an error reply; with it,
  // silence (test/security/ng-auth.test.ts).
  const open = await spawnGateway(t, ['--ports', await freePortRange(2), '--ng-auth', 'off']);
  t.match(open.events[0], { event: 'listening', ngAuth: 'off' });
  const [malformed] = await rawExchange(open.control, Buffer.from('ck1 d7:command4:pi'), 1);
  t.match(parseNgMessage(malformed!).body, { result: 'error' }, 'a malformed body is answered with an error');
});

t.test('list is paged so every reply fits one datagram', async (t) => {
  const gw = await spawnGateway(t, ['--ports', await freePortRange(10)]);
  const ng = client(t, gw);
  for (const id of ['a', 'b', 'c']) await ng.offer({ callId: id, fromTag: 'f', sdp: sdp(7000) });
  const first = await ng.list({ limit: 2 });
  t.match(first, { calls: ['a', 'b'], callsTotal: 3 });
  t.match(await ng.list({ limit: 2, offset: 2 }), { calls: ['c'], callsTotal: 3 });
  await t.rejects(ng.list({ limit: 101 }), { code: GatewayErrorCode.NG_MALFORMED }, 'no page larger than ngListCallsMax');
});

t.test('a retransmitted command is answered from the cache', async (t) => {
  const gw = await spawnGateway(t, ['--ports', await freePortRange(20)]);
  const datagram = ngDatagram(gw.key, 'retx-1', { command: 'offer', 'call-id': 'r1', 'from-tag': 'f', sdp: sdp(7000) });
  const replies = await rawExchange(gw.control, datagram, 3);
  t.equal(replies.length, 3);
  t.ok(replies[1]!.equals(replies[0]!) && replies[2]!.equals(replies[0]!), 'identical replies');
  const ng = client(t, gw);
  t.match(await ng.list(), { calls: ['r1'], portPairsInUse: 2 }, 'one call, two pairs: the retransmissions allocated nothing');
  await ng.offer({ callId: 'r2', fromTag: 'f', sdp: sdp(7000) });
  t.match(await ng.list(), { portPairsInUse: 4 });
});

t.test('port exhaustion and the session ceiling', async (t) => {
  const gw = await spawnGateway(t, ['--ports', await freePortRange(4)]); // 4 pairs = 2 calls
  const ng = client(t, gw);
  await ng.offer({ callId: 'a', fromTag: 'f', sdp: sdp(7000) });
  await ng.offer({ callId: 'b', fromTag: 'f', sdp: sdp(7000) });
  await t.rejects(ng.offer({ callId: 'c', fromTag: 'f', sdp: sdp(7000) }), { code: GatewayErrorCode.PORTS_EXHAUSTED });
  const raw = await rawExchange(gw.control, ngDatagram(gw.key, 'x', { command: 'offer', 'call-id': 'c', 'from-tag': 'f', sdp: sdp(7000) }), 1);
  const body = parseNgMessage(raw[0]!).body;
  t.equal(body['result'], 'error');
  t.match(String(body['error-reason']), /no free port pair/);
  await ng.delete({ callId: 'a' });
  await ng.offer({ callId: 'c', fromTag: 'f', sdp: sdp(7000) });
  t.pass('deleting a call frees its ports');

  const capped = await spawnGateway(t, ['--ports', await freePortRange(10), '--max-sessions', '1']);
  const ng2 = client(t, capped);
  await ng2.offer({ callId: 'a', fromTag: 'f', sdp: sdp(7000) });
  await t.rejects(ng2.offer({ callId: 'b', fromTag: 'f', sdp: sdp(7000) }), { code: GatewayErrorCode.MAX_SESSIONS });
});

t.test('a client times out against a silent server', async (t) => {
  const silent = dgram.createSocket('udp4');
  let heard = 0;
  silent.on('message', () => heard++);
  await new Promise<void>((r) => silent.bind(0, '127.0.0.1', () => r()));
  t.teardown(() => silent.close());
  const ng = new NgClient({ host: '127.0.0.1', port: silent.address().port, timeoutMs: 50, retries: 2 });
  t.teardown(() => ng.close());
  await t.rejects(ng.ping(), { code: GatewayErrorCode.NG_TIMEOUT });
  t.equal(heard, 3, 'one send and two retransmissions');
});

t.test('process lifecycle', async (t) => {
  const gw = await spawnGateway(t, ['--ports', await freePortRange(4)]);
  const exited = new Promise<number | null>((r) => gw.child.once('exit', (code) => r(code)));
  gw.child.kill('SIGTERM');
  t.equal(await exited, 0, 'SIGTERM exits 0');
  t.same(gw.events.at(-1), { event: 'stopped' });
  const bad = spawnSync(process.execPath, ['--import', 'tsx', 'gateway/gateway-process.ts', '--latching', 'sometimes'], { encoding: 'utf8', timeout: 30_000 });
  t.equal(bad.status, 2);
  t.match(bad.stderr, /--latching must be one of strict, latch-any/);
});
