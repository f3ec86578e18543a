// `ringfence start` (npm start): a whole local contact center on this machine, supervised.
// Shards × 3 replicas (a process each, or with --stores N on N store processes), a media
// gateway, a SIP node on 127.0.0.1:5060 (UDP and TCP) and
// 127.0.0.1:5061 (TLS, with a self-signed certificate made on first start) whose admin
// REST and dashboard listen on 127.0.0.1:8080, demo agents provisioned READY, demo agent
// phones (real SIP user agents) registered for them, and one more agent for the
// operator's own softphone, alone on its own service number. Children that crash are
// restarted with backoff; Ctrl-C stops everything. State lives under --data and survives
// a restart: the cluster file and the certificate written there on first start are
// reused. `--advertise ADDR` puts the SIP node (TLS too), its admin REST and the gateway's
// media on ADDR instead of 127.0.0.1, so a phone on another machine can register and talk.
import { chmodSync, existsSync, mkdirSync } from 'node:fs';
import { isIPv4 } from 'node:net';
import { networkInterfaces } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { ShardClient } from '../shards/client/shard-client.js';
import { digestCredentials } from '../shards/digest-credentials.js';
import type { Agent, ShardResult } from '../shards/types.js';
import { intFlag, parseFlags, UsageError } from '../common/args.js';
import { ConfigError, loadClusterConfig, type ClusterConfig } from '../common/config.js';
import { exitCodes } from '../common/last-resort.js';
import { demoProvisionDeadlineMs, launcherRoleReadyMsMax, launcherStopGraceMs, restartBackoffMsMax, restartBackoffMsMin, restartStableAfterMs } from './limits.js';
import { clusterFileMode, ProcessSet, writeLocalClusterConfig, type ProcRole } from './local-cluster.js';
import { ensureSelfSignedCertificate, type SelfSignedCertificate } from './self-signed.js';

export const flags = {
  shards: { type: 'string', help: 'number of DN shards (3 replicas each; at most 16, or 1000 with --stores)', default: '2' },
  stores: { type: 'string', help: 'run the replicas on this many store processes, each hosting one replica of every shard placed on it (README "Stores"), instead of one process per replica' },
  'sip-port': { type: 'string', help: 'SIP port (UDP and TCP) on the --advertise address', default: '5060' },
  'sip-tls-port': { type: 'string', help: 'SIP over TLS port on the --advertise address (self-signed certificate in the data directory)', default: '5061' },
  'admin-port': { type: 'string', help: 'admin REST and dashboard port on the --advertise address', default: '8080' },
  advertise: { type: 'string', help: 'an IPv4 address of this machine: SIP, admin REST and RTP listen on it and SDP, Via and Contact carry it, for phones on other machines', default: '127.0.0.1' },
  agents: { type: 'string', help: 'demo agents (DNs from 1001) with demo phones', default: '20' },
  data: { type: 'string', help: 'data directory', default: './data' },
  'no-phones': { type: 'boolean', help: 'do not start the demo agent phones' },
} as const;

export const demoPassword = (dn: string): string => `agent-${dn}`;
/** While queued, a caller of 5000 hears the gateway's demo music and, every 15 s, its
 * position and estimated wait (sip/node/queue-media.ts, gateway/prompts). */
export const demoService = { number: '5000', skill: 'support', announcements: { music: 'music', everyMs: 15_000, position: true, estimatedWait: true } };
/** An agent with no demo phone, for a softphone of the operator's own... */
export const softphoneDn = '1100';
/** ...and the service only it serves, so a call to it rings that softphone every time
 * (on the demo service it would wait its turn behind the demo agents). */
export const softphoneService = { number: '5100', skill: 'softphone' };

