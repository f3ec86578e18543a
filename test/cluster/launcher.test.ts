// Proves what `npm start` hands its children and where it listens. Unit: a child's
// environment keeps what Node needs and drops every RINGFENCE_* variable; --advertise
// takes only an IPv4 address of this machine. Real processes: `ringfence start
// --advertise 127.0.0.2` with RINGFENCE_DATA set (the issue's case: the children used to
// inherit it as their --data, and all replicas opened one LevelDB) gives each replica its
// own directory under it, serves /healthz and /readyz on 127.0.0.2, and a SIPp call to
// the support line is answered with a Contact and an SDP that carry 127.0.0.2 — the SIP
// node's and the gateway's advertised address — without leaving loopback. Its printed
// softphone hint names the server address, agent 1100's credentials and service 5100, and
// the fingerprint of the certificate its TLS listener presents. The call's CDR is in the
// data directory and on GET /v1/cdrs (CDRs are on by default).
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { connect as tlsConnect } from 'node:tls';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { parse as parseYaml } from 'yaml';
import { advertiseAddress, supervise } from '../../cluster/launcher.js';
import { childEnv, freePorts, ProcessSet, writeLocalClusterConfig } from '../../cluster/local-cluster.js';
import { needSipp, scenarioPath, sippMessageLog, startSippFor } from '../../cluster/sipp/driver.js';
import { nodeEntryArgs } from '../../common/node-entry.js';
import { tempDir } from '../support/temp-dir.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

t.test('a child environment: what Node needs, no RINGFENCE_* flag fallbacks', async (t) => {
  const env = childEnv({ PATH: '/usr/bin', HOME: '/root', LC_ALL: 'C.UTF-8', NODE_OPTIONS: '--max-old-space-size=512', RINGFENCE_DATA: '/x', RINGFENCE_ID: 'a', RINGFENCE_LOG_LEVEL: 'debug', SECRET_THING: 'y' }, { EXTRA: '1' });
  t.same(env, { PATH: '/usr/bin', HOME: '/root', LC_ALL: 'C.UTF-8', NODE_OPTIONS: '--max-old-space-size=512', RINGFENCE_LOG_LEVEL: 'debug', EXTRA: '1' });
});

t.test('--advertise takes an IPv4 address of this machine', async (t) => {
  const interfaces = { eth0: [{ address: '192.0.2.7', family: 'IPv4' }] } as unknown as Parameters<typeof advertiseAddress>[1];
  t.equal(advertiseAddress('192.0.2.7', interfaces), '192.0.2.7');
  t.equal(advertiseAddress('127.0.0.2', interfaces), '127.0.0.2', 'any loopback address');
  t.throws(() => advertiseAddress('pbx.example.com', interfaces), { code: 'CLI_ERR_USAGE', message: /--advertise: expected an IPv4 address/ });
  t.throws(() => advertiseAddress('::1', interfaces), { code: 'CLI_ERR_USAGE', message: /expected an IPv4 address/ });
  t.throws(() => advertiseAddress('0.0.0.0', interfaces), { message: /0\.0\.0\.0 cannot be advertised/ });
  t.throws(() => advertiseAddress('198.51.100.1', interfaces), { message: /198\.51\.100\.1 is not an address of this machine \(it has 192\.0\.2\.7\)/ });
});

t.test('the launcher does not restart a child that exits 78 (a bad cluster file), as systemd would not', async (t) => {
  const dir = tempDir(t, 'launcher');
  const { path } = await writeLocalClusterConfig({ dir, shards: 1 });
  writeFileSync(path, `${readFileSync(path, 'utf8')}\nrelam: typo\n`, { mode: 0o600 });
  const procs = new ProcessSet(path);
  t.teardown(() => procs.stopAll(1000));
  const said: string[] = [];
  const supervisor = supervise(procs, (line) => said.push(line));
  t.teardown(() => supervisor.stop());
  await t.rejects(supervisor.start('shard', 's1-a'), /exited \(78\) before it was ready/);
  // onExit runs before start() rejects, so its decision is already made here.
  t.same(said, ['ringfence: shard s1-a exited (code 78: bad cluster file); not restarting it (see s1-a\'s lines in the log)\n']);
});

