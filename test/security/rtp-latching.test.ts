// Proves a stranger cannot steal a call's media leg: a real gateway process (killed in
// teardown) anchors a call between a caller and an agent (plain UDP sockets on 127.0.0.1
// that only know the ports from the rewritten SDP). Strangers send to leg A's port before
// the caller — the address in the leg's SDP — and then alongside its stream: one from
// another IP, one from the caller's own IP on another port (a neighbour on the same host,
// or behind the same NAT). With the default (strict) latching
// none of the strangers' packets reaches the agent, the leg stays latched to the caller,
// the agent's replies go only to the caller, and the drops are counted. With an explicit
// `--latching latch-any` the old behaviour is available: the first sender owns the leg.

import t from 'tap';
import { NgClient } from '../../gateway/ng-client.js';
import { Endpoint, eventually, freePortRange, mediaPort, rtpPacket, sdp, sleep, spawnGateway } from '../gateway/helpers.js';

type Tap = { teardown(fn: () => void | Promise<void>): void };

const CALLER = 0xca11, STRANGER = 0x5eed, NEIGHBOUR = 0x0bad, AGENT = 0xa6e7;

async function setUpCall(t: Tap, args: string[]) {
  const gw = await spawnGateway(t, ['--ports', await freePortRange(4), ...args]);
  const ng = new NgClient({ host: '127.0.0.1', port: gw.control, timeoutMs: 1000, retries: 2, key: gw.key! });
  t.teardown(() => ng.close());
  const caller = await Endpoint.open(t);
  const agent = await Endpoint.open(t);
  const offer = await ng.offer({ callId: 'c1', fromTag: 'caller', sdp: sdp(caller.port) });
  const answer = await ng.answer({ callId: 'c1', fromTag: 'caller', toTag: 'agent', sdp: sdp(agent.port) });
  return { gw, ng, caller, agent, portA: mediaPort(answer.sdp), portB: mediaPort(offer.sdp) };
}

const ssrcs = (e: Endpoint): number[] => [...new Set(e.received.map((r) => r.data.readUInt32BE(8)))];

t.test('strict (default): strangers do not steal the leg while the SDP peer sends', async (t) => {
  const c = await setUpCall(t, []);
  const stranger = await Endpoint.open(t, '127.0.0.2');
  const neighbour = await Endpoint.open(t, '127.0.0.1');
  // Both strangers are on the wire before the caller.
  await stranger.send(rtpPacket(0, STRANGER), c.portA);
  await neighbour.send(rtpPacket(0, NEIGHBOUR), c.portA);
  await eventually(async () => ((await c.ng.query({ callId: 'c1' })).legs[0]!.droppedSource === 2 ? true : undefined));
  // Then the caller talks, and both strangers keep sending alongside it.
  for (let i = 1; i <= 20; i++) {
    await c.caller.send(rtpPacket(i, CALLER), c.portA);
    await stranger.send(rtpPacket(i, STRANGER), c.portA);
    await neighbour.send(rtpPacket(i, NEIGHBOUR), c.portA);
    await c.agent.send(rtpPacket(i, AGENT), c.portB);
    if (i % 5 === 0) await sleep(5);
  }
  const q = await eventually(async () => {
    const r = await c.ng.query({ callId: 'c1' });
    return r.legs[0]!.droppedSource === 42 && c.agent.received.length === 20 ? r : undefined;
  });
  t.same(ssrcs(c.agent), [CALLER], "the agent hears only the caller's stream");
  t.same(q.legs[0]!.latched, { address: '127.0.0.1', port: c.caller.port }, 'leg A stays latched to the SDP address');
  t.equal(q.legs[0]!.droppedSource, 42, "every stranger's packet dropped and counted");
  await eventually(() => (c.caller.received.length === 20 ? true : undefined));
  t.same(ssrcs(c.caller), [AGENT], "the agent's stream reaches the caller");
  t.equal(stranger.received.length + neighbour.received.length, 0, 'the strangers receive nothing');
});

t.test('latch-any (explicit): the first sender owns the leg, as before', async (t) => {
  const c = await setUpCall(t, ['--latching', 'latch-any']);
  t.match(c.gw.events[0], { event: 'listening', latching: 'latch-any' });
  const stranger = await Endpoint.open(t, '127.0.0.2');
  await stranger.send(rtpPacket(0, STRANGER), c.portA);
  await eventually(() => (c.agent.received.length === 1 ? true : undefined));
  await c.caller.send(rtpPacket(1, CALLER), c.portA);
  await c.agent.send(rtpPacket(1, AGENT), c.portB);
  await eventually(() => (stranger.received.length === 1 ? true : undefined));
  const q = await c.ng.query({ callId: 'c1' });
  t.same(q.legs[0]!.latched, { address: '127.0.0.2', port: stranger.port }, 'the stranger latched first');
  t.equal(q.legs[0]!.droppedSource, 1, "the caller's own packet was dropped");
  t.same(ssrcs(c.agent), [STRANGER]);
});
