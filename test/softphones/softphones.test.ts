// Proves that Debian's stock softphones work with Ringfence out of the box, end to end
// with real processes: a cluster (3 shard replicas, a media gateway, a SIP node with UDP,
// TCP and TLS listeners, its certificate self-signed as `npm start` makes it), and
// - a baresip agent and a linphonec agent that register with digest under the default
//   digest policy (which algorithm each answered with is read from its own trace); more
//   of them over TCP, and linphonec over TLS checking the certificate against the one
//   it was given (root_ca); at a second node that offers SHA-256 first, as RFC 8760
//   would, linphonec answers SHA-256 and baresip gives up (why MD5 is the default);
// - a baresip caller that dials a service, sends a 440 Hz tone through Ringfence and the
//   gateway to the baresip agent, which loops it back: the caller's recording holds the
//   tone (Goertzel, test/support/goertzel.ts);
// - a call answered by the linphonec agent, which plays 880 Hz: the caller hears 880 Hz
//   and the linphonec agent's recording holds the caller's 440 Hz;
// - a baresip agent that registers over TLS and receives a call over TLS (the INVITE
//   reuses the phone's own connection), its echo heard by the caller.
// Each service has its own skill and agent, so routing is not left to chance. Two SIP
// nodes: sip1 with the default policy and TLS, sip2 offering SHA-256 then MD5.
// Skips without baresip/linphonec unless REQUIRE_SOFTPHONES=1.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import t, { type Test } from 'tap';
import { freePorts, ProcessSet, writeLocalClusterConfig } from '../../cluster/local-cluster.js';
import { ensureSelfSignedCertificate } from '../../cluster/self-signed.js';
import { ShardClient } from '../../shards/client/shard-client.js';
import { digestCredentials } from '../../shards/digest-credentials.js';
import type { Agent, Command } from '../../shards/types.js';
import { findTone, readWav, sinePcm, wavBytes } from '../support/goertzel.js';
import { Baresip, Linphonec, needSoftphones, type Registrar } from '../support/softphones.js';

const CALLER_TONE_HZ = 440;
const LINPHONE_TONE_HZ = 880;
/** Seconds of tone a recording must hold before the caller hangs up. */
const TONE_SECONDS_MIN = 2;
const agents = [
  { dn: '7001', service: '5001', skill: 'echo' },
  { dn: '7002', service: '5002', skill: 'linphone' },
  { dn: '7003', service: '5003', skill: 'tls' },
  // Registration only: over TCP and TLS, and at a node that offers SHA-256.
  { dn: '7004', service: '5004', skill: 'reg-a' },
  { dn: '7005', service: '5005', skill: 'reg-b' },
  { dn: '7006', service: '5006', skill: 'reg-c' },
  { dn: '7007', service: '5007', skill: 'reg-d' },
  { dn: '7008', service: '5008', skill: 'reg-e' },
] as const;
const passwordOf = (dn: string): string => `pw-${dn}`;

