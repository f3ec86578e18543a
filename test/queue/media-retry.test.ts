// A queued caller keeps its place when the media gateway fails at offer time (found by the
// chaos run: callers who had waited were ended 503 Media Unavailable while the only
// gateway restarted). Real processes: a shard replica process, a media gateway process
// (gateway/gateway-process.ts) that the test SIGKILLs and restarts on the same control
// port, a SIP node, callers and an agent phone as real SIP UAs on loopback.
//
// Two callers queue (A then B) with no agent READY. The gateway is SIGKILLed and the agent
// turns READY at once: the queue's shard claims it for A, the node reserves it, and the
// media offer fails (the node's ng attempts time out). A is put back at its place (counted
// in ringfence_sip_queue_media_requeued_total), the agent is released (READY, not left
// RESERVED), and neither caller gets a final answer while the gateway is down. The gateway
// restarts: A is answered by the agent (not 503) while B still waits; A hangs up and B is
// answered by the same agent: the order of the two waiting callers holds.
//
// Then the answer side: a new caller is routed to the READY agent; the gateway is SIGKILLed
// while the agent's phone rings, so the media answer for its 200 fails. The node BYEs that
// agent leg, releases the agent (READY again), and the call joins the queue (182 Queued)
// instead of 503; once the gateway is back the agent is invited again and the call answered.
//
// Last, a new call arriving while the node knows no gateway alive joins the queue (182) at
// once, the READY agent not reserved for it, and is answered once the gateway is back.
//
// The node's media controller is the production NgMediaController with a 1 s ng timeout
// (dead after 3 s of silence) so that the offer, sent right after the kill, meets a
// gateway the node still believes alive, and fails: the path under test.

import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import t from 'tap';
import type { GatewayConfig } from '../../common/config.js';
import { deriveKey } from '../../common/keys.js';
import { silentLogger } from '../../common/logger.js';
import { NgMediaController } from '../../sip/node/media.js';
import { addAgent, password, readAgent, sipTarget, startCluster, startNode, waitFor } from '../sip/node/harness.js';
import { TestUa, type OutgoingCall } from '../sip/node/test-ua.js';
import { tempDir } from '../support/temp-dir.js';

const service = { number: '6401', skill: 'retry', minLevel: 0 };
const dn = '4401';
const rtpPorts = '32800-32899';

const { cluster, config: base } = await startCluster(t, [service], 1);
const keyFile = join(tempDir(t, 'ngkey-media-retry'), 'ng.key');
writeFileSync(keyFile, deriveKey(base.secret, 'ng-control').toString('hex'), { mode: 0o600 });

const gateways: ChildProcess[] = [];
t.teardown(() => { for (const p of gateways) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL'); });

/** A gateway process on `controlPort` (0: any); resolves with the port it bound. */
async function startGateway(controlPort: number): Promise<{ proc: ChildProcess; control: number }> {
  const proc = spawn(process.execPath, ['--import', 'tsx', 'gateway/gateway-process.ts', '--control', `127.0.0.1:${controlPort}`, '--ports', rtpPorts, '--media-timeout-s', '60', '--ng-key-file', keyFile], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  gateways.push(proc);
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: proc.stdout! }).once('line', resolve);
    proc.once('exit', (code) => reject(new Error(`gateway exited ${code}`)));
  });
  return { proc, control: (JSON.parse(line) as { control: number }).control };
}

const first = await startGateway(0);
const [min, max] = rtpPorts.split('-').map(Number);
const gwConfig: GatewayConfig = { id: 'gw-retry', control: { host: '127.0.0.1', port: first.control }, portMin: min!, portMax: max!, admin: null, ngAuth: true };
const config = { ...base, gateways: [gwConfig] };
const media = new NgMediaController({ gateways: [gwConfig], log: silentLogger, rootSecret: base.secret, pollIntervalMs: 1000, ngTimeoutMs: 1000 });
const node = await startNode(t, config, { nodeId: 'sip-retry', ringTimeoutMs: 5000, queueWaitMs: 120_000, media });
const server = sipTarget(node);
const gatewayPort = first.control;
let gateway = first;
let agentPhone: TestUa | null = null;

