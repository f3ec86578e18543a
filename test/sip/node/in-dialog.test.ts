// Proves how the node treats requests inside dialogs, with real shard processes and real
// SIP over UDP (no gateway: PassthroughMedia): an OPTIONS keep-alive inside a live call,
// from either leg, is answered 200 by the node itself and never reaches the other phone;
// an in-dialog request for a dialog the node does not know (made up, or sent to a node
// that restarted and so forgot it) gets 481, and so does one for a call already ended,
// except a late BYE, which gets 200;
// a re-INVITE from the agent's phone reaches the caller inside the caller's dialog; the
// 2xx of a relayed re-INVITE is retransmitted until the sender ACKs it and not after.

import t from 'tap';
import { generateCallId, generateTag, getHeader } from '../../../sip/syntax/index.js';
import type { OutgoingCall } from './test-ua.js';
import { addAgent, password, readAgent, sipTarget, startCluster, startNode, waitFor } from './harness.js';
import { TestUa, testSdp } from './test-ua.js';

const services = [{ number: '5101', skill: 'dialog', minLevel: 0 }];
const { cluster, config } = await startCluster(t, services, 1);
const node = await startNode(t, config, { ringTimeoutMs: 3000 });
const server = sipTarget(node);
const caller = await TestUa.start();
t.teardown(() => caller.close());
await addAgent(cluster, config, '3101', { dialog: 50 });
const phone = await TestUa.start('answer');
t.teardown(() => phone.close());
if ((await phone.register(server, '3101', password('3101'), { expires: 600 })).response.status !== 200) throw new Error('register 3101');
await waitFor('view', () => node.view.get('3101'), (a) => a?.status.state === 'READY' && a.contacts.length > 0);

async function answeredCall(): Promise<OutgoingCall> {
  const call = caller.call(server, '5101');
  const final = await call.final;
  if (final.status !== 200) throw new Error(`call: ${final.status}`);
  await caller.ack(call, server);
  return call;
}

const sdp = (port: number): Uint8Array<ArrayBuffer> => new TextEncoder().encode(testSdp(port));
const sdpHeaders = [{ name: 'Content-Type', value: 'application/sdp' }];

t.test('in-dialog OPTIONS from either leg is answered by the node, not relayed', async (t) => {
  const call = await answeredCall();
  const fromCaller = await caller.inDialogRequest(call, server, 'OPTIONS');
  t.equal(fromCaller.status, 200, 'caller probe answered');
  const fromAgent = await phone.incomingRequest(server, 'OPTIONS');
  t.equal(fromAgent.status, 200, 'agent probe answered');
  t.match(getHeader(fromAgent, 'Allow') ?? '', /INVITE/, 'the answer says what the node accepts');
  t.same(phone.inDialog.filter((r) => r.method === 'OPTIONS'), [], 'the agent phone never saw the caller\'s probe');
  t.same(caller.inDialog.filter((r) => r.method === 'OPTIONS'), [], 'the caller never saw the agent\'s probe');

  // A re-INVITE from the agent does reach the caller, in the caller's own dialog.
  const re = await phone.incomingRequest(server, 'INVITE', sdp(41002), sdpHeaders);
  t.equal(re.status, 200, 'agent re-INVITE answered through the node');
  const got = caller.inDialog.find((r) => r.method === 'INVITE');
  t.ok(got, 'the caller received the re-INVITE');
  t.equal(getHeader(got!, 'Call-ID'), getHeader(call.tx.request, 'Call-ID'), 'inside the caller\'s dialog');
  t.match(Buffer.from(got!.body).toString(), /m=audio 41002 /, 'with the agent\'s new SDP (passthrough)');

  t.equal((await caller.bye(call, server)).status, 200);
  await waitFor('agent BYE', () => phone.byes.length, (n) => n >= 1);
  const late = await caller.inDialogRequest(call, server, 'OPTIONS');
  t.equal(late.status, 481, 'a probe after the call ended gets 481');
  // The node remembers an ended leg (without its call) so late requests get the answers
  // RFC 3261 expects rather than a 481 for a BYE that crossed ours.
  t.equal((await caller.inDialogRequest(call, server, 'BYE')).status, 200, 'a late BYE from the caller still gets 200');
  t.equal((await phone.lastIncomingRequest(server, 'OPTIONS')).status, 481, 'a probe on the ended agent leg gets 481');
  t.equal((await phone.lastIncomingRequest(server, 'BYE')).status, 200, 'a late BYE from the agent leg gets 200');
  await waitFor('agent READY', () => readAgent(cluster, '3101'), (a) => a.status.state === 'READY');
});