if (needSoftphones(t, ['baresip', 'linphonec'])) {
  const dir = mkdtempSync(join(tmpdir(), 'ringfence-softphones-'));
  t.teardown(() => {
    if (!process.env.RINGFENCE_KEEP_TEST_DATA) rmSync(dir, { recursive: true, force: true });
  });
  const cert = ensureSelfSignedCertificate(dir);
  const { path: configPath, config } = await writeLocalClusterConfig({
    dir, shards: 1, replicasPerShard: 3, sipNodes: 2, gateways: 1,
    services: agents.map((a) => ({ number: a.service, skill: a.skill })),
    sipTls: { cert: cert.certPath, key: cert.keyPath },
  });
  const procs = new ProcessSet(configPath, { logFile: join(dir, 'processes.log') });
  const killAll = (): void => procs.killAllNow();
  process.once('exit', killAll);
  t.teardown(async () => {
    await procs.stopAll(3000);
    process.removeListener('exit', killAll);
  });
  const client = new ShardClient({ shards: config.shards, auth: { secret: config.secret, principal: 'launcher' }, attemptTimeoutMs: 1000, deadlineMs: 30_000 });
  t.teardown(() => client.close());
  await Promise.all(config.shards.flatMap((s) => s.replicas.map((r) => procs.start('shard', r.id, [], 120_000))));
  for (const a of agents) {
    const commands: Command[] = [
      { type: 'provision', dn: a.dn, name: `Agent ${a.dn}`, skills: { [a.skill]: 50 }, wrapUpMs: 0, maxNoAnswer: 0, credentials: digestCredentials(a.dn, config.realm, passwordOf(a.dn)) },
      { type: 'login', dn: a.dn },
      { type: 'ready', dn: a.dn },
    ];
    for (const cmd of commands) {
      const r = await client.command(a.dn, cmd, { deadlineMs: 30_000 });
      if (!r.ok) throw new Error(`${cmd.type} ${a.dn}: ${JSON.stringify(r)}`);
    }
  }
  await procs.start('gateway', config.gateways[0]!.id, [], 120_000);
  // The default digest policy: no --digest-algorithms, no digest section in the file.
  const ready = await procs.start('sip', config.sip[0]!.id, ['--ring-timeout-ms', '20000'], 120_000);
  const udp: Registrar = { host: '127.0.0.1', port: Number(ready.udp), transport: 'udp' };
  const tcp: Registrar = { host: '127.0.0.1', port: Number(ready.tcp), transport: 'tcp' };
  const tls: Registrar = { host: '127.0.0.1', port: Number(ready.tls), transport: 'tls' };
  // A second node that offers SHA-256 first, as RFC 8760 would: shows why that is not the default.
  const shaReady = await procs.start('sip', config.sip[1]!.id, ['--digest-algorithms', 'SHA-256,MD5'], 120_000);
  const shaUdp: Registrar = { host: '127.0.0.1', port: Number(shaReady.udp), transport: 'udp' };
  const agentState = async (dn: string): Promise<Agent> => (await client.read(client.shardFor(dn), { type: 'agent', dn }, 'linearizable')) as Agent;
  const waitRegistered = async (dn: string): Promise<void> => {
    for (let i = 0; i < 300 && (await agentState(dn)).contacts.length === 0; i++) await sleep(100);
  };

  /** Calls `service` from a fresh baresip caller sending 440 Hz; holds the call until
   * its recording has TONE_SECONDS_MIN of `hearHz` (or the guard runs out), then hangs
   * up. Returns the seconds of `hearHz` and of 1000 Hz (which nobody sends) it heard. */
  const call = async (tt: Test, service: string, hearHz: number): Promise<{ toneSeconds: number; otherSeconds: number; caller: Baresip }> => {
    const caller = Baresip.start(tt, { dir: join(dir, `caller-${service}`), user: `caller${service}`, registrar: udp, audio: CALLER_TONE_HZ });
    await caller.waitFor(/Populated \d+ audio codecs/, 30_000);
    caller.dial(service);
    await caller.established();
    for (let i = 0; i < 300; i++) {
      await sleep(100);
      const heard = (() => {
        try {
          return findTone(readWav(caller.heardPath()), hearHz).toneSeconds;
        } catch {
          return 0;
        }
      })();
      if (heard >= TONE_SECONDS_MIN) break;
    }
    await caller.hangupAndQuit();
    const pcm = readWav(caller.heardPath());
    return { toneSeconds: findTone(pcm, hearHz).toneSeconds, otherSeconds: findTone(pcm, 1000).toneSeconds, caller };
  };

  const baresipAgent = Baresip.start(t, { dir: join(dir, 'agent-7001'), user: '7001', password: passwordOf('7001'), registrar: udp, audio: 'echo' });
  const linphoneWav = join(dir, 'linphone-880.wav');
  writeFileSync(linphoneWav, wavBytes(sinePcm({ sampleRate: 8000, seconds: 60, frequencyHz: LINPHONE_TONE_HZ, amplitude: 0.5 })));
  const [lpSip, lpRtp] = await freePorts(2);
  const linphoneAgent = Linphonec.start(t, { dir: join(dir, 'agent-7002'), user: '7002', password: passwordOf('7002'), registrar: udp, sipPort: lpSip!, rtpPort: lpRtp!, playWav: linphoneWav });

  await t.test('baresip and linphonec register with digest under the default policy', async (tt) => {
    const baresipAlg = await baresipAgent.registered();
    const linphoneAlg = await linphoneAgent.registered();
    tt.comment(`baresip answered the challenge with ${baresipAlg} over UDP; linphonec with ${linphoneAlg} over UDP`);
    tt.equal(baresipAlg, 'MD5', 'baresip (libre 1.1) registers: it answers MD5');
    tt.equal(linphoneAlg, 'MD5', 'linphonec registers with the MD5 offered');
    await waitRegistered('7001');
    await waitRegistered('7002');
    tt.equal((await agentState('7001')).contacts.length, 1, 'the baresip binding is in the shard');
    tt.equal((await agentState('7002')).contacts.length, 1, 'the linphonec binding is in the shard');
  });

  await t.test('over TCP and TLS too; offered SHA-256 first, linphonec takes it and baresip gives up', async (tt) => {
    const overTcp = Baresip.start(tt, { dir: join(dir, 'agent-7004'), user: '7004', password: passwordOf('7004'), registrar: tcp, audio: 'echo' });
    const [p1, p2, p3, p4, p5, p6] = await freePorts(6);
    const lpTcp = Linphonec.start(tt, { dir: join(dir, 'agent-7005'), user: '7005', password: passwordOf('7005'), registrar: tcp, sipPort: p1!, rtpPort: p2!, playWav: linphoneWav });
    const lpTls = Linphonec.start(tt, { dir: join(dir, 'agent-7006'), user: '7006', password: passwordOf('7006'), registrar: tls, sipPort: p3!, rtpPort: p4!, playWav: linphoneWav, rootCa: cert.certPath });
    const lpSha = Linphonec.start(tt, { dir: join(dir, 'agent-7007'), user: '7007', password: passwordOf('7007'), registrar: shaUdp, sipPort: p5!, rtpPort: p6!, playWav: linphoneWav });
    const bsSha = Baresip.start(tt, { dir: join(dir, 'agent-7008'), user: '7008', password: passwordOf('7008'), registrar: shaUdp, audio: 'echo' });
    const seen = {
      baresipTcp: await overTcp.registered(),
      linphonecTcp: await lpTcp.registered(),
      linphonecTls: await lpTls.registered(),
      linphonecSha: await lpSha.registered(),
    };
    tt.comment(`default policy: baresip/TCP ${seen.baresipTcp}, linphonec/TCP ${seen.linphonecTcp}, linphonec/TLS (verifying the certificate) ${seen.linphonecTls}; SHA-256 offered first: linphonec/UDP ${seen.linphonecSha}`);
    tt.same(seen, { baresipTcp: 'MD5', linphonecTcp: 'MD5', linphonecTls: 'MD5', linphonecSha: 'SHA-256' });
    tt.match(overTcp.output, /^TCP 127\.0\.0\.1:\d+ -> 127\.0\.0\.1:\d+\s*\r?\nREGISTER /m, 'baresip registered over TCP');
    await tt.rejects(bsSha.registered(), /Register: Function not implemented/, 'baresip (libre 1.1) gives up on a SHA-256 challenge');
    for (const dn of ['7004', '7005', '7006', '7007']) await waitRegistered(dn);
    tt.same(await Promise.all(['7004', '7005', '7006', '7007', '7008'].map(async (dn) => (await agentState(dn)).contacts.length)), [1, 1, 1, 1, 0], 'bound: all but the baresip offered SHA-256');
    await Promise.all([lpTcp.quit(), lpTls.quit(), lpSha.quit()]);
  });

  await t.test('a baresip caller hears its 440 Hz tone looped back by the baresip agent', async (tt) => {
    const r = await call(tt, '5001', CALLER_TONE_HZ);
    tt.comment(`caller heard ${r.toneSeconds} s of ${CALLER_TONE_HZ} Hz, ${r.otherSeconds} s of 1000 Hz`);
    tt.ok(r.toneSeconds >= TONE_SECONDS_MIN, `the caller's recording holds its tone (${r.toneSeconds} s)`);
    tt.equal(r.otherSeconds, 0, 'and not a tone nobody sent');
    tt.match(baresipAgent.output, /echo: CALL_INCOMING/, 'the baresip agent answered it');
  });

  await t.test('a call answered by the linphonec agent carries audio both ways', async (tt) => {
    const r = await call(tt, '5002', LINPHONE_TONE_HZ);
    await linphoneAgent.ended();
    tt.comment(`caller heard ${r.toneSeconds} s of ${LINPHONE_TONE_HZ} Hz`);
    tt.ok(r.toneSeconds >= TONE_SECONDS_MIN, `the caller hears linphonec's ${LINPHONE_TONE_HZ} Hz (${r.toneSeconds} s)`);
    const heard = findTone(readWav(linphoneAgent.heardPath), CALLER_TONE_HZ).toneSeconds;
    tt.comment(`linphonec heard ${heard} s of ${CALLER_TONE_HZ} Hz`);
    tt.ok(heard >= 1, `linphonec's recording holds the caller's ${CALLER_TONE_HZ} Hz (${heard} s)`);
  });

  await t.test('baresip registers over TLS and receives a call', async (tt) => {
    const tlsAgent = Baresip.start(tt, { dir: join(dir, 'agent-7003'), user: '7003', password: passwordOf('7003'), registrar: tls, audio: 'echo' });
    const alg = await tlsAgent.registered();
    tt.comment(`baresip answered the challenge with ${alg} over TLS`);
    tt.match(tlsAgent.output, /^TLS 127\.0\.0\.1:\d+ -> 127\.0\.0\.1:\d+\s*\r?\nREGISTER /m, 'the REGISTER went over TLS');
    await waitRegistered('7003');
    const contact = (await agentState('7003')).contacts[0]?.uri ?? '';
    tt.match(contact, /transport=tls|^sips:/i, `the binding asks for TLS (${contact})`);
    const r = await call(tt, '5003', CALLER_TONE_HZ);
    // Sent from the node's listening port: over the connection the phone opened to
    // register (a new connection from the node would come from an ephemeral port).
    tt.match(tlsAgent.output, new RegExp(`^TLS 127\\.0\\.0\\.1:${tls.port} -> 127\\.0\\.0\\.1:\\d+\\s*\\r?\\nINVITE `, 'm'), "the INVITE reached the agent over TLS, on the phone's own connection");
    tt.match(tlsAgent.output, /^INVITE [^\n]*\r?\nVia: SIP\/2\.0\/TLS /m, 'with a TLS Via');
    tt.ok(r.toneSeconds >= TONE_SECONDS_MIN, `the caller hears its tone echoed by the TLS agent (${r.toneSeconds} s)`);
  });
}