async function requeued(): Promise<number> {
  const res = await node.app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${config.tokens.read}` } });
  return Number(/^ringfence_sip_queue_media_requeued_total(?:\{[^}]*\})? (\d+)/m.exec(res.body)?.[1] ?? NaN);
}

t.teardown(() => agentPhone?.close());

t.test('a queued caller whose media offer fails keeps its place and is answered once the gateway is back', async (t) => {
  await addAgent(cluster, config, dn, { retry: 50 }, { ready: false, wrapUpMs: 0 });
  const phone = await TestUa.start('answer');
  agentPhone = phone;
  t.equal((await phone.register(server, dn, password(dn), { expires: 600 })).response.status, 200, 'agent registered');
  const caller = await TestUa.start();
  t.teardown(() => caller.close());

  const queued = async (): Promise<OutgoingCall> => {
    const call = caller.call(server, service.number);
    await waitFor('182 Queued', () => call.provisionals.some((p) => p.status === 182), (x) => x, 20_000);
    return call;
  };
  const a = await queued();
  const b = await queued();
  const finals: string[] = [];
  void a.final.then((r) => finals.push(`A ${r.status}`));
  void b.final.then((r) => finals.push(`B ${r.status}`));

  first.proc.kill('SIGKILL');
  await new Promise((r) => first.proc.once('exit', r));
  t.ok((await cluster.client.command(dn, { type: 'ready', dn })).ok, 'agent READY right after the gateway was killed');

  // Claim → reserve → offer fails (it times out: the node then marks the gateway dead) →
  // A goes back to its place and the agent is released.
  await waitFor('the gateway seen dead', () => media.status()[0]!.alive, (alive) => !alive, 30_000);
  const agent = await waitFor('the agent released', () => readAgent(cluster, dn), (x) => x.status.state !== 'RESERVED', 15_000);
  t.equal(agent.status.state, 'READY', 'the agent is READY, not left RESERVED, while the gateway is down');
  // Claims for A are held while no gateway answers: the agent is not reserved again (each
  // reserve would end in another failed offer, counted).
  const requeuedWhileDown = await requeued();
  await new Promise((r) => setTimeout(r, 3000));
  t.same(finals, [], 'neither caller got a final answer (no 503) while the gateway was down');
  t.ok(requeuedWhileDown >= 1, `the failed offer put A back in the queue (${requeuedWhileDown} counted)`);
  t.equal(await requeued(), requeuedWhileDown, 'no claim → reserve → failed offer churn while the gateway is down');
  t.equal((await readAgent(cluster, dn)).status.state, 'READY', 'still READY');
  t.equal(phone.invites.length, 0, 'the agent\'s phone was not called without media');

  const second = await startGateway(gatewayPort);
  t.equal(second.control, first.control, 'the gateway restarted on the same control port');

  const answeredA = await a.final;
  t.equal(answeredA.status, 200, 'A, the older caller, is answered by the agent once the gateway is back');
  t.same(finals, ['A 200'], 'B still waits');
  const answerPort = Number(/m=audio (\d+)/.exec(Buffer.from(answeredA.body).toString())?.[1]);
  t.ok(answerPort >= min! && answerPort <= max!, `A's answer carries the restarted gateway's media port (${answerPort})`);
  await caller.ack(a, server);
  // The confirm (RESERVED → BUSY) follows the caller's 200 (DESIGN.md: 200 → ACK → confirm).
  await waitFor('the agent BUSY on A\'s call', () => readAgent(cluster, dn), (x) => x.status.state === 'BUSY', 15_000);

  t.equal((await caller.bye(a, server)).status, 200, 'A hung up');
  const answeredB = await b.final;
  t.equal(answeredB.status, 200, 'then B is answered by the same agent: the order held');
  t.same(finals, ['A 200', 'B 200']);
  await caller.ack(b, server);
  t.equal((await caller.bye(b, server)).status, 200, 'B hung up');
  t.equal(phone.invites.length, 2, 'the agent\'s phone was called once per caller');
  gateway = second;
});

t.test('a call whose media answer fails (gateway killed while the agent\'s phone rings) is queued, then answered', async (t) => {
  const phone = agentPhone!;
  const caller = await TestUa.start();
  t.teardown(() => caller.close());
  await waitFor('the agent READY', () => readAgent(cluster, dn), (x) => x.status.state === 'READY', 15_000);
  const before = await requeued();
  const invitesBefore = phone.invites.length;
  const byesBefore = phone.byes.length;
  let killed = false;
  phone.beforeAnswer = async () => {
    if (killed) return;
    killed = true;
    gateway.proc.kill('SIGKILL');
    await new Promise((r) => gateway.proc.once('exit', r));
  };
  const c = caller.call(server, service.number);
  let final: number | null = null;
  void c.final.then((r) => { final = r.status; });
  await waitFor('the failed answer counted', requeued, (n) => n > before, 30_000);
  await waitFor('the gateway seen dead', () => media.status()[0]!.alive, (alive) => !alive, 30_000);
  await waitFor('the caller queued (182)', () => c.provisionals.some((p) => p.status === 182), (x) => x, 15_000);
  t.equal(final, null, 'no final answer (no 503) while the gateway is down');
  const agent = await waitFor('the agent released', () => readAgent(cluster, dn), (x) => x.status.state !== 'RESERVED', 15_000);
  t.equal(agent.status.state, 'READY', 'the agent is READY again, not left RESERVED or BUSY');
  await waitFor('the first agent leg ended by the node', () => phone.byes.length, (n) => n > byesBefore, 15_000);

  gateway = await startGateway(gatewayPort);
  t.equal((await c.final).status, 200, 'answered by the agent once the gateway is back');
  t.equal(phone.invites.length, invitesBefore + 2, 'the agent\'s phone was invited again');
  await caller.ack(c, server);
  t.equal((await caller.bye(c, server)).status, 200, 'hung up');
});

t.test('a new call while no gateway is alive queues without reserving the agent, and is answered once it is back', async (t) => {
  const phone = agentPhone!;
  phone.beforeAnswer = null;
  const caller = await TestUa.start();
  t.teardown(() => caller.close());
  await waitFor('the agent READY', () => readAgent(cluster, dn), (x) => x.status.state === 'READY', 15_000);
  gateway.proc.kill('SIGKILL');
  await new Promise((r) => gateway.proc.once('exit', r));
  await waitFor('the gateway seen dead', () => media.status()[0]!.alive, (alive) => !alive, 30_000);
  const before = await requeued();
  const invitesBefore = phone.invites.length;
  const d = caller.call(server, service.number);
  let final: number | null = null;
  void d.final.then((r) => { final = r.status; });
  await waitFor('182 Queued', () => d.provisionals.some((p) => p.status === 182), (x) => x, 15_000);
  t.equal(final, null, 'no final answer (no 503)');
  t.equal(await requeued(), before, 'queued at once: no reserve and failed offer first');
  t.equal((await readAgent(cluster, dn)).status.state, 'READY', 'the agent is not reserved');
  gateway = await startGateway(gatewayPort);
  t.equal((await d.final).status, 200, 'answered by the agent once the gateway is back');
  t.equal(phone.invites.length, invitesBefore + 1, 'the agent\'s phone was invited once');
  await caller.ack(d, server);
  t.equal((await caller.bye(d, server)).status, 200, 'hung up');
});
