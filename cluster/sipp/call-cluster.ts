// A call-carrying cluster for the SIPp load test and `bench calls`: shard replicas, SIP
// nodes and one `ringfence phones` process as real OS processes on loopback, with every
// agent provisioned (digest credentials for password pw-<dn>), logged in and READY, and
// every phone registered through a SIP node. Every role starts through cluster/cli.ts.
import { join } from 'node:path';
import type { ClusterConfig } from '../../common/config.js';
import { LOCAL_ROLE_NICE, ProcessSet, shardProcessIds, writeLocalClusterConfig } from '../local-cluster.js';
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
  /** Extra flags for the phones process (children inherit no RINGFENCE_* variable). */
  phonesFlags?: readonly string[];
  /** The SIP nodes' nice value (default: LOCAL_ROLE_NICE's, as every local cluster). */
  sipNice?: number;
  /** 'ringfence' (default): one `ringfence phones` process plays every agent, registers
   * them and records what each received. 'none': no phones; the caller registers the
   * agents itself (e.g. SIPp as the phones, see bench/calls.ts). */
  phones?: 'ringfence' | 'none';
  /** One process per replica index hosting a replica of every shard (`--id s1-a,s2-a`),
   * instead of one process per replica (default). */
  coHostReplicas?: boolean;
  /** Shard i prefers replica i mod 3 as its leader (shards[].preferredLeader). */
  preferredLeaders?: boolean;
  /** The shards' replicas on this many `ringfence store` processes (DESIGN.md, multi-raft
   * stores) instead of shard processes; coHostReplicas and preferredLeaders do not apply. */
  stores?: number;
}>;

export type CallCluster = Readonly<{
  config: ClusterConfig;
  configPath: string;
  /** host:port of each SIP node's UDP listener, in config order. */
  sipTargets: readonly string[];
  recordPath: string;
  procs: ProcessSet;
  /** The ProcessSet ids of the processes running shard replicas (the store ids with
   * `stores`). */
  shardProcs: readonly string[];
  /** Sends SIGUSR2 to the phones and resolves with their status line. */
  phonesStatus: () => Promise<Record<string, unknown>>;
  stop: () => Promise<void>;
}>;

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
  const stores = spec.stores ?? 0;
  if (stores > 0 && (spec.coHostReplicas === true || spec.preferredLeaders === true)) throw new Error('a stores layout places replicas and leaders itself: coHostReplicas and preferredLeaders are for shard processes');
  const layout = stores > 0 ? { stores } : { preferredLeaders: spec.preferredLeaders ?? false };
  const { path, config } = await writeLocalClusterConfig({ dir: spec.dir, shards: spec.shards, sipNodes: spec.sipNodes, services: [{ number: SERVICE_NUMBER, skill: 'support' }], ...layout });
  const logPath = join(spec.dir, 'processes.log');
  const shardProcs = stores > 0 ? (config.stores ?? []).map((s) => s.id) : shardProcessIds(config, spec.coHostReplicas ?? false);
  const procs = new ProcessSet(path, { logFile: logPath, ...(spec.sipNice !== undefined ? { nice: { ...LOCAL_ROLE_NICE, sip: spec.sipNice } } : {}) });
  const killAll = (): void => procs.killAllNow();
  process.once('exit', killAll);
  const client = new ShardClient({ shards: config.shards, auth: { secret: config.secret, principal: 'launcher' }, attemptTimeoutMs: 1000, deadlineMs: 20_000 });
  const stop = async (): Promise<void> => {
    client.close();
    await procs.stopAll(3000);
    process.removeListener('exit', killAll);
  };
  try {
    await Promise.all(shardProcs.map((id) => procs.start(stores > 0 ? 'store' : 'shard', id, [], 120_000)));
    await provision(client, config, spec);
    const sipFlags = ['--ring-timeout-ms', String(spec.ringTimeoutMs), '--queue-wait-ms', String(spec.queueWaitMs), ...(spec.sipFlags ?? [])];
    const sipReady = await Promise.all(config.sip.map((n) => procs.start('sip', n.id, sipFlags, 120_000)));
    const sipTargets = sipReady.map((ready, i) => `127.0.0.1:${Number(ready.udp ?? config.sip[i]!.udp.port)}`);
    if (spec.phones === 'none') return { config, configPath: path, sipTargets, procs, shardProcs, stop };
    const recordPath = join(spec.dir, 'phones.jsonl');
    const behaviour = ['answer', ...(['busy', 'no-answer'] as const).flatMap((b) => {
      const dns = spec.agents.filter((a) => a.behaviour === b).map((a) => a.dn);
      return dns.length === 0 ? [] : [`${b}:${dns.join(',')}`];
    })].join(',');
    const statusWaiters: ((ev: Record<string, unknown>) => void)[] = [];
    procs.onEvent = (id, ev) => {
      if (id === 'phones1' && ev.event === 'status') for (const w of statusWaiters.splice(0)) w(ev);
    };
    await procs.start('phones', 'phones1', [
      '--dns', spec.agents.map((a) => a.dn).join(','), '--behaviour', behaviour, '--record', recordPath,
      '--answer-after-ms', String(spec.answerAfterMs), '--expires-s', '600', ...(spec.phonesFlags ?? []),
    ], 120_000);
    const phonesStatus = (): Promise<Record<string, unknown>> => new Promise((resolve) => {
      statusWaiters.push(resolve);
      procs.procs.get('phones1')?.child?.kill('SIGUSR2');
    });
    return { config, configPath: path, sipTargets, recordPath, procs, shardProcs, phonesStatus, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
