// Proves the node's media control against real gateway processes (gateway/gateway-
// process.ts) over the ng protocol: the agent is offered the gateway's address, not the
// caller's, and the caller gets the gateway's address, not the agent's; sessions go to
// the least-loaded live gateway; a gateway SIGKILLed mid-call makes the node BYE both
// legs and release the agent, and the next call uses the surviving gateway; a call whose
// media times out on the gateway (no RTP is sent here) is ended with BYE on both legs.

import t from 'tap';
import { addAgent, password, readAgent, sipTarget, startCluster, startGatewayProcess, startNode, waitFor } from './harness.js';
import { TestUa } from './test-ua.js';

const sdpPort = (body: Uint8Array): number => Number(/m=audio (\d+)/.exec(Buffer.from(body).toString())?.[1]);

const services = [{ number: '6001', skill: 'media', minLevel: 0 }];
const { cluster, config: base } = await startCluster(t, services, 1);
const gw1 = await startGatewayProcess(t, 'gw1', '32000-32099', 4, base.secret);
const gw2 = await startGatewayProcess(t, 'gw2', '32200-32299', 4, base.secret);
const config = { ...base, gateways: [gw1.config, gw2.config] };
const node = await startNode(t, config, { ringTimeoutMs: 3000, gatewayPollIntervalMs: 300 });
const server = sipTarget(node);
await addAgent(cluster, config, '4001', { media: 50 });
const phone = await TestUa.start('answer');
t.teardown(() => phone.close());
const caller = await TestUa.start();
t.teardown(() => caller.close());

t.test('SDP is anchored on a gateway; a gateway killed mid-call ends the call on both legs', async (t) => {
  t.equal((await phone.register(server, '4001', password('4001'), { expires: 600 })).response.status, 200);
  await waitFor('view', () => node.view.get('4001'), (a) => a?.status.state === 'READY' && a.contacts.length > 0);
  const call = caller.call(server, '6001');
  const final = await call.final;
  t.equal(final.status, 200);
  await caller.ack(call, server);
  const offered = phone.invites[0]!;
  t.not(sdpPort(offered.body), 40000, 'the agent is not given the caller\'s RTP port');
  t.not(sdpPort(final.body), 41000, 'the caller is not given the agent\'s RTP port');
  const used = node.app.inject({ method: 'GET', url: '/v1/gateways', headers: { authorization: `Bearer ${config.tokens.read}` } });
  const gws = (await used).json() as { gateways: { id: string; sessions: number; alive: boolean }[] };
  const busy = gws.gateways.find((g) => g.sessions === 1);
  t.ok(busy, 'one gateway holds the session');
  (busy!.id === 'gw1' ? gw1 : gw2).proc.kill('SIGKILL');
  await call.byeReceived;
  t.pass('caller got a BYE');
  await waitFor('agent BYE', () => phone.byes.length, (n) => n === 1);
  await waitFor('agent READY', () => readAgent(cluster, '4001'), (a) => a.status.state === 'READY');

  // The next call goes through the surviving gateway.
  const call2 = caller.call(server, '6001');
  t.equal((await call2.final).status, 200, 'answered through the surviving gateway');
  await caller.ack(call2, server);
  const after = ((await node.app.inject({ method: 'GET', url: '/v1/gateways', headers: { authorization: `Bearer ${config.tokens.read}` } })).json() as { gateways: { id: string; sessions: number; alive: boolean }[] }).gateways;
  t.same(after.filter((g) => g.alive).map((g) => g.sessions), [1], 'one live gateway, carrying the call');

  // No RTP flows in this test, so the survivor flags the call media-timed-out (4 s).
  await call2.byeReceived;
  t.pass('media timeout ended the call with a BYE to the caller');
  await waitFor('agent BYE', () => phone.byes.length, (n) => n === 2);
  await waitFor('agent READY', () => readAgent(cluster, '4001'), (a) => a.status.state === 'READY');
});
