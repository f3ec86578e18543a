// Shared set-up for the SIP node's integration tests: real shard replica processes
// (test/support/shard-cluster.ts), agents provisioned with digest credentials, SIP
// nodes started in this process on 127.0.0.1 port 0, closed in teardown, and media
// gateway processes (killed in teardown).

import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import type { Test } from 'tap';
import { deriveKey } from '../../../common/keys.js';
import { nodeEntryArgs } from '../../../common/node-entry.js';
import { silentLogger } from '../../../common/logger.js';
import type { ClusterConfig, GatewayConfig, ServiceConfig } from '../../../common/config.js';
import { digestCredentials } from '../../../shards/digest-credentials.js';
import type { Agent, Command } from '../../../shards/types.js';
import { startSipNode, type SipNode, type SipNodeOptions } from '../../../sip/node/node.js';
import type { SipTarget } from '../../../sip/transport/index.js';
import { startShardCluster, type ShardCluster } from '../../support/shard-cluster.js';
import { tempDir } from '../../support/temp-dir.js';

export const password = (dn: string): string => `pw-${dn}`;

export async function startCluster(t: Test, services: readonly ServiceConfig[], shards = 2): Promise<{ cluster: ShardCluster; config: ClusterConfig }> {
  const cluster = await startShardCluster(t, { shards, replicasPerShard: 1 });
  return { cluster, config: { ...cluster.config, services } };
}

export async function startNode(t: Test, config: ClusterConfig, over: Partial<SipNodeOptions> = {}): Promise<SipNode> {
  const node = await startSipNode({
    config,
    nodeId: 'sip1',
    log: process.env.RINGFENCE_TEST_LOG ? undefined : silentLogger,
    udp: { host: '127.0.0.1', port: 0 },
    tcp: { host: '127.0.0.1', port: 0 },
    admin: { host: '127.0.0.1', port: 0 },
    ...over,
  });
  t.teardown(() => node.close());
  return node;
}

export function sipTarget(node: SipNode): SipTarget {
  return { protocol: 'UDP', host: '127.0.0.1', port: node.udpPort };
}

/** Provisions an agent with `skills`, logs it in and (unless told not to) makes it READY. */
export async function addAgent(cluster: ShardCluster, config: ClusterConfig, dn: string, skills: Record<string, number>, o: { ready?: boolean; maxNoAnswer?: number; wrapUpMs?: number } = {}): Promise<void> {
  const c = cluster.client;
  const cmds: Command[] = [
    { type: 'provision', dn, name: `Agent ${dn}`, skills, wrapUpMs: o.wrapUpMs ?? 0, maxNoAnswer: o.maxNoAnswer ?? 0, credentials: digestCredentials(dn, config.realm, password(dn)) },
    { type: 'login', dn },
    ...(o.ready === false ? [] : [{ type: 'ready', dn } as const]),
  ];
  for (const cmd of cmds) {
    const r = await c.command(dn, cmd);
    if (!r.ok) throw new Error(`${cmd.type} ${dn}: ${r.code} ${r.reason}`);
  }
}

export async function readAgent(cluster: ShardCluster, dn: string): Promise<Agent> {
  return (await cluster.client.read(cluster.client.shardFor(dn), { type: 'agent', dn }, 'linearizable')) as Agent;
}

/** Polls until `check` holds (or fails the wait after `timeoutMs`). */
export async function waitFor<T>(what: string, probe: () => Promise<T> | T, check: (v: T) => boolean, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (check(v)) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A real gateway process (`gateway/gateway-process.ts`) with its control socket on
 * 127.0.0.1 port 0 and media ports in `ports` (MIN-MAX), keyed like the cluster's SIP
 * nodes (deriveKey(secret, 'ng-control'), in a 0600 file); SIGKILLed in teardown. */
export async function startGatewayProcess(t: Test, id: string, ports: string, mediaTimeoutS: number, secret: string): Promise<{ proc: ChildProcess; config: GatewayConfig }> {
  const keyFile = join(tempDir(t, `ngkey-${id}`), 'ng.key');
  writeFileSync(keyFile, deriveKey(secret, 'ng-control').toString('hex'), { mode: 0o600 });
  const proc = spawn(process.execPath, [...nodeEntryArgs(fileURLToPath(new URL('../../../gateway/gateway-process.ts', import.meta.url))), '--control', '127.0.0.1:0', '--ports', ports, '--media-timeout-s', String(mediaTimeoutS), '--ng-key-file', keyFile], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  t.teardown(() => { if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL'); });
  const line = await new Promise<string>((resolve, reject) => {
    const rl = createInterface({ input: proc.stdout! });
    rl.once('line', resolve);
    proc.once('exit', (code) => reject(new Error(`gateway ${id} exited ${code}`)));
  });
  const ev = JSON.parse(line) as { control: number };
  const [min, max] = ports.split('-').map(Number);
  return { proc, config: { id, control: { host: '127.0.0.1', port: ev.control }, portMin: min!, portMax: max!, admin: null, ngAuth: true } };
}
