// Proves issue #19's acceptance "a phone behind a NAT namespace registers and receives a
// call" with real processes and a real NAT: a SIPp agent phone runs in its own network
// namespace (private address 10.77.x.2) behind a router namespace that masquerades it
// (iptables MASQUERADE) onto 172.31.x.2; the SIP node listens on 172.31.x.1 in the root
// namespace, where the phone's private address is unreachable (test/support/netns.ts).
// The phone registers with digest, its Contact naming its private address; the registrar
// stores the REGISTER's observed source with the binding (sip/node/nat-binding.ts); a
// SIPp caller dials the service and the NATed phone gets the INVITE through the NAT,
// answers, gets the ACK and the BYE (SIPp exits 0 only if every step happened).
// Negative control: the same phone and call through a node with NAT handling off: the
// INVITE goes to the private Contact, cannot leave (EHOSTUNREACH), and the phone never
// sees it. Needs root (namespaces, iptables) and SIPp: skipped without them unless
// REQUIRE_ROOT=1 / REQUIRE_SIPP=1. Namespaces, links, route and rule are removed in
// teardown, also on failure; the last check proves nothing is left.

import { spawn } from 'node:child_process';
import t from 'tap';
import { freePorts } from '../../cluster/local-cluster.js';
import { freeSippMediaPort, needSipp, scenarioPath, sippMessageLog } from '../../cluster/sipp/driver.js';
import { addAgent, password, readAgent, startCluster, startNode, waitFor } from '../sip/node/harness.js';
import { createNatLab, isRoot, labLeftovers, type NatLab } from '../support/netns.js';
import { tempDir } from '../support/temp-dir.js';

const skip = isRoot() ? false : process.env.REQUIRE_ROOT === '1' ? false : 'needs root for network namespaces and iptables (REQUIRE_ROOT=1 makes this a failure)';

type Run = Readonly<{ pid: number; done: Promise<{ code: number | null; stderr: string }>; kill: () => void }>;

/** Spawns argv (already wrapped for a namespace when needed) in `cwd`; killed in teardown. */
function run(t: { teardown(fn: () => unknown): void }, cmd: { command: string; args: string[] }, cwd: string): Run {
  const child = spawn(cmd.command, cmd.args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => { if (stderr.length < 20_000) stderr += d.toString(); });
  const done = new Promise<{ code: number | null; stderr: string }>((resolve) => {
    child.once('error', (e) => resolve({ code: null, stderr: `${stderr}\nspawn: ${e.message}` }));
    child.once('exit', (code) => resolve({ code, stderr }));
  });
  const kill = (): void => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL'); };
  t.teardown(kill);
  return { pid: child.pid ?? -1, done, kill };
}

const sippCommon = ['-nostdin', '-timeout_error', '-trace_err', '-error_file', 'errors.log'];

function registerPhone(t: { teardown(fn: () => unknown): void }, lab: NatLab, dn: string, port: number, server: string, dir: string): Run {
  return run(t, lab.inPhone([
    'sipp', '-sf', scenarioPath('register'), '-i', lab.phoneIp, '-p', String(port), '-s', dn, '-au', dn, '-ap', password(dn),
    '-key', 'contact_host', lab.phoneIp, '-key', 'contact_port', String(port), '-key', 'expires', '600',
    '-m', '1', '-timeout', '15s', ...sippCommon, server,
  ]), dir);
}

function answerPhone(t: { teardown(fn: () => unknown): void }, lab: NatLab, port: number, timeoutS: number, dir: string): Run {
  return run(t, lab.inPhone([
    'sipp', '-sf', scenarioPath('agent-answer'), '-i', lab.phoneIp, '-p', String(port), '-mp', String(port + 1000),
    '-m', '1', '-timeout', `${timeoutS}s`, '-trace_msg', ...sippCommon,
  ]), dir);
}

async function callService(t: { teardown(fn: () => unknown): void }, service: string, server: string, dir: string): Promise<{ code: number | null; stderr: string }> {
  const [port] = await freePorts(1);
  const mediaPort = await freeSippMediaPort();
  return run(t, { command: 'sipp', args: [
    '-sn', 'uac', '-s', service, '-i', '127.0.0.1', '-p', String(port), '-mp', String(mediaPort),
    '-m', '1', '-d', '300', '-timeout', '20s', ...sippCommon, server,
  ] }, dir).done;
}

let lab: NatLab | undefined;

