// Proves real RTP and RTCP flow through the gateway process (a child process, killed in
// teardown) the way the two phones of a call would see it: caller and agent are plain UDP
// sockets that only know the ports from the rewritten SDP. Each side only ever receives
// from the gateway's address and the other leg's port; payloads arrive intact; query counts
// packets, bytes and the loss of a deliberate sequence gap. Latching: 'strict' (default)
// accepts only the SDP's exact address and drops every other source, even another port
// of the same IP; 'latch-any' (for NATed peers) lets the first source win and drops the
// rest, answering symmetric-RTP style to the learnt source. A call without
// media is flagged timed-out (query, list and a stdout event) while a call with media is
// not. The per-call rate ceiling drops and counts the excess.

import t from 'tap';
import { NgClient } from '../../gateway/ng-client.js';
import { Endpoint, eventually, freePortRange, mediaPort, rtcpPacket, rtpPacket, sdp, sendAll, sleep, spawnGateway } from './helpers.js';

type Tap = { teardown(fn: () => void | Promise<void>): void };

async function setUpCall(t: Tap, args: string[], callId = 'c1') {
  const gw = await spawnGateway(t, ['--ports', await freePortRange(10), ...args]);
  const ng = new NgClient({ host: '127.0.0.1', port: gw.control, timeoutMs: 1000, retries: 2, key: gw.key! });
  t.teardown(() => ng.close());
  const caller = await Endpoint.open(t);
  const callerRtcp = await Endpoint.open(t);
  const agent = await Endpoint.open(t);
  const agentRtcp = await Endpoint.open(t);
  const offer = await ng.offer({ callId, fromTag: 'caller', sdp: sdp(caller.port, '127.0.0.1', callerRtcp.port) });
  const answer = await ng.answer({ callId, fromTag: 'caller', toTag: 'agent', sdp: sdp(agent.port, '127.0.0.1', agentRtcp.port) });
  return { gw, ng, caller, callerRtcp, agent, agentRtcp, portA: mediaPort(answer.sdp), portB: mediaPort(offer.sdp) };
}

t.test('RTP and RTCP relayed both ways, only ever from the gateway', async (t) => {
  const c = await setUpCall(t, []);
  const seqs = Array.from({ length: 50 }, (_, i) => i).filter((s) => s < 20 || s >= 25); // 5 lost
  const sent = seqs.map((s) => rtpPacket(s, 0xaaaa));
  await sendAll(c.caller, sent, c.portA);
  await eventually(() => (c.agent.received.length >= 45 ? true : undefined));
  t.same(c.agent.received.map((r) => r.data.readUInt16BE(2)), seqs, 'in order, nothing extra');
  t.ok(c.agent.received.every((r, i) => r.data.equals(sent[i]!)), 'payloads intact');
  t.ok(c.agent.received.every((r) => r.address === '127.0.0.1' && r.port === c.portB), 'agent sees only the gateway leg-B port');

  await sendAll(c.agent, Array.from({ length: 30 }, (_, i) => rtpPacket(i, 0xbbbb)), c.portB);
  await eventually(() => (c.caller.received.length >= 30 ? true : undefined));
  t.ok(c.caller.received.every((r) => r.port === c.portA), 'caller sees only the gateway leg-A port');

  for (let i = 0; i < 3; i++) await c.callerRtcp.send(rtcpPacket(0xaaaa), c.portA + 1);
  await eventually(() => (c.agentRtcp.received.length >= 3 ? true : undefined));
  t.ok(c.agentRtcp.received.every((r) => r.port === c.portB + 1), 'RTCP leaves from the leg-B RTCP port');
  t.equal(c.agent.received.length, 45, 'RTCP did not leak onto the RTP socket');

  const q = await c.ng.query({ callId: 'c1' });
  const [a, b] = q.legs;
  t.match(a, { leg: 'A', packets: 45, bytes: 45 * 172, lost: 5, rtcpPackets: 3, relayed: 48, droppedSource: 0 });
  t.match(b, { leg: 'B', packets: 30, lost: 0, relayed: 30 });
  t.same(a!.latched, { address: '127.0.0.1', port: c.caller.port });
  await c.ng.delete({ callId: 'c1' });
  await c.caller.send(rtpPacket(100), c.portA);
  await sleep(100); // an absence can only be waited for
  t.equal(c.agent.received.length, 45, 'nothing is relayed after delete');
});

