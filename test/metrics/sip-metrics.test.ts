// The SIP node's transport metrics against a real node on loopback (no shards: only its
// listeners matter here), read from its /metrics: `ringfence_sip_parse_errors_total` is a
// counter (it was a gauge with a counter's name) that counts each malformed datagram; the
// per-source protections are counters by reason — a UDP flood's 503s (RATE_LIMITED) and
// silent drops (SOURCE_FLOODING) in exactly the numbers the token buckets allow, a TCP
// connection over the per-source cap, a TCP message past its deadline; and calls by
// service is a gauge with one sample per configured service (its collector, fed calls
// by service as the node's B2BUA lists them, also for a number no longer configured).
import t from 'tap';
import { createSipNodeMetrics } from '../../sip/node/metrics.js';
import { startNode } from '../sip/node/harness.js';
import { metricSample } from '../support/metric-sample.js';
import { listenersOnlyConfig, rawRequest, sendUdp, tcpConnect, tcpStatus, udpPeer } from '../sip/node/raw-sip.js';

const base = await listenersOnlyConfig(t);
const config = { ...base, services: [{ number: '5000', skill: 'support', minLevel: 0 }, { number: '5001', skill: 'sales', minLevel: 0 }] };
const burst = 5;
const rejectBurst = 3;
const node = await startNode(t, config, {
  // Refills of a token every 100 s: no bucket refills during the test.
  sourceLimits: { requestsPerSecond: 0.01, burst, rejectsPerSecond: 0.01, rejectBurst, trusted: [] },
  transportLimits: { tcpMessageDeadlineMs: 200, tcpConnectionsPerSourceMax: 2 },
});

async function metrics(): Promise<string> {
  const res = await node.app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${config.tokens.read}` } });
  if (res.statusCode !== 200) throw new Error(`/metrics → ${res.statusCode}`);
  return res.body;
}
/** The value of one sample, by its labels in any order (0 when absent). */
const sample = (text: string, name: string, labels: Record<string, string>): number => metricSample(text, name, labels) ?? 0;

t.test('types: counters are counters, calls by service a gauge with every service', async (t) => {
  const text = await metrics();
  t.match(text, /^# TYPE ringfence_sip_parse_errors_total counter$/m, 'parse errors: a counter');
  t.match(text, /^# TYPE ringfence_sip_dropped_total counter$/m);
  t.match(text, /^# TYPE ringfence_sip_connections_rejected_total counter$/m);
  t.match(text, /^# TYPE ringfence_sip_calls gauge$/m);
  t.equal(sample(text, 'ringfence_sip_calls', { service: '5000' }), 0, 'an idle service has a sample of 0');
  t.match(text, /^ringfence_sip_calls\{service="5001",node="[^"]+"\} 0$/m);
});

t.test('a malformed datagram counts once per parser code, and the count only grows', async (t) => {
  const peer = await udpPeer(t, '127.0.0.9');
  const bad = rawRequest({ from: { host: '127.0.0.9', port: peer.port }, toPort: node.udpPort, extraHeaders: 'Max-Forwards: lots\r\n' });
  const before = sample(await metrics(), 'ringfence_sip_parse_errors_total', { transport: 'udp' });
  t.equal(before, 0);
  for (let i = 1; i <= 2; i++) {
    const answer = peer.next();
    await sendUdp(peer.socket, bad, node.udpPort);
    t.equal((await answer).status, 400, 'answered 400');
    const text = await metrics();
    const total = [...text.matchAll(/^ringfence_sip_parse_errors_total\{[^}]*transport="udp"[^}]*\} (\d+)$/gm)].reduce((a, m) => a + Number(m[1]), 0);
    t.equal(total, i, `${i} parse error(s) counted`);
    t.equal(sample(text, 'ringfence_sip_bad_requests_answered_total', { transport: 'udp' }), i);
  }
});

t.test('a UDP flood: RATE_LIMITED for its 503s, SOURCE_FLOODING for the silent drops', async (t) => {
  const flooder = await udpPeer(t, '127.0.0.2');
  const flood = 30;
  for (let i = 0; i < flood; i++) await sendUdp(flooder.socket, rawRequest({ from: { host: '127.0.0.2', port: flooder.port }, toPort: node.udpPort }), node.udpPort);
  // A barrier from another source: one socket, read in order.
  const other = await udpPeer(t, '127.0.0.3');
  const answer = other.next();
  await sendUdp(other.socket, rawRequest({ from: { host: '127.0.0.3', port: other.port }, toPort: node.udpPort }), node.udpPort);
  t.equal((await answer).status, 200);
  const text = await metrics();
  t.equal(sample(text, 'ringfence_sip_dropped_total', { reason: 'SIP_ERR_TRANSPORT_RATE_LIMITED', transport: 'udp' }), rejectBurst, `${rejectBurst} answered 503`);
  t.equal(sample(text, 'ringfence_sip_dropped_total', { reason: 'SIP_ERR_TRANSPORT_SOURCE_FLOODING', transport: 'udp' }), flood - burst - rejectBurst, 'the rest dropped unread');
});

t.test('TCP: a connection over the per-source cap, and a message past its deadline', async (t) => {
  const held = [await tcpConnect(t, node.tcpPort, '127.0.0.6'), await tcpConnect(t, node.tcpPort, '127.0.0.6')];
  const extra = await tcpConnect(t, node.tcpPort, '127.0.0.6');
  t.equal(await tcpStatus(extra), null, 'the third connection is closed');
  for (const c of held) {
    c.socket.write(rawRequest({ from: { host: '127.0.0.6', port: c.socket.localPort! }, toPort: node.tcpPort, transport: 'TCP' }));
    t.equal(await tcpStatus(c), 200);
  }
  const slow = await tcpConnect(t, node.tcpPort, '127.0.0.7');
  slow.socket.write(rawRequest({ from: { host: '127.0.0.7', port: slow.socket.localPort! }, toPort: node.tcpPort, transport: 'TCP' }).subarray(0, 20));
  await slow.closed;
  const text = await metrics();
  t.equal(sample(text, 'ringfence_sip_dropped_total', { reason: 'SIP_ERR_TRANSPORT_SOURCE_CONNECTIONS_EXHAUSTED', transport: 'tcp' }), 1);
  t.equal(sample(text, 'ringfence_sip_connections_rejected_total', { transport: 'tcp' }), 1);
  t.equal(sample(text, 'ringfence_sip_dropped_total', { reason: 'SIP_ERR_TRANSPORT_MESSAGE_DEADLINE', transport: 'tcp' }), 1, 'the half-sent message closed at its deadline');
});

t.test('calls by service: what the node holds, every configured service, and one no longer configured', async (t) => {
  let byService: Record<string, number> = { '5000': 2, '5009': 1 };
  const m = createSipNodeMetrics('n-unit', () => [], () => ({ calls: 3, queued: 0, callsByService: byService }), ['5000', '5001']);
  let text = await m.registry.metrics();
  t.equal(sample(text, 'ringfence_sip_calls', { service: '5000' }), 2);
  t.equal(sample(text, 'ringfence_sip_calls', { service: '5001' }), 0);
  t.equal(sample(text, 'ringfence_sip_calls', { service: '5009' }), 1);
  byService = {};
  text = await m.registry.metrics();
  t.equal(sample(text, 'ringfence_sip_calls', { service: '5000' }), 0, 'calls that ended leave no stale value');
  t.notMatch(text, /service="5009"/, 'nor a series for a number no call uses any more');
});
