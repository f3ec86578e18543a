// Proves the B2BUA's method end to end with real shard processes and real SIP over UDP:
// a call to a service number is answered by an agent's phone only after the reservation
// is granted, BYE ends both legs and releases the agent (READY again, counters updated,
// a CDR line written); a 486 agent and a never-answering agent (short ring timeout) are
// skipped for another one; a caller CANCEL while ringing CANCELs the agent leg and frees
// the agent; with nobody READY the caller gets 182 Queued and is connected when an agent
// turns READY, or 480 after the maximum wait; a node restarting under the same id
// releases the reservations it held (releaseByOwner) long before their TTL; the admin
// REST lists registrations and counts calls. Each scenario uses its own skill, so the
// agents of one never take the calls of another.

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { getHeader } from '../../../sip/syntax/index.js';
import { addAgent, password, readAgent, sipTarget, startCluster, startNode, waitFor } from './harness.js';
import { TestUa, testSdp, type UaMode } from './test-ua.js';

const services = ['answer', 'reroute', 'noanswer', 'cancel', 'queue', 'nobody', 'restart', 'confirm', 'wrapup'].map((skill, i) => ({ number: String(5001 + i), skill, minLevel: 0 }));
const numberOf = (skill: string): string => services.find((s) => s.skill === skill)!.number;

const { cluster, config } = await startCluster(t, services, 2);
const cdrDir = mkdtempSync(join(tmpdir(), 'ringfence-cdr-'));
const cdrPath = join(cdrDir, 'cdr.jsonl');
// Registered first, so it runs last: after the node that writes the file has closed.
t.teardown(() => rmSync(cdrDir, { recursive: true, force: true }));
const node = await startNode(t, config, { ringTimeoutMs: 1500, queueWaitMs: 3000, cdrPath });
const server = sipTarget(node);
const caller = await TestUa.start();
t.teardown(() => caller.close());

/** An agent with its own phone, registered with the node. */
async function agentPhone(dn: string, skill: string, mode: UaMode, ready = true): Promise<TestUa> {
  await addAgent(cluster, config, dn, { [skill]: 50 }, { ready });
  const ua = await TestUa.start(mode);
  t.teardown(() => ua.close());
  const { response } = await ua.register(server, dn, password(dn), { expires: 600 });
  if (response.status !== 200) throw new Error(`register ${dn}: ${response.status}`);
  // The router sees the agent (READY with a phone) once the change feed brings it.
  if (ready) await waitFor(`view of ${dn}`, () => node.view.get(dn), (a) => a !== undefined && a.status.state === 'READY' && a.contacts.length > 0);
  return ua;
}

t.test('answered call: reserve → INVITE → 200 → BYE → release', async (t) => {
  const phone = await agentPhone('3001', 'answer', 'answer');
  const call = caller.call(server, numberOf('answer'));
  const final = await call.final;
  t.equal(final.status, 200, 'caller answered');
  t.equal(phone.invites.length, 1, 'the agent phone got exactly one INVITE');
  const inv = phone.invites[0]!;
  t.not(getHeader(inv, 'Call-ID'), getHeader(call.tx.request, 'Call-ID'), 'agent leg has its own Call-ID');
  await waitFor('confirmed on answer', () => readAgent(cluster, '3001'), (a) => a.status.state === 'BUSY');
  await caller.ack(call, server);
  const bye = await caller.bye(call, server);
  t.equal(bye.status, 200);
  await waitFor('agent BYE', () => phone.byes.length, (n) => n === 1);
  const agent = await waitFor('agent READY', () => readAgent(cluster, '3001'), (a) => a.status.state === 'READY');
  t.equal(agent.counters.callsAnswered, 1, 'answered call counted');
  t.equal(phone.maxActive, 1);

  // Second call, hung up by the agent this time.
  const call2 = caller.call(server, numberOf('answer'));
  t.equal((await call2.final).status, 200);
  await caller.ack(call2, server);
  t.equal((await phone.hangUpIncoming(server)).status, 200);
  await call2.byeReceived;
  t.pass('caller got the BYE');
  const after = await waitFor('agent READY again', () => readAgent(cluster, '3001'), (a) => a.status.state === 'READY' && a.counters.callsAnswered === 2);
  t.equal(after.counters.callsAnswered, 2);
  const cdr = await waitFor('CDR lines', () => readFileSync(cdrPath, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l)), (l) => l.length >= 2);
  t.match(cdr[0], { outcome: 'completed', dn: '3001', endedBy: 'caller', service: numberOf('answer') });
  t.match(cdr[1], { outcome: 'completed', dn: '3001', endedBy: 'agent' });
});