t.test("latching 'strict' (the default): only the SDP's exact address, before and after it latched", async (t) => {
  const c = await setUpCall(t, []);
  t.match(c.gw.events[0], { event: 'listening', latching: 'strict' }, 'strict is the default');
  const intruder = await Endpoint.open(t, '127.0.0.2');
  await intruder.send(rtpPacket(1), c.portA);
  // Same IP as the SDP, another port, before the SDP peer has sent: still a stranger.
  const sameIp = await Endpoint.open(t);
  await sameIp.send(rtpPacket(2), c.portA);
  await eventually(async () => ((await c.ng.query({ callId: 'c1' })).legs[0]!.droppedSource === 2 ? true : undefined));
  await c.caller.send(rtpPacket(3), c.portA);
  await eventually(() => (c.agent.received.length === 1 ? true : undefined));
  await sameIp.send(rtpPacket(4), c.portA);
  await c.agent.send(rtpPacket(1, 0xbbbb), c.portB);
  await eventually(() => (c.caller.received.length === 1 ? true : undefined));
  const q = await eventually(async () => {
    const r = await c.ng.query({ callId: 'c1' });
    return r.legs[0]!.droppedSource === 3 ? r : undefined;
  });
  t.pass('the intruder and the other port are dropped and counted');
  t.same(q.legs[0]!.latched, { address: '127.0.0.1', port: c.caller.port });
  t.same(c.agent.received.map((r) => r.data.readUInt16BE(2)), [3], "only the SDP peer's packet reached the agent");
  t.equal(sameIp.received.length + intruder.received.length, 0, 'replies go only to the SDP peer');
});

t.test("latching 'latch-any': the first source wins", async (t) => {
  const c = await setUpCall(t, ['--latching', 'latch-any']);
  const other = await Endpoint.open(t, '127.0.0.2');
  await other.send(rtpPacket(1), c.portA);
  await eventually(() => (c.agent.received.length === 1 ? true : undefined));
  await c.caller.send(rtpPacket(2), c.portA);
  await c.agent.send(rtpPacket(1, 0xbbbb), c.portB);
  await eventually(() => (other.received.length === 1 ? true : undefined));
  const q = await c.ng.query({ callId: 'c1' });
  t.same(q.legs[0]!.latched, { address: '127.0.0.2', port: other.port });
  t.equal(q.legs[0]!.droppedSource, 1);
  t.equal(c.agent.received.length, 1);
});

t.test('media timeout flags silent calls only', async (t) => {
  const c = await setUpCall(t, ['--media-timeout-s', '2'], 'live');
  const silentCaller = await Endpoint.open(t);
  await c.ng.offer({ callId: 'silent', fromTag: 'x', sdp: sdp(silentCaller.port) });
  let seq = 0;
  let talking = true;
  const talk = (async () => {
    while (talking) {
      await c.caller.send(rtpPacket(seq++), c.portA);
      await sleep(20);
    }
  })();
  t.teardown(async () => {
    talking = false;
    await talk;
  });
  await eventually(async () => ((await c.ng.query({ callId: 'silent' })).timedOut ? true : undefined), 200);
  t.equal((await c.ng.query({ callId: 'live' })).timedOut, false, 'a call with media is not flagged');
  t.same((await c.ng.list()).timedOut, ['silent']);
  await eventually(() => (c.gw.events.some((e) => e['event'] === 'timed-out' && e['callId'] === 'silent') ? true : undefined));
  t.notOk(c.gw.events.some((e) => e['callId'] === 'live'));
  talking = false;
  await talk;
});

t.test('per-call packet rate ceiling drops and counts the excess', async (t) => {
  const c = await setUpCall(t, ['--max-pps', '50', '--burst', '10']);
  await sendAll(c.caller, Array.from({ length: 200 }, (_, i) => rtpPacket(i)), c.portA, 50);
  const q = await eventually(async () => {
    const r = await c.ng.query({ callId: 'c1' });
    return r.legs[0]!.packets === 200 ? r : undefined;
  });
  const a = q.legs[0]!;
  t.ok(a.droppedRate > 0, `excess dropped (${a.droppedRate})`);
  t.equal(a.relayed + a.droppedRate, 200, 'every packet is either relayed or counted as dropped');
  await eventually(() => (c.agent.received.length === a.relayed ? true : undefined));
  t.equal(a.lost, 0, 'rate drops are not network loss');
});