t.test('in-dialog requests for unknown dialogs get 481', async (t) => {
  const made = caller.call(server, '5101');
  t.equal((await made.final).status, 200);
  await caller.ack(made, server);
  // A node that restarted has none of its old dialogs: another node instance stands in
  // for it (same cluster, fresh memory).
  const reborn = await startNode(t, config, { nodeId: 'sip-reborn' });
  const rebornTarget = sipTarget(reborn);
  t.equal((await caller.inDialogRequest(made, rebornTarget, 'OPTIONS')).status, 481, 'caller probe to a node that forgot the call');
  t.equal((await phone.incomingRequest(rebornTarget, 'OPTIONS')).status, 481, 'agent probe to a node that forgot the call');
  t.equal((await caller.inDialogRequest(made, rebornTarget, 'INFO', Buffer.from('x'), [{ name: 'Content-Type', value: 'text/plain' }])).status, 481, 'INFO too');

  // A dialog that never existed, on the live node.
  const ghost: OutgoingCall = {
    ...made,
    leg: { callId: generateCallId('ghost'), localTag: generateTag(), localHeader: `<sip:ghost@127.0.0.1>;tag=${generateTag()}`, remoteHeader: `<sip:5101@127.0.0.1>;tag=${generateTag()}`, remoteTarget: `sip:127.0.0.1:${server.port}`, routeSet: [], localCseq: 1 },
  };
  t.equal((await caller.inDialogRequest(ghost, server, 'OPTIONS')).status, 481, 'unknown dialog OPTIONS');
  t.equal((await caller.inDialogRequest(ghost, server, 'INVITE', sdp(40010), sdpHeaders)).status, 481, 'unknown dialog re-INVITE');
  t.equal((await caller.inDialogRequest(ghost, server, 'BYE')).status, 481, 'unknown dialog BYE');

  // The live node still has the call.
  t.equal((await caller.inDialogRequest(made, server, 'OPTIONS')).status, 200, 'the real node still answers');
  await caller.bye(made, server);
  await waitFor('agent READY', () => readAgent(cluster, '3101'), (a) => a.status.state === 'READY');
});

t.test('the 2xx of a relayed re-INVITE is retransmitted until ACKed', async (t) => {
  const call = await answeredCall();
  let retransmissions = 0;
  const re = await caller.inDialogRequest(call, server, 'INVITE', sdp(40020), sdpHeaders, { ack: false, onRetransmission: () => retransmissions++ });
  t.equal(re.status, 200);
  await waitFor('2xx retransmissions', () => retransmissions, (n) => n >= 2);
  t.pass('unACKed 2xx came again (T1, then 2*T1)');

  // ACKed at once: nothing comes again (T1 = 500 ms; wait past two intervals).
  let after = 0;
  const re2 = await caller.inDialogRequest(call, server, 'INVITE', sdp(40022), sdpHeaders, { onRetransmission: () => after++ });
  t.equal(re2.status, 200);
  await new Promise((r) => setTimeout(r, 1600));
  t.equal(after, 0, 'an ACKed 2xx is not retransmitted');
  t.equal((await caller.bye(call, server)).status, 200);
  await waitFor('agent READY', () => readAgent(cluster, '3101'), (a) => a.status.state === 'READY');
});

// The ended legs are kept for endedLegKeepMs (32 s by default, asserted above as a 200
// for a late BYE) and then forgotten, so a node's memory does not grow with its call count.
t.test('an ended call is forgotten after its keep time: a late BYE then gets 481', async (t) => {
  const brief = await startNode(t, config, { ringTimeoutMs: 3000, endedLegKeepMs: 300 });
  const briefServer = sipTarget(brief);
  await waitFor('view on the second node', () => brief.view.get('3101'), (a) => a?.status.state === 'READY' && a.contacts.length > 0);
  const call = caller.call(briefServer, '5101');
  t.equal((await call.final).status, 200);
  await caller.ack(call, briefServer);
  t.equal((await caller.bye(call, briefServer)).status, 200);
  await waitFor('the ended leg forgotten', () => caller.inDialogRequest(call, briefServer, 'BYE').then((r) => r.status), (status) => status === 481, 30_000);
  t.pass('a BYE on the forgotten call gets 481');
  await waitFor('agent READY', () => readAgent(cluster, '3101'), (a) => a.status.state === 'READY');
});
