// Proves that in-dialog SDP stays anchored on the media gateway: a real gateway process
// (gateway/gateway-process.ts, ng over UDP), real shard processes, a SIP node in this
// process, and real RTP over UDP sockets standing in for the phones' media. After the
// call is up, RTP flows caller↔agent through the gateway. Then the agent's phone sends a
// re-INVITE moving its RTP to a new port: the caller is offered the gateway's address
// (not the agent's new port), the agent gets the gateway's address back, and RTP from
// the caller now arrives at the agent's new port (and the agent's new port reaches the
// caller) — through the gateway. Then the caller puts the call on hold (a=sendonly)
// with a re-INVITE whose answer moves the agent's port again: a=sendonly reaches the
// agent, the answer is re-anchored, and RTP goes to the agent's latest port. Last, the
// caller sends a re-INVITE without SDP (delayed offer): the agent's offer in its 2xx
// reaches the caller anchored, the caller's answer in its ACK reaches the agent anchored
// (the node holds the agent's ACK until then), and RTP follows both new ports.

import dgram from 'node:dgram';
import t from 'tap';
import { addAgent, password, sipTarget, startCluster, startGatewayProcess, startNode, waitFor } from './harness.js';
import { TestUa, testSdp } from './test-ua.js';

const services = [{ number: '6101', skill: 'reanchor', minLevel: 0 }];
const { cluster, config: base } = await startCluster(t, services, 1);
const gw = await startGatewayProcess(t, 'gw-re', '32400-32499', 30, base.secret);
const config = { ...base, gateways: [gw.config] };
const node = await startNode(t, config, { nodeId: 'sip-re', ringTimeoutMs: 3000 });
const server = sipTarget(node);
await addAgent(cluster, config, '4101', { reanchor: 50 });

/** A phone's RTP socket on 127.0.0.1, recording payloads it receives. */
async function rtpSocket(): Promise<{ sock: dgram.Socket; port: number; got: string[] }> {
  const sock = dgram.createSocket('udp4');
  const got: string[] = [];
  sock.on('message', (m) => got.push(m.subarray(12).toString()));
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  t.teardown(() => sock.close());
  return { sock, port: sock.address().port, got };
}

let seq = 0;
function rtp(payload: string): Buffer {
  const h = Buffer.alloc(12);
  h[0] = 0x80;
  h[1] = 0; // PCMU
  h.writeUInt16BE(++seq & 0xffff, 2);
  h.writeUInt32BE(seq * 160, 4);
  h.writeUInt32BE(0x1234, 8);
  return Buffer.concat([h, Buffer.from(payload)]);
}

/** Sends RTP `tag` from `from` to `to` every 20 ms until `into` has received it (at most
 * 150 packets); throws when it never arrives. */
async function flows(from: dgram.Socket, to: { ip: string; port: number }, into: { got: string[] }, tag: string): Promise<void> {
  for (let i = 0; i < 150; i++) {
    if (into.got.includes(tag)) return;
    from.send(rtp(tag), to.port, to.ip);
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`RTP ${tag} never arrived`);
}

function mediaOf(body: Uint8Array): { ip: string; port: number } {
  const s = Buffer.from(body).toString();
  return { ip: /c=IN IP4 ([0-9.]+)/.exec(s)?.[1] ?? '', port: Number(/m=audio (\d+)/.exec(s)?.[1]) };
}

const sdpHeaders = [{ name: 'Content-Type', value: 'application/sdp' }];