t.test('npm start --advertise 127.0.0.2 with RINGFENCE_DATA set', async (t) => {
  if (!needSipp(t)) return;
  const dir = tempDir(t, 'launcher');
  const addr = '127.0.0.2';
  const [sipPort, adminPort, callerPort, tlsPort] = await freePorts(4, addr);
  const launcher = spawn(process.execPath, [...nodeEntryArgs(join(root, 'cluster/cli.ts')), 'start', '--shards', '1', '--agents', '1', '--advertise', addr, '--sip-port', String(sipPort), '--admin-port', String(adminPort), '--sip-tls-port', String(tlsPort)], {
    cwd: root, env: { ...process.env, RINGFENCE_DATA: dir }, stdio: ['ignore', 'pipe', 'pipe'], detached: true,
  });
  // Its own process group: the teardown ends the launcher and every child it started,
  // even when the launcher itself is wedged.
  t.teardown(async () => {
    if (launcher.exitCode !== null || launcher.signalCode !== null) return;
    const gone = new Promise((r) => launcher.once('exit', r));
    process.kill(-launcher.pid!, 'SIGTERM');
    const hard = setTimeout(() => process.kill(-launcher.pid!, 'SIGKILL'), 8000);
    await gone;
    clearTimeout(hard);
  });
  let out = '';
  launcher.stdout!.on('data', (d: Buffer) => (out += d.toString('utf8')));
  let err = '';
  launcher.stderr!.on('data', (d: Buffer) => (err += d.toString('utf8')));
  await new Promise<void>((resolve, reject) => {
    launcher.stdout!.on('data', () => out.includes('ringfence: ready') && resolve());
    launcher.once('exit', (code) => reject(new Error(`the launcher exited (${code}) before it was ready: ${out}\n${err}`)));
  });
  t.match(out, new RegExp(`SIP on ${addr.replace(/\./g, '\\.')}:${sipPort} \\(UDP and TCP\\)`), 'the hint names the advertised address');
  t.match(out, `http://${addr}:${adminPort}/`);
  // The softphone hint: the server is the address (not the realm), agent 1100 on its own
  // service, and the fingerprint of the certificate the TLS listener really presents.
  t.match(out, `server/domain ${addr}:${sipPort}, transport UDP or TCP (or TLS: ${addr}:${tlsPort})`);
  t.match(out, 'username 1100, password agent-1100');
  t.match(out, '-s 5100');
  const printed = /fingerprint: ((?:[0-9A-F]{2}:){31}[0-9A-F]{2})/.exec(out)?.[1];
  t.ok(printed, 'the certificate fingerprint is printed');
  t.equal(statSync(join(dir, 'sip-tls-key.pem')).mode & 0o777, 0o600, 'the TLS key is readable by its owner only');
  const presented = await new Promise<string>((resolve, reject) => {
    const s = tlsConnect({ host: addr, port: tlsPort!, rejectUnauthorized: false }, () => {
      resolve(s.getPeerCertificate().fingerprint256);
      s.destroy();
    });
    s.once('error', reject);
  });
  t.equal(presented, printed, 'the TLS listener presents the certificate whose fingerprint was printed');

  t.ok(existsSync(join(dir, 'cluster.yaml')), 'the launcher took RINGFENCE_DATA as its --data');
  for (const id of ['s1-a', 's1-b', 's1-c']) t.ok(readdirSync(join(dir, id)).length > 0, `${id} keeps its data in its own directory`);
  t.notOk(readdirSync(dir).some((f) => f === 'CURRENT' || f === 'LOCK'), 'no replica opened the data directory itself as its LevelDB');

  const health = await fetch(`http://${addr}:${adminPort}/healthz`);
  t.same({ status: health.status, body: await health.json() }, { status: 200, body: { status: 'ok' } }, '/healthz on the advertised address');
  for (;;) {
    const ready = await fetch(`http://${addr}:${adminPort}/readyz`);
    if (ready.status === 200) break;
    await sleep(100);
  }
  t.pass('/readyz turns 200 on the advertised address');

  const callerDir = join(dir, 'caller');
  const call = await startSippFor(t, {
    scenario: scenarioPath('caller'), dir: callerDir, remote: `${addr}:${sipPort}`, localPort: callerPort!, service: '5000',
    maxCalls: 1, timeoutS: 60, set: { hold_min_ms: 200, hold_spread_ms: 0 }, extra: ['-trace_msg'],
  });
  const result = await call.done;
  t.equal(result.stats?.successful, 1, `the demo agent answered (errors: ${result.errorLog})`);
  const ok = sippMessageLog(callerDir, call.pid).find((m) => m.direction === 'received' && /^SIP\/2\.0 200/.test(m.text) && /CSeq:\s*\d+ INVITE/i.test(m.text));
  t.ok(ok, 'the caller got a 200 to its INVITE');
  t.match(ok?.text ?? '', new RegExp(`^Contact:.*@${addr.replace(/\./g, '\\.')}:${sipPort}`, 'mi'), 'the SIP node\'s Contact carries the advertised address');
  t.match(ok?.text ?? '', new RegExp(`^c=IN IP4 ${addr.replace(/\./g, '\\.')}\\s*$`, 'm'), 'the SDP points the media at the gateway on the advertised address');
  // CDRs are on by default: the SIP node's file in the data directory, read by GET /v1/cdrs.
  const readToken = (parseYaml(readFileSync(join(dir, 'cluster.yaml'), 'utf8')) as { tokens: { read: string } }).tokens.read;
  let cdrs: { service: string; outcome: string }[] = [];
  for (let i = 0; i < 100 && cdrs.length === 0; i++, await sleep(100)) {
    const res = await fetch(`http://${addr}:${adminPort}/v1/cdrs?service=5000`, { headers: { authorization: `Bearer ${readToken}` } });
    cdrs = ((await res.json()) as { cdrs: typeof cdrs }).cdrs;
  }
  t.match(cdrs, [{ service: '5000', outcome: 'completed' }], 'GET /v1/cdrs has the call\'s record');
  t.ok(existsSync(join(dir, 'cdr-sip1.jsonl')), 'written to the data directory');

  // The printed queue demo: more calls than agents, each held past an announcement.
  const overload = /sipp .* -s 5000 .*-set hold_min_ms (\d+) .* -r \d+ -l \d+ -m (\d+) /.exec(out);
  t.ok(overload, 'the queue demo command is printed');
  t.equal(Number(overload?.[2]), 1 + 10, 'it places ten calls more than there are agents');
  t.ok(Number(overload?.[1]) > 15_000, 'each call holds longer than the announcement interval');
  // The same shape, shortened: three callers for the one agent, so two of them queue and
  // get early media (183 with the gateway's SDP) before the agent takes each in turn.
  const queueDir = join(dir, 'queue-demo');
  const queueRun = await startSippFor(t, {
    scenario: scenarioPath('caller'), dir: queueDir, remote: `${addr}:${sipPort}`, localPort: callerPort!, service: '5000',
    rate: 3, maxCalls: 3, timeoutS: 90, set: { hold_min_ms: 500, hold_spread_ms: 0 }, extra: ['-trace_msg'],
  });
  const queueResult = await queueRun.done;
  t.equal(queueResult.stats?.successful, 3, `every caller was answered in turn (errors: ${queueResult.errorLog})`);
  const early = sippMessageLog(queueDir, queueRun.pid).filter((m) => m.direction === 'received' && /^SIP\/2\.0 183/.test(m.text) && /^m=audio /m.test(m.text));
  t.ok(early.length >= 1, 'a queued caller got 183 with the gateway\'s SDP (music on hold)');
  let queuedCdrs: { queuedMs: number; outcome: string }[] = [];
  for (let i = 0; i < 100 && queuedCdrs.length < 2; i++, await sleep(100)) {
    const res = await fetch(`http://${addr}:${adminPort}/v1/cdrs?service=5000`, { headers: { authorization: `Bearer ${readToken}` } });
    queuedCdrs = ((await res.json()) as { cdrs: typeof queuedCdrs }).cdrs.filter((c) => c.queuedMs > 0 && c.outcome === 'completed');
  }
  t.ok(queuedCdrs.length >= 2, `callers waited in the queue, then talked (${queuedCdrs.map((c) => c.queuedMs).join(', ')} ms queued)`);
});
