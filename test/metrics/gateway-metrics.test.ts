// The media gateway's admin REST and /metrics, on a real `ringfence gateway` process
// started from a cluster file with `gateways[].admin`: /healthz and /readyz answer
// without a token, /metrics and /v1/status need one; real ng commands and real RTP/RTCP
// over loopback (a caller and an agent as plain UDP sockets) show up as the counters say —
// packets and bytes per leg, relayed packets, RFC 3550 loss of a deliberate gap, a
// latching reject from a stranger's port, port pairs in use, ng commands by command and
// result — and the counters keep their values after the call is deleted (its slots are
// reused, its figures are not lost). And /readyz, on an in-process gateway of 2 port pairs,
// says why it cannot take a call: control socket not bound, then no free port pair.
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ProcessSet, writeLocalClusterConfig } from '../../cluster/local-cluster.js';
import { deriveKey } from '../../common/keys.js';
import { startGatewayAdmin } from '../../gateway/admin.js';
import { parseArgs } from '../../gateway/cli-args.js';
import { Gateway } from '../../gateway/gateway.js';
import { GatewayMetrics } from '../../gateway/metrics.js';
import { NgClient } from '../../gateway/ng-client.js';
import { metricSample as sample } from '../support/metric-sample.js';
import { Endpoint, eventually, freePortRange, mediaPort, portRange, rtcpPacket, rtpPacket, sdp, sendAll } from '../gateway/helpers.js';

t.setTimeout(120_000);
const dir = mkdtempSync(join(tmpdir(), 'ringfence-gateway-metrics-'));
const { path, config } = await writeLocalClusterConfig({ dir, shards: 1, gateways: 1 });
const procs = new ProcessSet(path, { logFile: join(dir, 'processes.log') });
const killAll = (): void => procs.killAllNow();
process.once('exit', killAll);
t.teardown(async () => {
  await procs.stopAll(2000);
  process.removeListener('exit', killAll);
  rmSync(dir, { recursive: true, force: true });
});
const gw = config.gateways[0]!;
const ready = await procs.start('gateway', gw.id, [], 60_000);
const adminUrl = `http://${gw.admin!.host}:${gw.admin!.port}`;
const reader = { authorization: `Bearer ${config.tokens.read}` };
const ng = new NgClient({ host: gw.control.host, port: gw.control.port, timeoutMs: 1000, retries: 2, key: deriveKey(config.secret, 'ng-control') });
t.teardown(() => ng.close());

async function metrics(): Promise<string> {
  const res = await fetch(`${adminUrl}/metrics`, { headers: reader });
  if (res.status !== 200) throw new Error(`/metrics → ${res.status}`);
  return res.text();
}