t.test('in-dialog re-INVITE (hold) and INFO pass through to the agent', async (t) => {
  const phone = await agentPhone('3009', 'answer', 'answer');
  await cluster.client.command('3001', { type: 'notReady', dn: '3001', reason: 'test' });
  await waitFor('3001 out of routing', () => node.view.get('3001'), (a) => a?.status.state === 'NOT_READY');
  const call = caller.call(server, numberOf('answer'));
  t.equal((await call.final).status, 200);
  await caller.ack(call, server);
  const hold = Buffer.from(testSdp(40000).replace('a=rtpmap:0 PCMU/8000', 'a=rtpmap:0 PCMU/8000\r\na=sendonly'));
  const re = await caller.inDialogRequest(call, server, 'INVITE', hold, [{ name: 'Content-Type', value: 'application/sdp' }]);
  t.equal(re.status, 200, 're-INVITE answered through the B2BUA');
  const info = await caller.inDialogRequest(call, server, 'INFO', Buffer.from('Signal=5\r\n'), [{ name: 'Content-Type', value: 'application/dtmf-relay' }]);
  t.equal(info.status, 200);
  t.same(phone.inDialog.map((r) => r.method), ['INVITE', 'INFO'], 'the agent phone got both, inside its own dialog');
  t.match(Buffer.from(phone.inDialog[0]!.body).toString(), /a=sendonly/, 'hold SDP passed through');
  t.equal(getHeader(phone.inDialog[1]!, 'Content-Type'), 'application/dtmf-relay');
  t.equal(getHeader(phone.inDialog[0]!, 'Call-ID'), getHeader(phone.invites[0]!, 'Call-ID'), 'agent leg Call-ID');
  await caller.bye(call, server);
  await waitFor('3009 READY', () => readAgent(cluster, '3009'), (a) => a.status.state === 'READY');
  await cluster.client.command('3001', { type: 'ready', dn: '3001' });
});

t.test('re-route past an agent that answers 486', async (t) => {
  const busy = await agentPhone('3002', 'reroute', 'busy'); // READY first: longest idle, tried first
  const good = await agentPhone('3003', 'reroute', 'answer');
  const call = caller.call(server, numberOf('reroute'));
  t.equal((await call.final).status, 200);
  t.equal(busy.invites.length, 1, 'the busy phone was offered the call');
  t.equal(good.invites.length, 1, 'then the next agent');
  t.equal((await readAgent(cluster, '3002')).status.state, 'READY', '486 released the first agent');
  await caller.ack(call, server);
  await caller.bye(call, server);
  await waitFor('3003 READY', () => readAgent(cluster, '3003'), (a) => a.status.state === 'READY');
});

t.test('re-route past an agent that never answers (ring timeout)', async (t) => {
  const silent = await agentPhone('3004', 'noanswer', 'never');
  const good = await agentPhone('3005', 'noanswer', 'answer');
  const call = caller.call(server, numberOf('noanswer'));
  t.equal((await call.final).status, 200);
  t.equal(silent.invites.length, 1);
  t.equal(silent.activeCalls, 0, 'the silent phone was CANCELed');
  t.equal(good.invites.length, 1);
  const a = await readAgent(cluster, '3004');
  t.equal(a.counters.missedOffers, 1, 'no-answer counted against the agent');
  t.ok(call.provisionals.some((p) => p.status === 180), 'caller heard ringing');
  await caller.ack(call, server);
  await caller.bye(call, server);
});

