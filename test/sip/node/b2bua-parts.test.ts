// Proves the B2BUA's parts below the call control without sockets, on a FakeClock: the
// dialog table (a leg registered twice is an assertion; an ended leg is still found for
// endedLegKeepMs and then forgotten), the call phase table (allowed moves pass, a move
// from an impossible phase is an assertion), the grant commands (release retried with
// backoff until the shard answers; confirm retried while the TTL lasts and the call wants
// it, refused → false), the pure leg builders (caller leg from an INVITE, agent leg and
// INVITE, Contact per transport, an ACK with an SDP answer) and clock.every().

import t from 'tap';
import { silentLogger } from '../../../common/logger.js';
import type { Command, ShardResult } from '../../../shards/types.js';
import { getHeader } from '../../../sip/syntax/index.js';
import type { SipRequest } from '../../../sip/syntax/index.js';
import { FakeClock, type SipTransport } from '../../../sip/transport/index.js';
import { moveTo, newCall, type Call, type CallPhase } from '../../../sip/node/call.js';
import { backoffMs, every } from '../../../sip/node/clock.js';
import { targetOfUri, type DialogLeg } from '../../../sip/node/dialog.js';
import { DialogTable, isEnded, legKey } from '../../../sip/node/dialog-table.js';
import { Grants } from '../../../sip/node/grants.js';
import { agentInvite, agentLegOf, callerLegOf, contactOn, transportFor, withAnswer } from '../../../sip/node/leg-messages.js';

const invite: SipRequest = {
  kind: 'request',
  method: 'INVITE',
  uri: 'sip:100@ringfence.test',
  headers: [
    { name: 'Via', value: 'SIP/2.0/UDP 10.0.0.9:5060;branch=z9hG4bK-1' },
    { name: 'From', value: '"Ann" <sip:ann@caller.test>;tag=a1' },
    { name: 'To', value: '<sip:100@ringfence.test>' },
    { name: 'Call-ID', value: 'c-1' },
    { name: 'CSeq', value: '7 INVITE' },
    { name: 'Contact', value: '<sip:ann@10.0.0.9:5060>' },
    { name: 'Record-Route', value: '<sip:proxy.test;lr>' },
  ],
  body: new Uint8Array([1]),
};

function call(phase: CallPhase = 'routing'): Call {
  const c = newCall({
    inviteTx: { id: 'tx-1' } as Call['inviteTx'], invite, service: { number: '100', skill: 'sales', minLevel: 1 } as Call['service'], from: 'sip:ann@caller.test',
    callerLeg: callerLegOf(invite, 'our1'), callerTarget: null, startedAtMs: 0, startedAt: new Date(0),
  });
  c.phase = phase;
  return c;
}

t.test('dialog table', async (t) => {
  const clock = new FakeClock(1000);
  const table = new DialogTable({ timers: clock, endedLegKeepMs: 32_000 });
  const c = call();
  table.add({ call: c, side: 'caller', leg: c.callerLeg });
  t.throws(() => table.add({ call: c, side: 'caller', leg: c.callerLeg }), { code: 'ERR_ASSERTION' }, 'registered twice');
  const key = legKey(c.callerLeg);
  t.equal(key, 'c-1\nour1');
  t.notOk(isEnded(table.get(key)!), 'live');
  table.end(key, 'caller');
  t.ok(isEnded(table.get(key)!), 'ended, still known');
  table.end('unknown\nkey', 'agent');
  t.equal(table.get('unknown\nkey'), undefined, 'ending an unknown leg remembers nothing');
  clock.advance(31_999);
  table.forgetEnded();
  t.ok(table.get(key), 'kept for endedLegKeepMs');
  clock.advance(1);
  table.forgetEnded();
  t.equal(table.get(key), undefined, 'then forgotten');
  t.equal(table.size, 0);
});

t.test('call phases', async (t) => {
  const allowed: [CallPhase, CallPhase][] = [
    ['routing', 'queued'], ['routing', 'ringing'], ['routing', 'ended'], ['queued', 'routing'], ['queued', 'ended'],
    ['ringing', 'routing'], ['ringing', 'connecting'], ['ringing', 'ended'], ['connecting', 'answered'], ['connecting', 'ended'], ['answered', 'ended'],
  ];
  for (const [from, to] of allowed) {
    const c = call(from);
    moveTo(c, to);
    t.equal(c.phase, to, `${from} → ${to}`);
  }
  const refused: [CallPhase, CallPhase][] = [['ended', 'routing'], ['answered', 'answered'], ['answered', 'routing'], ['routing', 'answered'], ['queued', 'ringing'], ['ended', 'ended']];
  for (const [from, to] of refused) t.throws(() => moveTo(call(from), to), { code: 'ERR_ASSERTION' }, `${from} → ${to} is a bug`);
});