t.test('a phone behind a NAT registers and receives a call; without NAT handling it would not', { skip, timeout: 120_000 }, async (t) => {
  t.ok(isRoot(), 'running as root (REQUIRE_ROOT=1)');
  if (!isRoot() || !needSipp(t)) return;
  t.teardown(() => lab?.teardown());
  lab = createNatLab();
  const { cluster, config } = await startCluster(t, [{ number: '5300', skill: 'nat', minLevel: 0 }], 1);
  // SIPp 3.6 answers MD5 challenges only.
  const bind = { udp: { host: lab.serverIp, port: 0 }, tcp: { host: lab.serverIp, port: 0 }, digestAlgorithms: ['MD5'] as const };
  const node = await startNode(t, config, { ...bind, nodeId: 'sip1' });
  const plain = await startNode(t, config, { ...bind, nodeId: 'sip2', natHandling: false, queueWaitMs: 1000 });

  await t.test('through NAT handling: the INVITE reaches the phone, which answers', async (t) => {
    const dn = '9301';
    await addAgent(cluster, config, dn, { nat: 50 });
    const server = `${lab!.serverIp}:${node.udpPort}`;
    const reg = await registerPhone(t, lab!, dn, 5070, server, tempDir(t, 'nat-register')).done;
    t.equal(reg.code, 0, `REGISTER through the NAT answered 200 (${reg.stderr.slice(0, 300)})`);
    const agent = await waitFor(`${dn} bound`, () => node.view.get(dn), (a) => a?.status.state === 'READY' && a.contacts.length > 0);
    const binding = (await readAgent(cluster, dn)).contacts[0];
    t.equal(binding?.uri, `sip:${dn}@${lab!.phoneIp}:5070`, 'the Contact is stored as the phone sent it (its private address)');
    t.match(binding?.received, { protocol: 'UDP', host: lab!.routerIp, node: 'sip1', outbound: false }, 'with the NAT\'s public address it came from');
    t.comment(`binding ${JSON.stringify(binding)} (view: ${agent?.contacts.length} contact)`);
    const phoneDir = tempDir(t, 'nat-phone');
    const phone = answerPhone(t, lab!, 5070, 25, phoneDir);
    const caller = await callService(t, '5300', server, tempDir(t, 'nat-caller'));
    t.equal(caller.code, 0, `the caller's call was answered and hung up (${caller.stderr.slice(0, 300)})`);
    const answered = await phone.done;
    t.equal(answered.code, 0, `the NATed phone got INVITE, ACK and BYE and answered them (${answered.stderr.slice(0, 300)})`);
    const got = sippMessageLog(phoneDir, phone.pid).filter((m) => m.direction === 'received').map((m) => m.text.split(' ')[0]);
    t.same(got, ['INVITE', 'ACK', 'BYE'], 'what the phone received through the NAT');
    const after = await waitFor(`${dn} READY`, () => readAgent(cluster, dn), (a) => a.status.state === 'READY');
    t.equal(after.counters.callsAnswered, 1, 'one answered call counted');
    // Out of the next call's way.
    const r = await cluster.client.command(dn, { type: 'notReady', dn, reason: 'control' });
    t.ok(r.ok, 'first agent set NOT_READY');
  });

  await t.test('negative control, NAT handling off: the INVITE aims at the private Contact and never arrives', async (t) => {
    const dn = '9302';
    await addAgent(cluster, config, dn, { nat: 50 });
    const server = `${lab!.serverIp}:${plain.udpPort}`;
    const reg = await registerPhone(t, lab!, dn, 5072, server, tempDir(t, 'plain-register')).done;
    t.equal(reg.code, 0, 'REGISTER answered 200 (responses follow rport either way)');
    await waitFor(`${dn} bound`, () => plain.view.get(dn), (a) => a?.status.state === 'READY' && a.contacts.length > 0);
    const binding = (await readAgent(cluster, dn)).contacts[0];
    t.equal(binding?.received, undefined, 'no observed source stored');
    const phoneDir = tempDir(t, 'plain-phone');
    const phone = answerPhone(t, lab!, 5072, 10, phoneDir);
    const caller = await callService(t, '5300', server, tempDir(t, 'plain-caller'));
    t.not(caller.code, 0, 'the caller was not connected');
    const metrics = (await plain.app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${config.tokens.read}` } })).body;
    t.match(metrics, /ringfence_sip_reservations_total\{result="granted",node="sip2"\} 1\n/, 'the agent was granted, so an INVITE was tried');
    t.match(metrics, /ringfence_sip_reroutes_total\{reason="failed",node="sip2"\} 1\n/, 'and failed at the transport (the private Contact is unreachable)');
    phone.kill();
    await phone.done;
    const got = sippMessageLog(phoneDir, phone.pid).filter((m) => m.direction === 'received');
    t.same(got, [], 'the phone behind the NAT received nothing');
  });
});

t.test('the NAT lab is gone after the test (teardown ran, even had it failed)', { skip }, async (t) => {
  if (lab === undefined) return t.pass('no lab was created');
  t.same(labLeftovers(lab), [], 'namespaces, links and route removed');
});