t.test('caller CANCEL while the agent rings', async (t) => {
  const phone = await agentPhone('3006', 'cancel', 'never');
  const call = caller.call(server, numberOf('cancel'));
  await waitFor('ringing', () => call.provisionals.some((p) => p.status === 180), (x) => x);
  t.equal((await readAgent(cluster, '3006')).status.state, 'RESERVED');
  caller.cancel(call, server);
  t.equal((await call.final).status, 487, 'caller gets 487');
  await waitFor('agent leg CANCELed', () => phone.activeCalls, (n) => n === 0);
  const agent = await waitFor('agent READY', () => readAgent(cluster, '3006'), (a) => a.status.state === 'READY');
  t.equal(agent.counters.missedOffers, 0, 'an abandoned call is not the agent\'s miss');
});

t.test('queue: 182 Queued, then the agent turning READY takes the call', async (t) => {
  const phone = await agentPhone('3007', 'queue', 'answer', false);
  const call = caller.call(server, numberOf('queue'));
  await waitFor('182', () => call.provisionals.some((p) => p.status === 182), (x) => x);
  t.equal(phone.invites.length, 0, 'nobody offered the call yet');
  t.equal(node.b2bua.listQueue().length, 1);
  const r = await cluster.client.command('3007', { type: 'ready', dn: '3007' });
  t.ok(r.ok);
  t.equal((await call.final).status, 200, 'connected once the agent was READY');
  t.equal(phone.invites.length, 1);
  await caller.ack(call, server);
  await caller.bye(call, server);
});

t.test('queue: no agent within the maximum wait → 480', async (t) => {
  const call = caller.call(server, numberOf('nobody'));
  const final = await call.final;
  t.equal(final.status, 480);
  t.ok(call.provisionals.some((p) => p.status === 182));
});

t.test('unknown number → 404; OPTIONS → 200', async (t) => {
  const call = caller.call(server, '9999');
  t.equal((await call.final).status, 404);
  const opt = await caller.request(server, 'OPTIONS', `sip:127.0.0.1:${server.port}`, [
    { name: 'Max-Forwards', value: '70' }, { name: 'From', value: '<sip:x@127.0.0.1>;tag=1' }, { name: 'To', value: '<sip:127.0.0.1>' },
    { name: 'Call-ID', value: 'opt-1' }, { name: 'CSeq', value: '1 OPTIONS' },
  ]);
  t.equal(opt.status, 200);
});

t.test('a restarted node releases the reservations it held (releaseByOwner)', async (t) => {
  const phone = await agentPhone('3008', 'restart', 'never');
  const addr = { host: '127.0.0.1', port: 0 };
  // A long ring timeout: the reservation TTL (65 s) cannot be what frees the agent.
  const first = await startNode(t, config, { nodeId: 'sip-crash', udp: addr, tcp: addr, admin: addr, ringTimeoutMs: 60_000, orphanHoldMs: 500 });
  await waitFor('view of 3008', () => first.view.get('3008'), (a) => a !== undefined && a.status.state === 'READY');
  const target = sipTarget(first);
  caller.call(target, numberOf('restart'));
  await waitFor('INVITE at the phone', () => phone.invites.length, (n) => n === 1);
  const held = await readAgent(cluster, '3008');
  t.equal(held.status.state, 'RESERVED');
  t.match(held.status, { reservation: { owner: 'sip-crash' } });
  await first.close(); // the "crash": nothing is released on the way down
  t.equal((await readAgent(cluster, '3008')).status.state, 'RESERVED', 'still held after the node died');
  const second = await startNode(t, config, { nodeId: 'sip-crash', udp: addr, tcp: addr, admin: addr });
  await second.reconciled;
  t.equal((await readAgent(cluster, '3008')).status.state, 'WRAP_UP', 'released by the restarted node, into the orphan hold');
  await waitFor('3008 READY after the hold', () => readAgent(cluster, '3008'), (a) => a.status.state === 'READY');
  t.pass('READY once the hold is over');
});