t.test('grants: release retries with backoff until the shard answers', async (t) => {
  const clock = new FakeClock(0);
  const sent: Command[] = [];
  let failures = 3;
  const shards = {
    async command(_dn: string, cmd: Command): Promise<ShardResult> {
      sent.push(cmd);
      if (failures-- > 0) throw new Error('timeout');
      return { ok: true, type: 'released' } as unknown as ShardResult;
    },
  };
  const grants = new Grants({ shards, log: silentLogger, timers: clock, closed: () => false });
  let done = false;
  void grants.release('1001', 'r1', 'completed').then(() => { done = true; });
  const settle = () => new Promise((r) => setImmediate(r));
  await settle();
  t.equal(sent.length, 1);
  for (const waitMs of [100, 200, 400]) {
    clock.advance(waitMs - 1);
    await settle();
    const before = sent.length;
    clock.advance(1);
    await settle();
    t.equal(sent.length, before + 1, `retried after ${waitMs} ms`);
  }
  t.ok(done, 'released');
  t.same(sent[0], { type: 'release', dn: '1001', reservationId: 'r1', outcome: 'completed' });
  await t.rejects(grants.release('1001', '', 'failed'), { code: 'ERR_ASSERTION' }, 'a release without a reservation id is a bug');
});

t.test('grants: confirm', async (t) => {
  const clock = new FakeClock(0);
  const answers: ('throw' | 'ok' | 'refused')[] = ['throw', 'ok', 'refused'];
  const shards = {
    async command(): Promise<ShardResult> {
      const a = answers.shift();
      if (a === 'throw') throw new Error('no leader');
      return (a === 'ok' ? { ok: true, type: 'confirmed' } : { ok: false, code: 'SHARD_ERR_STALE_RESERVATION', reason: 'the agent holds another reservation' }) as ShardResult;
    },
  };
  const grants = new Grants({ shards, log: silentLogger, timers: clock, closed: () => false });
  const grant = { dn: '1001', reservationId: 'r1', expiresAtMs: 20_000 };
  const p = grants.confirm(grant, 'c-1', () => true);
  await new Promise((r) => setImmediate(r));
  clock.advance(50);
  t.equal(await p, true, 'confirmed after one unknown outcome');
  t.equal(await grants.confirm(grant, 'c-1', () => true), false, 'refused');
  clock.advance(20_000);
  t.equal(await grants.confirm(grant, 'c-1', () => true), false, 'TTL over: not even tried');
  answers.push('throw');
  t.equal(await grants.confirm({ ...grant, expiresAtMs: 50_000 }, 'c-1', () => false), false, 'the call no longer wants it: no retry');
});

