// A call-carrying cluster for the SIPp load test and `bench calls`: shard replicas, SIP
// nodes and one `ringfence phones` process as real OS processes on loopback, with every
// agent provisioned (digest credentials for password pw-<dn>), logged in and READY, and
// every phone registered through a SIP node. SIP nodes and phones start through
// common/cli.ts when it lists their role, else through run-role.ts next to this file.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, readFileSync, type WriteStream } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ClusterConfig } from '../../common/config.js';
import { ProcessSet, writeLocalClusterConfig } from '../../common/local-cluster.js';
import { ShardClient } from '../../shards/client/shard-client.js';
import { digestCredentials } from '../../shards/digest-credentials.js';
import type { Command } from '../../shards/types.js';
import type { Behaviour } from '../../sip/phones/phone-spec.js';

export const SERVICE_NUMBER = '5000';
export const passwordOf = (dn: string): string => `pw-${dn}`;

export type CallClusterSpec = Readonly<{
  dir: string;
  shards: number;
  sipNodes: number;
  agents: readonly Readonly<{ dn: string; behaviour: Behaviour }>[];
  answerAfterMs: number;
  ringTimeoutMs: number;
  queueWaitMs: number;
  wrapUpMs: number;
  /** Extra flags for every SIP node. */
  sipFlags?: readonly string[];
  /** 'ringfence' (default): one `ringfence phones` process plays every agent, registers
   * them and records what each received. 'none': no phones; the caller registers the
   * agents itself (e.g. SIPp as the phones, see bench/calls.ts). */
  phones?: 'ringfence' | 'none';
}>;

export type CallCluster = Readonly<{
  config: ClusterConfig;
  configPath: string;
  /** host:port of each SIP node's UDP listener, in config order. */
  sipTargets: readonly string[];
  recordPath: string;
  procs: ProcessSet;
  /** Sends SIGUSR2 to the phones and resolves with their status line. */
  phonesStatus: () => Promise<Record<string, unknown>>;
  stop: () => Promise<void>;
}>;

const cliSource = readFileSync(fileURLToPath(new URL('../../common/cli.ts', import.meta.url)), 'utf8');
const runRole = fileURLToPath(new URL('./run-role.ts', import.meta.url));

function cliHasRole(role: string): boolean {
  return new RegExp(`^\\s+${role}: \\{`, 'm').test(cliSource);
}

type Started = { child: ChildProcess | null; ready: Record<string, unknown>; lines: (cb: (ev: Record<string, unknown>) => void) => void };

/** Spawns a role, resolving with its ready line; `onLine` sees later JSON lines too. */
function spawnRole(procs: ProcessSet, configPath: string, role: 'sip' | 'phones', id: string, extra: readonly string[], log: WriteStream): Promise<Started> {
  const listeners: ((ev: Record<string, unknown>) => void)[] = [];
  if (cliHasRole(role)) {
    return procs.start(role, id, extra, 120_000).then((ready) => {
      const child = procs.procs.get(id)?.child ?? null;
      child?.stdout?.on('data', (d: Buffer) => {
        for (const line of d.toString('utf8').split('\n')) {
          try {
            const ev = JSON.parse(line) as Record<string, unknown>;
            for (const l of listeners) l(ev);
          } catch {
            // not JSON
          }
        }
      });
      return { child, ready, lines: (cb) => listeners.push(cb) };
    });
  }
  const child = spawn(process.execPath, ['--import', 'tsx', runRole, role, '--config', configPath, '--id', id, ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stderr!.on('data', (d: Buffer) => log.write(d));
  return new Promise((resolve, reject) => {
    let buf = '';
    let ready: Record<string, unknown> | null = null;
    const timer = setTimeout(() => reject(new Error(`${role} ${id} not ready within 120 s`)), 120_000);
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString('utf8');
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        log.write(`[${id} stdout] ${line}\n`);
        let ev: Record<string, unknown>;
        try {
          ev = JSON.parse(line) as Record<string, unknown>;
        } catch {
          continue;
        }
        if (ev.event === 'ready' && ready === null) {
          ready = ev;
          clearTimeout(timer);
          resolve({ child, ready, lines: (cb) => listeners.push(cb) });
        }
        for (const l of listeners) l(ev);
      }
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      if (ready === null) reject(new Error(`${role} ${id} exited (${signal ?? code}) before it was ready; see ${log.path}`));
    });
  });
}