t.test('re-INVITEs from either leg stay anchored on the gateway; RTP follows the new port', async (t) => {
  const callerRtp = await rtpSocket();
  const agentRtp1 = await rtpSocket();
  const agentRtp2 = await rtpSocket();
  const agentRtp3 = await rtpSocket();
  const phone = await TestUa.start('answer');
  t.teardown(() => phone.close());
  phone.answerPort = agentRtp1.port;
  t.equal((await phone.register(server, '4101', password('4101'), { expires: 600 })).response.status, 200);
  await waitFor('view', () => node.view.get('4101'), (a) => a?.status.state === 'READY' && a.contacts.length > 0);
  const caller = await TestUa.start();
  t.teardown(() => caller.close());
  caller.offerPort = callerRtp.port;

  const call = caller.call(server, '6101');
  const final = await call.final;
  t.equal(final.status, 200);
  await caller.ack(call, server);
  const gwForCaller = mediaOf(final.body);
  const gwForAgent = mediaOf(phone.invites[0]!.body);
  t.not(gwForCaller.port, agentRtp1.port, 'caller is given the gateway, not the agent');
  await flows(callerRtp.sock, gwForCaller, agentRtp1, 'c2a-1');
  await flows(agentRtp1.sock, gwForAgent, callerRtp, 'a2c-1');
  t.pass('RTP flows both ways through the gateway');

  // The agent's phone moves its media to a new port with a re-INVITE.
  const re = await phone.incomingRequest(server, 'INVITE', new TextEncoder().encode(testSdp(agentRtp2.port)), sdpHeaders);
  t.equal(re.status, 200, 'agent re-INVITE answered');
  const offeredToCaller = caller.inDialog.find((r) => r.method === 'INVITE');
  t.ok(offeredToCaller, 'the caller got the re-INVITE');
  t.same(mediaOf(offeredToCaller!.body), gwForCaller, 'the caller is offered the gateway (same anchor), not the agent\'s new port');
  t.same(mediaOf(re.body), gwForAgent, 'the agent\'s 200 names the gateway, not the caller');
  await flows(callerRtp.sock, gwForCaller, agentRtp2, 'c2a-2');
  t.pass('caller RTP reaches the agent\'s new port');
  await flows(agentRtp2.sock, gwForAgent, callerRtp, 'a2c-2');
  t.pass('RTP from the agent\'s new port reaches the caller');
  t.notOk(agentRtp1.got.includes('c2a-2'), 'nothing of it went to the old port');

  // The caller puts the call on hold; the agent's answer moves its port once more.
  phone.answerPort = agentRtp3.port;
  const hold = testSdp(callerRtp.port).replace('a=rtpmap:0 PCMU/8000', 'a=rtpmap:0 PCMU/8000\r\na=sendonly');
  const held = await caller.inDialogRequest(call, server, 'INVITE', new TextEncoder().encode(hold), sdpHeaders);
  t.equal(held.status, 200, 'hold re-INVITE answered');
  const toAgent = phone.inDialog.filter((r) => r.method === 'INVITE').at(-1)!;
  t.match(Buffer.from(toAgent.body).toString(), /a=sendonly/, 'the hold direction reaches the agent');
  t.same(mediaOf(toAgent.body), gwForAgent, 'still pointing the agent at the gateway');
  t.same(mediaOf(held.body), gwForCaller, 'the caller\'s 200 names the gateway, not the agent\'s new port');
  await flows(callerRtp.sock, gwForCaller, agentRtp3, 'c2a-3');
  t.pass('caller RTP reaches the port the agent answered the hold with');

  // Delayed offer: the caller asks for an offer, answers it in its ACK from a new port.
  const callerRtp2 = await rtpSocket();
  const agentRtp4 = await rtpSocket();
  phone.answerPort = agentRtp4.port;
  const acksBefore = phone.acks.length;
  const asked = await caller.inDialogRequest(call, server, 'INVITE', new Uint8Array(0), [], { ackBody: new TextEncoder().encode(testSdp(callerRtp2.port)) });
  t.equal(asked.status, 200, 'body-less re-INVITE answered');
  t.same(mediaOf(asked.body), gwForCaller, 'the agent\'s offer reaches the caller pointing at the gateway');
  const ackToAgent = await waitFor('ACK with the answer at the agent', () => phone.acks.slice(acksBefore).find((a) => a.body.length > 0), (a) => a !== undefined);
  t.same(mediaOf(ackToAgent!.body), gwForAgent, 'the caller\'s answer reaches the agent in the ACK, pointing at the gateway');
  await flows(agentRtp4.sock, gwForAgent, callerRtp2, 'a2c-4');
  await flows(callerRtp2.sock, gwForCaller, agentRtp4, 'c2a-4');
  t.pass('RTP flows between both new ports through the gateway');

  const metrics = await node.app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${config.tokens.read}` } });
  t.match(metrics.body, /ringfence_sip_reanchors_total\{[^}]*result="anchored"[^}]*\} 3/, 'three re-anchored offer/answer exchanges counted');
  await caller.bye(call, server);
  await waitFor('agent BYE', () => phone.byes.length, (n) => n === 1);
});
