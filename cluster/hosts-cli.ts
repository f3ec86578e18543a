// `npm run cluster -- --hosts 3 --shards 100`: a whole contact center spread over three
// "hosts" on this machine, each a Linux network namespace (cluster/netns.ts) running one
// store, one SIP node and one media gateway bound to its own private address; demo agents
// provisioned READY and demo phones (in the root namespace) registered round-robin with
// the SIP nodes. As root only. Prints where the admin REST is and a SIPp command, like
// `npm start`; Ctrl-C (or SIGTERM) stops every process and removes the namespaces, links
// and rules; `--cleanup` removes what a killed run left. Each run takes a fresh /24 and a
// fresh data directory (the addresses differ from run to run), removed on exit unless --keep.
// Exit codes: 0 stopped cleanly, 2 bad usage or not root, 1 start-up failed.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { intFlag, parseFlags, UsageError } from '../common/args.js';
import type { ClusterConfig } from '../common/config.js';
import { exitCodes } from '../common/last-resort.js';
import { ShardClient } from '../shards/client/shard-client.js';
import { digestCredentials } from '../shards/digest-credentials.js';
import { hostRoleFlags, hostsProcessSet, writeHostsClusterConfig, type HostsLayout } from './hosts-cluster.js';
import { demoPassword, demoService, supervise } from './launcher.js';
import { demoProvisionDeadlineMs, launcherStopGraceMs } from './limits.js';
import { cleanupLeftovers, createNetnsLab, netnsHostsMax, requireNetnsTools, type NetnsLab } from './netns.js';

export const flags = {
  hosts: { type: 'string', help: `hosts (network namespaces), 3 to ${netnsHostsMax}`, default: '3' },
  shards: { type: 'string', help: 'DN shards (3 replicas each, spread over the hosts)', default: '100' },
  layout: { type: 'string', help: 'stores (a `ringfence store` per host) or co-hosted (a `ringfence shard` process per host hosting its replicas)', default: 'stores' },
  agents: { type: 'string', help: 'demo agents (DNs from 1001) with demo phones', default: '20' },
  data: { type: 'string', help: 'data directory (default: a fresh one under the temporary directory, removed on exit unless --keep)' },
  keep: { type: 'boolean', help: 'keep the data directory on exit' },
  'no-phones': { type: 'boolean', help: 'do not start the demo agent phones' },
  cleanup: { type: 'boolean', help: 'remove the namespaces, links and rules that killed runs left, then exit' },
} as const;

const usage = 'usage: npm run cluster -- [--hosts 3] [--shards 100] [--layout stores|co-hosted] [--agents 20] | --cleanup   (as root)';
const callerScenario = fileURLToPath(new URL('./sipp/scenarios/caller.xml', import.meta.url));

async function provisionDemoAgents(config: ClusterConfig, dns: readonly string[]): Promise<void> {
  const client = new ShardClient({ shards: config.shards, auth: { secret: config.secret, principal: 'launcher' }, deadlineMs: demoProvisionDeadlineMs });
  try {
    const queue = [...dns];
    const worker = async (): Promise<void> => {
      for (let dn = queue.shift(); dn !== undefined; dn = queue.shift()) {
        const credentials = digestCredentials(dn, config.realm, demoPassword(dn));
        for (const cmd of [
          { type: 'provision', dn, name: `Demo agent ${dn}`, skills: { [demoService.skill]: 50 }, wrapUpMs: 2000, maxNoAnswer: 3, credentials },
          { type: 'login', dn },
          { type: 'ready', dn },
        ] as const) {
          const r = await client.command(dn, cmd);
          if (!r.ok) throw new Error(`demo agent ${dn}: ${cmd.type}: ${r.code}: ${r.reason}`);
        }
      }
    };
    await Promise.all(Array.from({ length: 4 }, worker));
  } finally {
    client.close();
  }
}