export async function main(argv: string[]): Promise<void> {
  const f = parseFlags(argv, flags, 'usage: ringfence start [flags]   (npm start)');
  // Without stores every replica is a process (3 per shard): 16 shards are 48 of them.
  const stores = intFlag(f.stores, 'stores', 3, 26, 0);
  const shards = intFlag(f.shards, 'shards', 1, stores > 0 ? 1000 : 16, 2);
  const sipPort = intFlag(f['sip-port'], 'sip-port', 1, 65535, 5060);
  const adminPort = intFlag(f['admin-port'], 'admin-port', 1, 65535, 8080);
  const agents = intFlag(f.agents, 'agents', 1, 99, 20);
  const sipTlsPort = intFlag(f['sip-tls-port'], 'sip-tls-port', 1, 65535, 5061);
  const advertise = advertiseAddress(f.advertise ?? '127.0.0.1');
  const dir = resolve(f.data ?? './data');
  mkdirSync(dir, { recursive: true });

  const cert = ensureSelfSignedCertificate(dir, [advertise]);
  const { path, config } = await clusterFile(dir, { shards, stores, sipPort, adminPort, sipTlsPort, advertise, cert });
  const procs = new ProcessSet(path, { logFile: join(dir, 'cluster.log') });
  const supervisor = supervise(procs);
  let stopping = false;
  const stop = async (): Promise<void> => {
    if (stopping) return;
    stopping = true;
    supervisor.stop();
    process.stdout.write('\nringfence: stopping...\n');
    await procs.stopAll(launcherStopGraceMs);
    process.stdout.write('ringfence: stopped\n');
    process.exit(0);
  };
  process.on('SIGINT', () => void stop());
  process.on('SIGTERM', () => void stop());
  process.on('exit', () => procs.killAllNow());

  process.stdout.write(`ringfence: starting ${layoutOf(config)}, a gateway, a SIP node and ${agents} demo agents (logs: ${join(dir, 'cluster.log')})\n`);
  if (config.stores !== undefined) await Promise.all(config.stores.map((st) => supervisor.start('store', st.id)));
  else await Promise.all(config.shards.flatMap((s) => s.replicas.map((r) => supervisor.start('shard', r.id))));
  await Promise.all(config.gateways.map((g) => supervisor.start('gateway', g.id, ['--interface', advertise])));
  const dns = Array.from({ length: agents }, (_, i) => String(1001 + i));
  await provisionDemoAgents(config, [...dns, softphoneDn]);
  // CDRs on by default: each SIP node appends to its own file in the data directory, and
  // GET /v1/cdrs reads them (README "Call detail records").
  await Promise.all(config.sip.map((n) => supervisor.start('sip', n.id, ['--cdr', join(dir, `cdr-${n.id}.jsonl`)])));
  if (!f['no-phones']) {
    // A 15 s dialog probe: a demo phone whose SIP node was killed hangs up within seconds
    // of the restart (481) instead of holding a dead call.
    await supervisor.start('phones', 'phones1', ['--dns', `${dns[0]}-${dns[dns.length - 1]}`, '--password-prefix', 'agent-', '--dialog-probe-ms', '15000']);
  }
  printReady(config, dns, cert.fingerprint);
}

/** `--advertise`: an IPv4 literal this machine holds (any 127.0.0.0/8 address is on the
 * loopback interface), so every role can bind it; 0.0.0.0 is refused because SDP, Via
 * and Contact must carry one address a phone can reach. */
export function advertiseAddress(text: string, interfaces = networkInterfaces()): string {
  const addr = text.trim();
  if (!isIPv4(addr)) throw new UsageError(`--advertise: expected an IPv4 address of this machine (e.g. 192.168.1.20), got ${JSON.stringify(text)}`);
  if (addr === '0.0.0.0' || addr === '255.255.255.255' || Number(addr.split('.')[0]) >= 224) {
    throw new UsageError(`--advertise: ${addr} cannot be advertised; give the one address phones reach this machine at`);
  }
  const own = Object.values(interfaces).flatMap((list) => (list ?? []).map((i) => i.address));
  if (!addr.startsWith('127.') && !own.includes(addr)) {
    throw new UsageError(`--advertise: ${addr} is not an address of this machine (it has ${own.filter((a) => isIPv4(a)).join(', ')})`);
  }
  return addr;
}

/** `6 shards × 3 replicas` (a process each), or `… on 3 stores`. */
function layoutOf(config: ClusterConfig): string {
  const stores = config.stores?.length ?? 0;
  return `${config.shards.length} shards × 3 replicas${stores > 0 ? ` on ${stores} stores` : ''}`;
}

async function clusterFile(dir: string, o: { shards: number; stores: number; sipPort: number; adminPort: number; sipTlsPort: number; advertise: string; cert: SelfSignedCertificate }): Promise<{ path: string; config: ClusterConfig }> {
  const path = join(dir, 'cluster.yaml');
  if (existsSync(path)) {
    // It holds the root secret: an earlier version wrote it world-readable.
    chmodSync(path, clusterFileMode);
    let config: ClusterConfig;
    try {
      config = loadClusterConfig(path);
    } catch (err) {
      if (err instanceof ConfigError && (err.field === 'secret' || err.field.startsWith('tokens'))) {
        throw new ConfigError(err.field, `${err.message.slice(err.field.length + 2)} (in ${path}). An earlier version wrote shorter secrets: put new ones in (secret: openssl rand -hex 32; tokens: openssl rand -hex 24) or delete ${dir} to start afresh`);
      }
      throw err;
    }
    const tls = config.sip[0]?.tls;
    if (config.shards.length !== o.shards || (config.stores?.length ?? 0) !== o.stores || config.sip[0]?.udp.port !== o.sipPort || config.sip[0]?.admin.port !== o.adminPort || config.sip[0]?.udp.host !== o.advertise || (tls !== undefined && tls.listen.port !== o.sipTlsPort)) {
      throw new UsageError(`${path} was written for another layout (--shards, --stores, --sip-port, --sip-tls-port, --admin-port or --advertise differ); use those flags, another --data, or delete ${dir}`);
    }
    return { path, config };
  }
  return writeLocalClusterConfig({
    // A stores layout spreads the preferred leaders over the stores itself (common/config.ts).
    dir, shards: o.shards, sipNodes: 1, gateways: 1, sipPort: o.sipPort, adminPort: o.adminPort, sipHost: o.advertise, services: [demoService, softphoneService],
    ...(o.stores > 0 ? { stores: o.stores } : { preferredLeaders: true }),
    sipTls: { cert: o.cert.certPath, key: o.cert.keyPath, port: o.sipTlsPort },
  });
}