t.test('leg builders', async (t) => {
  const leg = callerLegOf(invite, 'our1');
  t.same(leg, {
    callId: 'c-1', localTag: 'our1', localHeader: '<sip:100@ringfence.test>;tag=our1', remoteHeader: '"Ann" <sip:ann@caller.test>;tag=a1',
    remoteTarget: 'sip:ann@10.0.0.9:5060', routeSet: ['sip:proxy.test;lr'], localCseq: 0,
  } satisfies DialogLeg);
  const target = { protocol: 'TCP' as const, host: '10.0.0.5', port: 5070 };
  const agent = agentLegOf({ callerLeg: leg, dn: '1001', target, contactUri: 'sip:agent@10.0.0.5:5070;transport=tcp', callId: 'a-1', localTag: 'our2' });
  t.equal(agent.remoteHeader, '<sip:1001@10.0.0.5>');
  t.match(agent.localHeader, /^"Ann" <sip:ann@caller\.test>;tag=our2$/);
  const udp = { protocol: 'UDP', sentBy: { host: '10.0.0.1', port: 5060 } } as SipTransport;
  const tcp = { protocol: 'TCP', sentBy: { host: '::1', port: 5061 } } as SipTransport;
  t.equal(transportFor([udp, tcp], target), tcp);
  t.equal(transportFor([udp], target), udp, 'the first when none matches');
  t.equal(contactOn(udp), '<sip:ringfence@10.0.0.1:5060>');
  t.equal(contactOn(tcp), '<sip:ringfence@[::1]:5061;transport=tcp>');
  const tlsT = { protocol: 'TLS', sentBy: { host: '10.0.0.1', port: 5061 } } as SipTransport;
  t.equal(contactOn(tlsT), '<sips:ringfence@10.0.0.1:5061>', 'over TLS our Contact is sips:');
  t.same(targetOfUri('sips:1001@10.0.0.5'), { protocol: 'TLS', host: '10.0.0.5', port: 5061 }, 'a sips: contact goes over TLS, port 5061 by default');
  t.same(targetOfUri('sip:1001@10.0.0.5:5081;transport=tls'), { protocol: 'TLS', host: '10.0.0.5', port: 5081 });
  t.same(targetOfUri('sip:1001@10.0.0.5;transport=TCP'), { protocol: 'TCP', host: '10.0.0.5', port: 5060 });
  t.equal(targetOfUri('sip:1001@10.0.0.5;transport=sctp'), null, 'a transport we do not speak');
  const inv = agentInvite(agent, contactOn(tcp), new Uint8Array([1, 2, 3]));
  t.same(inv.headers.map((h) => h.name), ['Max-Forwards', 'From', 'To', 'Call-ID', 'CSeq', 'Contact', 'Allow', 'Content-Type', 'Content-Length']);
  t.equal(getHeader(inv, 'CSeq'), '1 INVITE');
  t.equal(getHeader(inv, 'Content-Length'), '3');
  t.equal(inv.uri, 'sip:agent@10.0.0.5:5070;transport=tcp');
  const ack: SipRequest = { kind: 'request', method: 'ACK', uri: 'sip:x', headers: [{ name: 'CSeq', value: '2 ACK' }, { name: 'Content-Length', value: '0' }], body: new Uint8Array(0) };
  t.equal(withAnswer(ack, undefined), ack, 'no answer: the ACK as it was');
  const withSdp = withAnswer(ack, new Uint8Array([9, 9]));
  t.same(withSdp.headers, [{ name: 'CSeq', value: '2 ACK' }, { name: 'Content-Type', value: 'application/sdp' }, { name: 'Content-Length', value: '2' }]);
});

t.test('clock helpers', async (t) => {
  t.same([0, 1, 2, 5, 10].map((i) => backoffMs(i, 100, 2000)), [100, 200, 400, 2000, 2000]);
  const clock = new FakeClock(0);
  let runs = 0;
  const stop = every(clock, 500, () => void runs++);
  clock.advance(1499);
  t.equal(runs, 2);
  stop();
  clock.advance(10_000);
  t.equal(runs, 2, 'stopped');
  t.equal(clock.pendingCount(), 0, 'no timer left');
});

t.test('grants: an evicted session does not lose a release or a confirm', async (t) => {
  // Before, a release refused with SHARD_ERR_SESSION_EXPIRED (the shard evicted the
  // node's session) was taken as done, and after 10 failed tries a release gave up: a
  // BUSY agent, which has no TTL, stayed BUSY for good.
  const clock = new FakeClock(0);
  const sent: Command[] = [];
  const answers: ShardResult[] = [
    { ok: false, code: 'SHARD_ERR_SESSION_EXPIRED', reason: 'no session c1 (never opened or evicted)' },
    { ok: false, code: 'SHARD_ERR_TOO_MANY_PENDING', reason: 'too many' },
  ];
  let throwsLeft = 12;
  const shards = {
    async command(_dn: string, cmd: Command): Promise<ShardResult> {
      sent.push(cmd);
      const a = answers.shift();
      if (a !== undefined) return a;
      if (throwsLeft-- > 0) throw new Error('timeout');
      return cmd.type === 'confirm' ? ({ ok: true, type: 'agent' } as unknown as ShardResult) : ({ ok: true, type: 'agent' } as unknown as ShardResult);
    },
  };
  const grants = new Grants({ shards, log: silentLogger, timers: clock, closed: () => false });
  let done = false;
  void grants.release('1001', 'r1', 'completed').then(() => { done = true; });
  for (let i = 0; i < 400 && !done; i++) {
    clock.advance(100);
    await new Promise((r) => setImmediate(r));
  }
  t.ok(done, `released after ${sent.length} sends: two session refusals and 12 failures did not make it give up`);
  t.equal(sent.length, 15);

  sent.length = 0;
  answers.push({ ok: false, code: 'SHARD_ERR_SESSION_EXPIRED', reason: 'evicted' });
  throwsLeft = 0;
  const confirmed = grants.confirm({ dn: '1001', reservationId: 'r2', expiresAtMs: 60_000 }, 'c-2', () => true);
  for (let i = 0; i < 20; i++) {
    clock.advance(100);
    await new Promise((r) => setImmediate(r));
  }
  t.equal(await confirmed, true, 'a confirm refused by the session layer is sent again and succeeds');
  t.equal(sent.length, 2);
});