function readyText(lab: NetnsLab, config: ClusterConfig, layout: HostsLayout, agents: number): string {
  const sip = config.sip[0]!;
  const admin = `http://${sip.admin.host}:${sip.admin.port}`;
  const hostLines = lab.hosts.map((h, i) => `    ${h.name}: ${h.ip} (netns ${h.ns}): ${layout === 'stores' ? `store ${h.name}` : 'shard process'}, SIP node sip${i + 1} on ${h.ip}:${config.sip[i]?.udp.port}, gateway gw${i + 1}`);
  return [
    '',
    `ringfence: ready — ${lab.hosts.length} hosts in network namespaces on bridge ${lab.bridge} (${lab.subnet}; this namespace is ${lab.rootIp}), ${config.shards.length} shards × 3 replicas, ${agents} demo agents READY with skill ${demoService.skill}`,
    ...hostLines,
    '',
    `  Admin REST and dashboard: ${admin}/   (every SIP node has one: ${config.sip.map((n) => `http://${n.admin.host}:${n.admin.port}`).join(', ')})`,
    `    admin token: ${config.tokens.admin}`,
    `    read token:  ${config.tokens.read}`,
    `    curl -H 'Authorization: Bearer ${config.tokens.read}' ${admin}/v1/cluster`,
    '',
    `  Call the support line ${demoService.number} from this namespace (SIPp); a demo agent answers and echoes your audio:`,
    `    sipp -sf ${callerScenario} -s ${demoService.number} -set rtp 1 -set hold_min_ms 5000 -set hold_spread_ms 0 -m 1 -i ${lab.rootIp} ${sip.udp.host}:${sip.udp.port}`,
    `  Run a command on a host: ip netns exec ${lab.hosts[0]!.ns} ss -tlnp`,
    '',
    '  Ctrl-C stops the cluster and removes its namespaces, links and rules.',
    '',
  ].join('\n');
}

async function main(): Promise<number> {
  const f = parseFlags(process.argv.slice(2), flags, usage);
  if (f.cleanup) {
    const removed = cleanupLeftovers('npm run cluster -- --cleanup');
    process.stdout.write(removed.length === 0 ? 'ringfence: nothing left by earlier runs\n' : `ringfence: removed ${removed.join(', ')}\n`);
    return 0;
  }
  const hostCount = intFlag(f.hosts, 'hosts', 3, netnsHostsMax, 3);
  const shards = intFlag(f.shards, 'shards', 1, 1000, 100);
  const agents = intFlag(f.agents, 'agents', 1, 99, 20);
  const layout = f.layout as HostsLayout;
  if (layout !== 'stores' && layout !== 'co-hosted') throw new UsageError(`--layout must be stores or co-hosted, got ${JSON.stringify(f.layout)}`);
  requireNetnsTools('npm run cluster');
  const dir = f.data === undefined ? mkdtempSync(join(tmpdir(), 'ringfence-hosts-')) : resolve(f.data);
  const lab = createNetnsLab(hostCount);
  const say = (line: string): void => { process.stdout.write(line); };
  const file = await writeHostsClusterConfig({ dir, lab, shards, layout, services: [demoService] });
  const procs = hostsProcessSet(lab, file, { logFile: join(dir, 'cluster.log') });
  const supervisor = supervise(procs, say);
  let stopping = false;
  const stop = async (code: number): Promise<never> => {
    if (!stopping) {
      stopping = true;
      supervisor.stop();
      say('\nringfence: stopping...\n');
      await procs.stopAll(launcherStopGraceMs);
      lab.teardown();
      if (f.data === undefined && !f.keep) rmSync(dir, { recursive: true, force: true });
      say(`ringfence: stopped; namespaces, links and rules of ${lab.tag} removed\n`);
    }
    process.exit(code);
  };
  process.on('SIGINT', () => void stop(0));
  process.on('SIGTERM', () => void stop(0));
  process.on('exit', () => procs.killAllNow());
  try {
    say(`ringfence: starting ${hostCount} hosts (${lab.hosts.map((h) => `${h.name} ${h.ip}`).join(', ')}), ${shards} shards × 3 replicas (${layout}), a SIP node and a gateway per host (data and logs: ${dir})\n`);
    const shardProcs = file.placement.filter((p) => p.role === 'store' || p.role === 'shard');
    await Promise.all(shardProcs.map((p) => supervisor.start(p.role, p.id, hostRoleFlags(lab, p))));
    await Promise.all(file.placement.filter((p) => p.role === 'gateway').map((p) => supervisor.start(p.role, p.id, hostRoleFlags(lab, p))));
    const dns = Array.from({ length: agents }, (_, i) => String(1001 + i));
    await provisionDemoAgents(file.config, dns);
    await Promise.all(file.placement.filter((p) => p.role === 'sip').map((p) => supervisor.start('sip', p.id, ['--cdr', join(dir, `cdr-${p.id}.jsonl`)])));
    if (!f['no-phones']) {
      await supervisor.start('phones', 'phones1', ['--dns', `${dns[0]}-${dns[dns.length - 1]}`, '--password-prefix', 'agent-', '--host', lab.rootIp, '--dialog-probe-ms', '15000']);
    }
    say(readyText(lab, file.config, layout, agents));
  } catch (err) {
    process.stderr.write(`ringfence: start-up failed: ${(err as Error).message}\n`);
    return stop(exitCodes.startFailed);
  }
  return new Promise<number>(() => {});
}

main().then(
  (code) => process.exit(code),
  (err: Error & { code?: string }) => {
    process.stderr.write(`ringfence: ${err.message}\n`);
    process.exit(err instanceof UsageError ? exitCodes.usage : exitCodes.startFailed);
  },
);
