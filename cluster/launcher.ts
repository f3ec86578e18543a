// `ringfence start` (npm start): a whole local contact center on this machine, supervised.
// Shards × 3 replicas, a media gateway, a SIP node on 127.0.0.1:5060 (UDP and TCP) whose
// admin REST and dashboard listen on 127.0.0.1:8080, demo agents provisioned READY, and
// demo agent phones (real SIP user agents) registered for them. Children that crash are
// restarted with backoff; Ctrl-C stops everything. State lives under --data and survives
// a restart: the cluster file written there on first start is reused. `--advertise ADDR`
// puts the SIP node, its admin REST and the gateway's media on ADDR instead of 127.0.0.1,
// so a phone on another machine can register and talk.
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

export const flags = {
  shards: { type: 'string', help: 'number of DN shards (3 replicas each)', default: '2' },
  'sip-port': { type: 'string', help: 'SIP port (UDP and TCP) on the --advertise address', default: '5060' },
  'admin-port': { type: 'string', help: 'admin REST and dashboard port on the --advertise address', default: '8080' },
  advertise: { type: 'string', help: 'an IPv4 address of this machine: SIP, admin REST and RTP listen on it and SDP, Via and Contact carry it, for phones on other machines', default: '127.0.0.1' },
  agents: { type: 'string', help: 'demo agents (DNs from 1001) with demo phones', default: '20' },
  data: { type: 'string', help: 'data directory', default: './data' },
  'no-phones': { type: 'boolean', help: 'do not start the demo agent phones' },
} as const;

export const demoPassword = (dn: string): string => `agent-${dn}`;
export const demoService = { number: '5000', skill: 'support' };
/** An agent with no demo phone, for a softphone of the operator's own. */
export const softphoneDn = '1100';

export async function main(argv: string[]): Promise<void> {
  const f = parseFlags(argv, flags, 'usage: ringfence start [flags]   (npm start)');
  const shards = intFlag(f.shards, 'shards', 1, 16, 2);
  const sipPort = intFlag(f['sip-port'], 'sip-port', 1, 65535, 5060);
  const adminPort = intFlag(f['admin-port'], 'admin-port', 1, 65535, 8080);
  const agents = intFlag(f.agents, 'agents', 1, 99, 20);
  const advertise = advertiseAddress(f.advertise ?? '127.0.0.1');
  const dir = resolve(f.data ?? './data');
  mkdirSync(dir, { recursive: true });

  const { path, config } = await clusterFile(dir, { shards, sipPort, adminPort, advertise });
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

  process.stdout.write(`ringfence: starting ${config.shards.length} shards × 3 replicas, a gateway, a SIP node and ${agents} demo agents (logs: ${join(dir, 'cluster.log')})\n`);
  await Promise.all(config.shards.flatMap((s) => s.replicas.map((r) => supervisor.start('shard', r.id))));
  await Promise.all(config.gateways.map((g) => supervisor.start('gateway', g.id, ['--interface', advertise])));
  const dns = Array.from({ length: agents }, (_, i) => String(1001 + i));
  await provisionDemoAgents(config, [...dns, softphoneDn]);
  await Promise.all(config.sip.map((n) => supervisor.start('sip', n.id)));
  if (!f['no-phones']) {
    // A 15 s dialog probe: a demo phone whose SIP node was killed hangs up within seconds
    // of the restart (481) instead of holding a dead call.
    await supervisor.start('phones', 'phones1', ['--dns', `${dns[0]}-${dns[dns.length - 1]}`, '--password-prefix', 'agent-', '--dialog-probe-ms', '15000']);
  }
  printReady(config, dns);
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

async function clusterFile(dir: string, o: { shards: number; sipPort: number; adminPort: number; advertise: string }): Promise<{ path: string; config: ClusterConfig }> {
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
    if (config.shards.length !== o.shards || config.sip[0]?.udp.port !== o.sipPort || config.sip[0]?.admin.port !== o.adminPort || config.sip[0]?.udp.host !== o.advertise) {
      throw new UsageError(`${path} was written for another layout (--shards, --sip-port, --admin-port or --advertise differ); use those flags, another --data, or delete ${dir}`);
    }
    return { path, config };
  }
  return writeLocalClusterConfig({ dir, shards: o.shards, sipNodes: 1, gateways: 1, sipPort: o.sipPort, adminPort: o.adminPort, sipHost: o.advertise, services: [demoService], preferredLeaders: true });
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
      check(await client.command(dn, { type: 'provision', dn, name, skills: { [demoService.skill]: 50 }, wrapUpMs: 2000, maxNoAnswer: 3, credentials }), dn);
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

function printReady(config: ClusterConfig, dns: readonly string[]): void {
  const sip = config.sip[0]!;
  const admin = `http://${sip.admin.host}:${sip.admin.port}`;
  const caller = fileURLToPath(new URL('./sipp/scenarios/caller.xml', import.meta.url));
  process.stdout.write(
    [
      '',
      `ringfence: ready — ${config.shards.length} shards × 3 replicas, SIP on ${sip.udp.host}:${sip.udp.port} (UDP and TCP), ${dns.length} demo agents ${dns[0]}–${dns[dns.length - 1]} READY with skill ${demoService.skill}`,
      '',
      `  Dashboard and admin REST: ${admin}/   (API docs: ${admin}/docs)`,
      `    admin token: ${config.tokens.admin}`,
      `    read token:  ${config.tokens.read}`,
      `    curl -H 'Authorization: Bearer ${config.tokens.read}' ${admin}/v1/cluster`,
      '',
      `  Call the support line ${demoService.number} with RTP (SIPp, apt-get install sip-tester); a demo agent answers and echoes your audio:`,
      `    sipp -sf ${caller} -s ${demoService.number} -set rtp 1 -set hold_min_ms 5000 -set hold_spread_ms 0 -m 1 -i ${sip.udp.host} ${sip.udp.host}:${sip.udp.port}`,
      '',
      `  Be an agent with a softphone (Linphone, Zoiper, MicroSIP): register to ${sip.udp.host}:${sip.udp.port} over UDP or TCP`,
      `    as user/extension ${softphoneDn}, password ${demoPassword(softphoneDn)}, domain/realm ${config.realm}.`,
      `    Agent ${softphoneDn} is READY: once registered, calls to ${demoService.number} can ring you.`,
      '',
      '  Ctrl-C stops the cluster; its data stays in the data directory and the next npm start picks it up.',
      '',
    ].join('\n'),
  );
}
