// Every role's /metrics passes `promtool check metrics` (Prometheus's own linter: counter
// names end in _total, base units, no abbreviated units, HELP on every family, valid
// exposition format). A real cluster runs as processes: one shard of 3 replicas (a leader,
// whose agents-by-state gauge has samples, and followers, whose has none), a SIP node
// and a media gateway with its admin REST. Before scraping, an agent is provisioned and
// a call's media crosses the gateway and a malformed SIP message reaches the node, so
// labelled families have samples to lint, not just their HELP and TYPE lines. promtool
// exits 3 and names each problem on a lint failure; a warning is a failure here too.
// (`ringfence phones` serves no /metrics.) Skipped when promtool is absent, unless
// REQUIRE_PROMTOOL=1 (.ci/run sets it), when its absence fails the test. PROMTOOL names
// another binary than `promtool` on PATH.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ProcessSet, writeLocalClusterConfig } from '../../cluster/local-cluster.js';
import { deriveKey } from '../../common/keys.js';
import { NgClient } from '../../gateway/ng-client.js';
import { ShardClient } from '../../shards/client/shard-client.js';
import { Endpoint, eventually, mediaPort, rtpPacket, sdp, sendAll } from '../gateway/helpers.js';

const promtoolBin = process.env.PROMTOOL ?? 'promtool';
const promtool = spawnSync(promtoolBin, ['--version'], { encoding: 'utf8' });
if (promtool.error !== undefined || promtool.status !== 0) {
  if (process.env.REQUIRE_PROMTOOL === '1') throw new Error(`REQUIRE_PROMTOOL=1 but ${promtoolBin} does not run: ${promtool.error?.message ?? promtool.stderr} (Debian: apt-get install prometheus)`);
  (t.skip as unknown as (msg: string) => void)('promtool is not installed (Debian: apt-get install prometheus); set REQUIRE_PROMTOOL=1 to fail instead');
} else {
  await run();
}

async function run(): Promise<void> {
  t.setTimeout(180_000);
  const dir = mkdtempSync(join(tmpdir(), 'ringfence-promtool-'));
  const { path, config } = await writeLocalClusterConfig({ dir, shards: 1, sipNodes: 1, gateways: 1, services: [{ number: '5000', skill: 'support' }] });
  const procs = new ProcessSet(path, { logFile: join(dir, 'processes.log') });
  const killAll = (): void => procs.killAllNow();
  process.once('exit', killAll);
  const client = new ShardClient({ shards: config.shards, auth: { secret: config.secret, principal: 'launcher' }, attemptTimeoutMs: 1000, deadlineMs: 20_000 });
  t.teardown(async () => {
    client.close();
    await procs.stopAll(2000);
    process.removeListener('exit', killAll);
    rmSync(dir, { recursive: true, force: true });
  });
  const shard = config.shards[0]!;
  const gw = config.gateways[0]!;
  await Promise.all([...shard.replicas.map((r) => procs.start('shard', r.id, [], 120_000)), procs.start('gateway', gw.id, [], 60_000)]);
  await procs.start('sip', config.sip[0]!.id, [], 120_000);

  // Samples in the labelled families: an agent (agents by state), an ng call with RTP
  // (per-leg counters, ng commands), a malformed SIP datagram (parse errors).
  const dn = '1001';
  if (!(await client.command(dn, { type: 'provision', dn, name: 'Ada', skills: { support: 50 }, wrapUpMs: 0, maxNoAnswer: 0, credentials: null })).ok) throw new Error('provision failed');
  const ng = new NgClient({ host: gw.control.host, port: gw.control.port, timeoutMs: 1000, retries: 2, key: deriveKey(config.secret, 'ng-control') });
  t.teardown(() => ng.close());
  const caller = await Endpoint.open(t);
  const agent = await Endpoint.open(t);
  await ng.offer({ callId: 'lint', fromTag: 'a', sdp: sdp(caller.port) });
  const answer = await ng.answer({ callId: 'lint', fromTag: 'a', toTag: 'b', sdp: sdp(agent.port) });
  await sendAll(caller, Array.from({ length: 10 }, (_, i) => rtpPacket(i)), mediaPort(answer.sdp));
  await eventually(() => (agent.received.length >= 10 ? true : undefined));
  const udp = createSocket('udp4');
  await new Promise<void>((r) => udp.send(Buffer.from('INVITE nonsense\r\n\r\n'), config.sip[0]!.udp.port, '127.0.0.1', () => r()));
  udp.close();

  const targets = [
    ...shard.replicas.map((r) => ({ role: `shard replica ${r.id}`, url: `http://${r.admin.host}:${r.admin.port}/metrics` })),
    { role: `SIP node ${config.sip[0]!.id}`, url: `http://${config.sip[0]!.admin.host}:${config.sip[0]!.admin.port}/metrics` },
    { role: `gateway ${gw.id}`, url: `http://${gw.admin!.host}:${gw.admin!.port}/metrics` },
  ];
  const leaderSeen = await eventually(async () => {
    for (const r of shard.replicas) {
      const text = await (await fetch(`http://${r.admin.host}:${r.admin.port}/metrics`, { headers: { authorization: `Bearer ${config.tokens.read}` } })).text();
      if (/^ringfence_agents\{state="LOGGED_OUT"[^}]*\} 1$/m.test(text)) return r.id;
    }
    return undefined;
  }, 100, 100);
  t.ok(leaderSeen, `the leader (${leaderSeen}) exports agents by state`);

  for (const target of targets) {
    t.test(`promtool check metrics: ${target.role}`, async (t) => {
      const res = await fetch(target.url, { headers: { authorization: `Bearer ${config.tokens.read}` } });
      t.equal(res.status, 200);
      const text = await res.text();
      t.match(text, /^# TYPE ringfence_/m, 'Ringfence metrics are there to check');
      const check = spawnSync(promtoolBin, ['check', 'metrics'], { input: text, encoding: 'utf8' });
      const said = `${check.stdout}${check.stderr}`.trim();
      t.equal(check.status, 0, `promtool exit status (it said: ${said || 'nothing'})`);
      t.equal(said, '', 'no lint problem or warning');
    });
  }
}