t.test('the admin REST listens where the cluster file says, with the usual token rules', async (t) => {
  t.equal(ready.admin, gw.admin!.port, 'the ready line names the admin port');
  const health = await fetch(`${adminUrl}/healthz`);
  t.equal(health.status, 200, '/healthz needs no token');
  t.same(await health.json(), { status: 'ok' });
  const readyz = await fetch(`${adminUrl}/readyz`);
  t.equal(readyz.status, 200);
  t.match(await readyz.json(), { status: 'ready', checks: { control: { ok: true }, ports: { ok: true }, calls: { ok: true } } });
  const anonymous = await fetch(`${adminUrl}/metrics`);
  t.equal(anonymous.status, 401, '/metrics needs the read token');
  t.equal(((await anonymous.json()) as { code: string }).code, 'ADMIN_ERR_UNAUTHORIZED');
  const status = await fetch(`${adminUrl}/v1/status`, { headers: reader });
  t.equal(status.status, 200);
  t.match(await status.json(), { gateway: gw.id, control: gw.control.port, calls: 0, latching: 'strict', portPairs: { inUse: 0 } });
  const text = await metrics();
  t.match(text, /^# TYPE ringfence_gateway_rtp_packets_total counter$/m);
  t.equal(sample(text, 'ringfence_gateway_calls', { gateway: gw.id }), 0);
  t.equal(sample(text, 'ringfence_gateway_port_pairs', { state: 'in_use' }), 0);
  t.ok((sample(text, 'ringfence_gateway_port_pairs', { state: 'free' }) ?? 0) > 0, 'free port pairs');
});

t.test('a call\'s media in the counters, during the call and after its delete', async (t) => {
  await ng.ping();
  const caller = await Endpoint.open(t);
  const callerRtcp = await Endpoint.open(t);
  const agent = await Endpoint.open(t);
  const agentRtcp = await Endpoint.open(t);
  const stranger = await Endpoint.open(t);
  const offer = await ng.offer({ callId: 'm1', fromTag: 'caller', sdp: sdp(caller.port, '127.0.0.1', callerRtcp.port) });
  const answer = await ng.answer({ callId: 'm1', fromTag: 'caller', toTag: 'agent', sdp: sdp(agent.port, '127.0.0.1', agentRtcp.port) });
  const portA = mediaPort(answer.sdp);
  const portB = mediaPort(offer.sdp);
  await t.rejects(ng.answer({ callId: 'no-such-call', fromTag: 'x', toTag: 'y', sdp: sdp(agent.port) }), 'an answer for an unknown call is an error reply');

  const seqs = Array.from({ length: 50 }, (_, i) => i).filter((s) => s < 20 || s >= 25); // 5 lost
  await sendAll(caller, seqs.map((s) => rtpPacket(s, 0xaaaa)), portA);
  await eventually(() => (agent.received.length >= 45 ? true : undefined));
  await sendAll(agent, Array.from({ length: 30 }, (_, i) => rtpPacket(i, 0xbbbb)), portB);
  await eventually(() => (caller.received.length >= 30 ? true : undefined));
  for (let i = 0; i < 3; i++) await callerRtcp.send(rtcpPacket(0xaaaa), portA + 1);
  await eventually(() => (agentRtcp.received.length >= 3 ? true : undefined));
  // Strict latching: the caller's IP from another port is not the caller.
  await stranger.send(rtpPacket(999, 0xcccc), portA);
  await eventually(async () => ((sample(await metrics(), 'ringfence_gateway_dropped_packets_total', { leg: 'A', reason: 'latching' }) ?? 0) >= 1 ? true : undefined));

  const check = (text: string, when: string): void => {
    t.equal(sample(text, 'ringfence_gateway_rtp_packets_total', { leg: 'A' }), 45, `${when}: RTP packets from A`);
    t.equal(sample(text, 'ringfence_gateway_rtp_bytes_total', { leg: 'A' }), 45 * 172, `${when}: RTP bytes from A`);
    t.equal(sample(text, 'ringfence_gateway_rtp_packets_total', { leg: 'B' }), 30, `${when}: RTP packets from B`);
    t.equal(sample(text, 'ringfence_gateway_rtcp_packets_total', { leg: 'A' }), 3, `${when}: RTCP from A`);
    t.equal(sample(text, 'ringfence_gateway_relayed_packets_total', { leg: 'A' }), 48, `${when}: relayed A → B`);
    t.equal(sample(text, 'ringfence_gateway_relayed_bytes_total', { leg: 'B' }), 30 * 172, `${when}: bytes relayed B → A`);
    t.equal(sample(text, 'ringfence_gateway_rtp_lost_packets_total', { leg: 'A' }), 5, `${when}: the gap of 5`);
    t.equal(sample(text, 'ringfence_gateway_rtp_lost_packets_total', { leg: 'B' }), 0);
    t.equal(sample(text, 'ringfence_gateway_dropped_packets_total', { leg: 'A', reason: 'latching' }), 1, `${when}: one latching reject`);
    t.equal(sample(text, 'ringfence_gateway_ng_commands_total', { command: 'offer', result: 'ok' }), 1);
    t.equal(sample(text, 'ringfence_gateway_ng_commands_total', { command: 'answer', result: 'ok' }), 1);
    t.equal(sample(text, 'ringfence_gateway_ng_commands_total', { command: 'answer', result: 'error' }), 1);
    t.ok((sample(text, 'ringfence_gateway_ng_commands_total', { command: 'ping', result: 'pong' }) ?? 0) >= 1);
    t.equal(sample(text, 'ringfence_gateway_calls_created_total'), 1);
  };
  const during = await metrics();
  check(during, 'during the call');
  t.equal(sample(during, 'ringfence_gateway_calls'), 1);
  t.equal(sample(during, 'ringfence_gateway_port_pairs', { state: 'in_use' }), 2, 'a pair per leg');
  t.ok((sample(during, 'ringfence_gateway_jitter_max_seconds') ?? -1) >= 0);

  await ng.delete({ callId: 'm1' });
  const after = await metrics();
  check(after, 'after the delete');
  t.equal(sample(after, 'ringfence_gateway_calls'), 0);
  t.equal(sample(after, 'ringfence_gateway_port_pairs', { state: 'in_use' }), 0);
  t.equal(sample(after, 'ringfence_gateway_ng_commands_total', { command: 'delete', result: 'ok' }), 1);
  t.equal(sample(after, 'ringfence_gateway_leg_jitter_seconds_count'), 2, 'each leg\'s jitter observed at the end of its call');
});

t.test('/readyz names why the gateway cannot take a call', async (t) => {
  const gateway = new Gateway(parseArgs(['--control', '127.0.0.1:0', '--ports', await freePortRange(2), '--ng-auth', 'off']).gateway);
  t.teardown(() => gateway.close());
  let controlPort: number | null = null;
  const app = await startGatewayAdmin({ id: 'gw-ready', host: '127.0.0.1', port: 0, tokens: config.tokens, gateway, metrics: new GatewayMetrics({ gateway, control: null, id: 'gw-ready' }), controlPort: () => controlPort });
  t.teardown(() => app.close());
  const readyz = async (): Promise<{ status: number; body: { status?: string; missing?: string[] } }> => {
    const res = await app.inject({ method: 'GET', url: '/readyz' });
    return { status: res.statusCode, body: res.json() };
  };
  t.match(await readyz(), { status: 503, body: { status: 'not ready', missing: ['control: the ng control socket is not bound'] } });
  controlPort = 1;
  t.match(await readyz(), { status: 200, body: { status: 'ready' } });
  const offer = await gateway.handle({ command: 'offer', 'call-id': 'r1', 'from-tag': 'a', sdp: sdp(40000) });
  t.equal(offer['result'], 'ok', 'a call takes both pairs');
  t.match(await readyz(), { status: 503, body: { missing: [/^ports: no free port pair/] } });
  t.equal((await gateway.handle({ command: 'delete', 'call-id': 'r1' }))['result'], 'ok');
  t.match(await readyz(), { status: 200 }, 'ready again once the call is gone');
  t.equal((await app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200);
});