/** Restarts any child that exits while the cluster runs, with exponential backoff that
 * resets once a child has stayed up for a minute. */
export function supervise(procs: ProcessSet, say: (line: string) => void = (line) => process.stdout.write(line)): { start(role: ProcRole, id: string, extra?: string[]): Promise<unknown>; stop(): void } {
  const state = new Map<string, { role: ProcRole; extra: string[]; backoffMs: number; startedAt: number }>();
  let stopped = false;
  procs.onExit = (id, code, signal) => {
    const s = state.get(id);
    if (stopped || !s || procs.closed) return;
    // As RestartPreventExitStatus=2 78 in the README's units: a bad flag or a bad cluster
    // file fails the same way on every restart.
    if (code === exitCodes.usage || code === exitCodes.config) {
      say(`ringfence: ${s.role} ${id} exited (code ${code}: ${code === exitCodes.usage ? 'bad usage' : 'bad cluster file'}); not restarting it (see ${id}'s lines in the log)\n`);
      return;
    }
    if (Date.now() - s.startedAt > restartStableAfterMs) s.backoffMs = restartBackoffMsMin;
    say(`ringfence: ${s.role} ${id} exited (${signal ?? `code ${code}`}); restarting in ${s.backoffMs} ms\n`);
    const delay = s.backoffMs;
    s.backoffMs = Math.min(restartBackoffMsMax, s.backoffMs * 2);
    void sleep(delay).then(() => {
      if (stopped) return;
      s.startedAt = Date.now();
      return procs.start(s.role, id, s.extra).catch((err) => say(`ringfence: restart of ${id} failed: ${(err as Error).message}\n`));
    });
  };
  return {
    start(role, id, extra = []) {
      state.set(id, { role, extra, backoffMs: restartBackoffMsMin, startedAt: Date.now() });
      return procs.start(role, id, extra, launcherRoleReadyMsMax);
    },
    stop() {
      stopped = true;
    },
  };
}

/** Provisions, logs in and readies the demo agents that do not exist yet; agents left
 * from an earlier run keep their state. */
async function provisionDemoAgents(config: ClusterConfig, dns: readonly string[]): Promise<void> {
  // As `launcher`: provisioning and agent state are administrative commands (shards/rpc/policy.ts).
  const client = new ShardClient({ shards: config.shards, auth: { secret: config.secret, principal: 'launcher' }, deadlineMs: demoProvisionDeadlineMs });
  try {
    for (const dn of dns) {
      const existing = await client.read(client.shardFor(dn), { type: 'agent', dn }, 'linearizable', { deadlineMs: demoProvisionDeadlineMs }).then(
        (a) => a as Agent,
        (err: { code?: string }) => {
          if (err.code === 'SHARD_ERR_UNKNOWN_DN') return null;
          throw err;
        },
      );
      if (existing) continue;
      const credentials = digestCredentials(dn, config.realm, demoPassword(dn));
      const name = dn === softphoneDn ? 'Your softphone' : `Demo agent ${dn}`;
      const skills = { [dn === softphoneDn ? softphoneService.skill : demoService.skill]: 50 };
      check(await client.command(dn, { type: 'provision', dn, name, skills, wrapUpMs: 2000, maxNoAnswer: 3, credentials }), dn);
      check(await client.command(dn, { type: 'login', dn }), dn);
      check(await client.command(dn, { type: 'ready', dn }), dn);
    }
  } finally {
    client.close();
  }
}

function check(r: ShardResult, dn: string): void {
  if (!r.ok) throw new Error(`demo agent ${dn}: ${r.code}: ${r.reason}`);
}