async function provision(client: ShardClient, config: ClusterConfig, spec: CallClusterSpec): Promise<void> {
  const run = async (dn: string, cmd: Command): Promise<void> => {
    const r = await client.command(dn, cmd, { deadlineMs: 20_000 });
    if (!r.ok) throw new Error(`${cmd.type} ${dn}: ${JSON.stringify(r)}`);
  };
  const queue = [...spec.agents];
  const worker = async (): Promise<void> => {
    for (let a = queue.shift(); a !== undefined; a = queue.shift()) {
      await run(a.dn, {
        type: 'provision', dn: a.dn, name: `Agent ${a.dn}`, skills: { support: 50 }, wrapUpMs: spec.wrapUpMs, maxNoAnswer: 0,
        credentials: digestCredentials(a.dn, config.realm, passwordOf(a.dn)),
      });
      await run(a.dn, { type: 'login', dn: a.dn });
      await run(a.dn, { type: 'ready', dn: a.dn });
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
}

/** A cluster started with `phones: 'none'`. */
export type BareCallCluster = Omit<CallCluster, 'recordPath' | 'phonesStatus'>;

export function startCallCluster(spec: CallClusterSpec & { phones: 'none' }): Promise<BareCallCluster>;
export function startCallCluster(spec: CallClusterSpec): Promise<CallCluster>;
export async function startCallCluster(spec: CallClusterSpec): Promise<CallCluster | BareCallCluster> {
  const { path, config } = await writeLocalClusterConfig({ dir: spec.dir, shards: spec.shards, sipNodes: spec.sipNodes, services: [{ number: SERVICE_NUMBER, skill: 'support' }] });
  const logPath = join(spec.dir, 'processes.log');
  const procs = new ProcessSet(path, { logFile: logPath });
  const log = createWriteStream(join(spec.dir, 'roles.log'), { flags: 'a' });
  const own: ChildProcess[] = [];
  const killAll = (): void => {
    procs.killAllNow();
    for (const c of own) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  };
  process.once('exit', killAll);
  const client = new ShardClient({ shards: config.shards, attemptTimeoutMs: 1000, deadlineMs: 20_000 });
  const stop = async (): Promise<void> => {
    client.close();
    await Promise.all(own.map(async (c) => {
      if (c.exitCode !== null || c.signalCode !== null) return;
      const gone = new Promise<void>((r) => c.once('exit', () => r()));
      c.kill('SIGTERM');
      const t = setTimeout(() => c.kill('SIGKILL'), 3000);
      await gone;
      clearTimeout(t);
    }));
    await procs.stopAll(3000);
    log.end();
    process.removeListener('exit', killAll);
  };
  try {
    await Promise.all(config.shards.flatMap((s) => s.replicas.map((r) => procs.start('shard', r.id, [], 120_000))));
    await provision(client, config, spec);
    const sipFlags = ['--ring-timeout-ms', String(spec.ringTimeoutMs), '--queue-wait-ms', String(spec.queueWaitMs), ...(spec.sipFlags ?? [])];
    const sips = await Promise.all(config.sip.map((n) => spawnRole(procs, path, 'sip', n.id, sipFlags, log)));
    for (const s of sips) if (s.child && !cliHasRole('sip')) own.push(s.child);
    const sipTargets = sips.map((s, i) => `127.0.0.1:${Number(s.ready.udp ?? config.sip[i]!.udp.port)}`);
    if (spec.phones === 'none') return { config, configPath: path, sipTargets, procs, stop };
    const recordPath = join(spec.dir, 'phones.jsonl');
    const behaviour = ['answer', ...(['busy', 'no-answer'] as const).flatMap((b) => {
      const dns = spec.agents.filter((a) => a.behaviour === b).map((a) => a.dn);
      return dns.length === 0 ? [] : [`${b}:${dns.join(',')}`];
    })].join(',');
    const phones = await spawnRole(procs, path, 'phones', 'phones1', [
      '--dns', spec.agents.map((a) => a.dn).join(','), '--behaviour', behaviour, '--record', recordPath,
      '--answer-after-ms', String(spec.answerAfterMs), '--expires-s', '600',
    ], log);
    if (phones.child && !cliHasRole('phones')) own.push(phones.child);
    const statusWaiters: ((ev: Record<string, unknown>) => void)[] = [];
    phones.lines((ev) => {
      if (ev.event === 'status') for (const w of statusWaiters.splice(0)) w(ev);
    });
    const phonesStatus = (): Promise<Record<string, unknown>> => new Promise((resolve) => {
      statusWaiters.push(resolve);
      phones.child?.kill('SIGUSR2');
    });
    return { config, configPath: path, sipTargets, recordPath, procs, phonesStatus, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
