// Acceptance (issue 4, torture messages) against a running `ringfence sip` process, not
// just the parser: every RFC 4475 vector in test/sip/torture is sent to the node's UDP
// port. The valid ones raise no parse error; each invalid one is counted in /metrics under
// the code test/sip/syntax/torture.test.ts records for it; and afterwards the node still
// answers OPTIONS and connects a call to an agent phone.
import dgram from 'node:dgram';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { adminGet } from '../../../cluster/cluster-view.js';
import type { SipTarget } from '../../../sip/transport/index.js';
import { SERVICE_NUMBER, startCallCluster } from '../../../cluster/sipp/call-cluster.js';
import { TestUa } from './test-ua.js';
import { tempDir } from '../../support/temp-dir.js';

const torture = join(dirname(fileURLToPath(import.meta.url)), '..', 'torture');
type Entry = { file: string; code?: string };
const index = JSON.parse(readFileSync(join(torture, 'index.json'), 'utf8')) as { valid: Entry[]; invalid: Entry[] };

const dir = tempDir(t, 'torture-node');
const cluster = await startCallCluster({
  dir, shards: 1, sipNodes: 1, agents: [{ dn: '4001', behaviour: 'answer' }, { dn: '4002', behaviour: 'answer' }],
  answerAfterMs: 0, ringTimeoutMs: 5000, queueWaitMs: 5000, wrapUpMs: 0,
});
t.teardown(() => cluster.stop());
const node: SipTarget = { protocol: 'UDP', host: '127.0.0.1', port: Number(cluster.sipTargets[0]!.split(':')[1]) };
const ua = await TestUa.start();
t.teardown(() => ua.close());
const raw = dgram.createSocket('udp4');
await new Promise<void>((r) => raw.bind(0, '127.0.0.1', () => r()));
t.teardown(() => raw.close());

async function parseErrors(): Promise<Record<string, number>> {
  const sip = cluster.config.sip[0]!;
  const res = await adminGet(sip.admin, '/metrics', cluster.config.tokens.read, 10_000);
  // Without the family the checks below would pass on an empty map.
  if (!res.text.includes('# TYPE ringfence_sip_parse_errors_total ')) throw new Error('/metrics lacks ringfence_sip_parse_errors_total');
  const out: Record<string, number> = {};
  for (const m of res.text.matchAll(/^ringfence_sip_parse_errors_total\{kind="([^"]+)"[^}]*\} (\d+)$/gm)) {
    if (Number(m[2]) > 0) out[m[1]!] = Number(m[2]);
  }
  return out;
}

/** Sends each vector as one datagram, then an OPTIONS of our own: loopback keeps the order,
 * so its 200 means the node has read every vector before it. */
async function sendAll(kind: 'valid' | 'invalid'): Promise<number> {
  for (const e of index[kind]) {
    const bytes = readFileSync(join(torture, kind, e.file));
    await new Promise<void>((resolve, reject) => raw.send(bytes, node.port, node.host, (err) => (err ? reject(err) : resolve())));
  }
  const res = await ua.request(node, 'OPTIONS', `sip:127.0.0.1:${node.port}`, [
    { name: 'Max-Forwards', value: '70' }, { name: 'From', value: '<sip:probe@127.0.0.1>;tag=t1' }, { name: 'To', value: '<sip:127.0.0.1>' },
    { name: 'Call-ID', value: `torture-barrier-${kind}` }, { name: 'CSeq', value: '1 OPTIONS' },
  ]);
  return res.status;
}

t.test('the valid vectors reach the node without a parse error', async (t) => {
  t.equal(await sendAll('valid'), 200, 'OPTIONS after them is answered');
  t.same(await parseErrors(), {}, `all ${index.valid.length} parsed`);
});

t.test('each invalid vector is rejected under its recorded code', async (t) => {
  const expected: Record<string, number> = {};
  for (const e of index.invalid) expected[e.code!] = (expected[e.code!] ?? 0) + 1;
  t.equal(await sendAll('invalid'), 200, 'OPTIONS after them is answered');
  t.same(await parseErrors(), expected, `${index.invalid.length} rejections by code`);
});

t.test('the node keeps serving: a call to the service number is answered by an agent', async (t) => {
  t.ok(cluster.procs.isRunning('sip1'), 'the SIP node process is still running');
  const call = ua.call(node, SERVICE_NUMBER);
  const final = await call.final;
  t.equal(final.status, 200, 'answered');
  await ua.ack(call, node);
  t.equal((await ua.bye(call, node)).status, 200, 'hung up');
});