function printReady(config: ClusterConfig, dns: readonly string[], fingerprint: string): void {
  const sip = config.sip[0]!;
  const admin = `http://${sip.admin.host}:${sip.admin.port}`;
  const caller = fileURLToPath(new URL('./sipp/scenarios/caller.xml', import.meta.url));
  process.stdout.write(
    [
      '',
      `ringfence: ready — ${layoutOf(config)}, SIP on ${sip.udp.host}:${sip.udp.port} (UDP and TCP)${sip.tls ? ` and ${sip.tls.listen.host}:${sip.tls.listen.port} (TLS)` : ''}, ${dns.length} demo agents ${dns[0]}–${dns[dns.length - 1]} READY with skill ${demoService.skill}`,
      '',
      `  Dashboard and admin REST: ${admin}/   (API docs: ${admin}/docs)`,
      `    admin token: ${config.tokens.admin}`,
      `    read token:  ${config.tokens.read}`,
      `    curl -H 'Authorization: Bearer ${config.tokens.read}' ${admin}/v1/cluster`,
      '',
      `  Call the support line ${demoService.number} with RTP (SIPp, apt-get install sip-tester); a demo agent answers and echoes your audio:`,
      `    sipp -sf ${caller} -s ${demoService.number} -set rtp 1 -set hold_min_ms 5000 -set hold_spread_ms 0 -m 1 -i ${sip.udp.host} ${sip.udp.host}:${sip.udp.port}`,
      '',
      ...queueDemoHint(config, dns.length, caller),
      '',
      ...softphoneHint(config, fingerprint, caller),
      '',
      '  Ctrl-C stops the cluster; its data stays in the data directory and the next npm start picks it up.',
      '',
    ].join('\n'),
  );
}

/** How to use a softphone with the local cluster: what to type where, what to dial and
 * what to hear. The server is the SIP node's address: the realm is no host name. */
/** The overload SIPp command: `agents` + queueDemoWaiting calls that each hold longer than
 * the announcement interval, so every agent is busy and the rest wait in 5000's queue,
 * hearing music and their position. */
export const queueDemoWaiting = 10;
export const queueDemoHoldMs = 40_000;

export function queueDemoHint(config: ClusterConfig, agents: number, callerScenario: string): string[] {
  const sip = config.sip[0]!;
  const admin = `http://${sip.admin.host}:${sip.admin.port}`;
  const calls = agents + queueDemoWaiting;
  return [
    `  See the queue work: ${calls} calls of ${queueDemoHoldMs / 1000} s keep all ${agents} agents busy and ${queueDemoWaiting} callers wait in ${demoService.number}'s queue, hearing music and "you are caller number N" every 15 s (a softphone calling ${demoService.number} meanwhile hears it too):`,
    `    sipp -sf ${callerScenario} -s ${demoService.number} -set rtp 1 -set hold_min_ms ${queueDemoHoldMs} -set hold_spread_ms 0 -r ${calls} -l ${calls} -m ${calls} -i ${sip.udp.host} ${sip.udp.host}:${sip.udp.port}`,
    `  and watch it: live events (every SIP node's), then the service-level figures:`,
    `    curl -N -H 'Authorization: Bearer ${config.tokens.read}' '${admin}/v1/events/stream?scope=cluster'`,
    `    curl -H 'Authorization: Bearer ${config.tokens.read}' ${admin}/v1/services/${demoService.number}/stats`,
  ];
}

export function softphoneHint(config: ClusterConfig, fingerprint: string, callerScenario: string): string[] {
  const sip = config.sip[0]!;
  const server = `${sip.udp.host}:${sip.udp.port}`;
  const own = config.services.some((s) => s.number === softphoneService.number);
  return [
    `  Your own softphone (Linphone, baresip, Zoiper, MicroSIP), as agent ${softphoneDn}:`,
    `    server/domain ${server}, transport UDP or TCP${sip.tls ? ` (or TLS: ${sip.tls.listen.host}:${sip.tls.listen.port})` : ''}`,
    `    username ${softphoneDn}, password ${demoPassword(softphoneDn)} (digest realm ${config.realm}; the server is the address above, not the realm)`,
    ...(sip.tls ? [`    TLS certificate (self-signed) SHA-256 fingerprint: ${fingerprint}`] : []),
    `    Dial ${demoService.number} from it: a demo agent answers and you hear your own voice back (the demo phones echo).`,
    own
      ? `    To be called: dial ${softphoneService.number} (from SIPp below, or a second softphone) and it rings yours, every time:`
      : `    To be called: agent ${softphoneDn} is READY on ${demoService.number} with the demo agents (this data directory predates service ${softphoneService.number}):`,
    `    sipp -sf ${callerScenario} -s ${own ? softphoneService.number : demoService.number} -set rtp 1 -set hold_min_ms 10000 -set hold_spread_ms 0 -m 1 -i ${sip.udp.host} ${server}`,
    `    Answer it: you hear SIPp's test audio for 10 seconds, then it hangs up.`,
  ];
}