t.test('a grant gone by the time the agent answers: the confirm fails and both legs are hung up', async (t) => {
  const phone = await agentPhone('3010', 'confirm', 'answer');
  // While the phone rings, the grant disappears (as when its TTL ran out or a restarted
  // owner released it): the node has no right to this agent any more.
  phone.beforeAnswer = async () => {
    const a = await readAgent(cluster, '3010');
    if (a.status.state !== 'RESERVED') throw new Error(`3010 is ${a.status.state}, not RESERVED`);
    const r = await cluster.client.command('3010', { type: 'release', dn: '3010', reservationId: a.status.reservation.reservationId, outcome: 'failed' });
    if (!r.ok) throw new Error(`release refused: ${r.code}`);
  };
  const call = caller.call(server, numberOf('confirm'));
  t.equal((await call.final).status, 200, 'the caller was answered before the confirm (DESIGN.md: 200 → ACK → confirm)');
  await caller.ack(call, server);
  await call.byeReceived;
  t.pass('the caller got a BYE');
  await waitFor('agent leg BYE', () => phone.byes.length, (n) => n === 1);
  const cdr = await waitFor('CDR line', () => readFileSync(cdrPath, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l)), (l) => l.some((c) => c.service === numberOf('confirm')));
  t.match(cdr.find((c) => c.service === numberOf('confirm')), { outcome: 'confirm-failed', endedBy: 'node' });
  const metrics = await node.app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${config.tokens.read}` } });
  t.match(metrics.body, /ringfence_sip_calls_failed_total\{reason="confirm-failed",node="sip1"\} 1/);
  t.equal((await readAgent(cluster, '3010')).status.state, 'READY', 'the agent is not left BUSY');
  t.equal(phone.maxActive, 1);
});

t.test('a BYE right after the answer waits for the confirm: the call counts and wrap-up applies', async (t) => {
  await addAgent(cluster, config, '3011', { wrapup: 50 }, { wrapUpMs: 60_000 });
  const phone = await TestUa.start('answer');
  t.teardown(() => phone.close());
  t.equal((await phone.register(server, '3011', password('3011'), { expires: 600 })).response.status, 200);
  await waitFor('view of 3011', () => node.view.get('3011'), (a) => a?.status.state === 'READY' && a.contacts.length > 0);
  const call = caller.call(server, numberOf('wrapup'));
  t.equal((await call.final).status, 200);
  await caller.ack(call, server);
  t.equal((await caller.bye(call, server)).status, 200);
  const a = await waitFor('3011 released', () => readAgent(cluster, '3011'), (x) => x.status.state !== 'RESERVED' && x.status.state !== 'BUSY');
  t.equal(a.counters.callsAnswered, 1, 'the answered call is counted, though the BYE may have overtaken the confirm');
  t.equal(a.status.state, 'WRAP_UP', 'and the agent wraps up');
});

t.test('admin REST: registrations, calls, metrics', async (t) => {
  const auth = { authorization: `Bearer ${config.tokens.read}` };
  const regs = await node.app.inject({ method: 'GET', url: '/v1/registrations', headers: auth });
  t.equal(regs.statusCode, 200);
  const dns = (regs.json() as { registrations: { dn: string }[] }).registrations.map((r) => r.dn).sort();
  t.ok(['3001', '3003', '3005'].every((d) => dns.includes(d)), 'registered phones listed from the shards');
  const calls = await node.app.inject({ method: 'GET', url: '/v1/calls', headers: auth });
  t.same(calls.json(), { node: 'sip1', calls: [] }, 'no call left in progress');
  const metrics = await node.app.inject({ method: 'GET', url: '/metrics', headers: auth });
  t.match(metrics.body, /ringfence_sip_calls_answered_total\{node="sip1"\} [6-9]/);
  t.match(metrics.body, /ringfence_sip_reroutes_total\{reason="rejected-486",node="sip1"\} 1/);
  t.match(metrics.body, /ringfence_sip_setup_latency_seconds_count/);
  const noToken = await node.app.inject({ method: 'GET', url: '/v1/calls' });
  t.equal(noToken.statusCode, 401);
});
