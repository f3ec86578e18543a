// A cluster spread over the hosts of a network-namespace lab (netns.ts): per host one
// store (or, in the `co-hosted` layout, one `ringfence shard` process hosting a replica of
// every shard placed there), one SIP node and one media gateway, each bound to its
// host's address, started through `ip netns exec` so a partition between hosts cuts them
// as it would cut machines. Each namespace has its own port space, so every host uses the
// same fixed ports below and two runs at once never collide (their addresses differ).
// The launcher, load clients, SIPp and demo phones stay in the root namespace and reach
// every host over the bridge.
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { stringify as toYaml } from 'yaml';
import { validateClusterConfig, type ClusterConfig } from '../common/config.js';
import { gatewayRtpPortBase, gatewayRtpPortsPerGateway } from './limits.js';
import { ProcessSet, writeSecretFile, type ProcRole } from './local-cluster.js';
import type { NetnsLab } from './netns.js';

/** Fixed ports inside every host's namespace. */
export const hostPorts = Object.freeze({
  storeRaft: 7100,
  storeClient: 7200,
  storeAdmin: 7300,
  /** co-hosted layout: shard k's replica (k from 0) uses base + k. */
  replicaRaftBase: 10_000,
  replicaClientBase: 12_000,
  replicaAdminBase: 14_000,
  sip: 5060,
  sipAdmin: 8080,
  gatewayControl: 2223,
  gatewayAdmin: 8090,
});
/** The co-hosted layout's per-replica port blocks hold this many shards. */
export const coHostedShardsMax = 2000;

export type HostsLayout = 'stores' | 'co-hosted';

export type HostsClusterSpec = Readonly<{
  dir: string;
  lab: NetnsLab;
  shards: number;
  /** 'stores' (default): a `ringfence store` per host. 'co-hosted': a `ringfence shard`
   * process per host hosting one replica of each shard placed there. */
  layout?: HostsLayout;
  /** A SIP node per host (default true). */
  sip?: boolean;
  /** A media gateway per host (default true). */
  gateways?: boolean;
  services?: readonly { number: string; skill: string; minLevel?: number }[];
  raft?: Partial<ClusterConfig['raft']>;
}>;

/** One process of the cluster: its ProcessSet id, role and the lab host it runs on. */
export type Placed = Readonly<{ id: string; role: ProcRole; host: string }>;

export type HostsClusterFile = Readonly<{
  path: string;
  config: ClusterConfig;
  layout: HostsLayout;
  /** Every store/shard process, SIP node and gateway, host by host. */
  placement: readonly Placed[];
}>;

/** The replica of shard `k` (0-based) on each host, placed round-robin from host k. */
function replicaHosts(lab: NetnsLab, k: number, replicas: number): string[] {
  return Array.from({ length: replicas }, (_, r) => lab.hosts[(k + r) % lab.hosts.length]!.name);
}

export async function writeHostsClusterConfig(spec: HostsClusterSpec): Promise<HostsClusterFile> {
  const { lab } = spec;
  const layout = spec.layout ?? 'stores';
  const replicas = 3;
  if (lab.hosts.length < replicas) throw new Error(`${replicas} replicas per shard need at least ${replicas} hosts, not ${lab.hosts.length}`);
  if (layout === 'co-hosted' && spec.shards > coHostedShardsMax) throw new Error(`the co-hosted layout holds at most ${coHostedShardsMax} shards`);
  const dir = resolve(spec.dir);
  mkdirSync(dir, { recursive: true });
  const at = (host: string, port: number): string => `${lab.host(host).ip}:${port}`;
  const placement: Placed[] = [];
  let shardsSection: object;
  if (layout === 'stores') {
    for (const h of lab.hosts) placement.push({ id: h.name, role: 'store', host: h.name });
    shardsSection = {
      stores: lab.hosts.map((h) => ({ id: h.name, raft: at(h.name, hostPorts.storeRaft), client: at(h.name, hostPorts.storeClient), admin: at(h.name, hostPorts.storeAdmin), data: join(dir, h.name, 'store') })),
      shards: { count: spec.shards, replicas },
    };
  } else {
    const shards = Array.from({ length: spec.shards }, (_, k) => {
      const hosts = replicaHosts(lab, k, replicas);
      return {
        id: `s${k + 1}`,
        // The first replica leads by preference, so leadership spreads evenly over the hosts.
        preferredLeader: `s${k + 1}-${hosts[0]}`,
        replicas: hosts.map((h) => ({ id: `s${k + 1}-${h}`, raft: at(h, hostPorts.replicaRaftBase + k), client: at(h, hostPorts.replicaClientBase + k), admin: at(h, hostPorts.replicaAdminBase + k), data: join(dir, h, `s${k + 1}`) })),
      };
    });
    for (const h of lab.hosts) {
      const hosted = shards.flatMap((s) => s.replicas.filter((r) => r.id.endsWith(`-${h.name}`)).map((r) => r.id));
      if (hosted.length > 0) placement.push({ id: hosted.join(','), role: 'shard', host: h.name });
    }
    shardsSection = { shards };
  }
  const withSip = spec.sip ?? true;
  const withGateways = spec.gateways ?? true;
  const doc = {
    secret: randomBytes(32).toString('hex'),
    tokens: { read: `read-${randomBytes(24).toString('hex')}`, admin: `admin-${randomBytes(24).toString('hex')}` },
    realm: 'ringfence',
    raft: { tickMs: 10, electionTimeoutTicks: 15, heartbeatTicks: 3, snapshotEveryEntries: 10000, ...spec.raft },
    ...shardsSection,
    sip: withSip ? lab.hosts.map((h, i) => ({ id: `sip${i + 1}`, udp: at(h.name, hostPorts.sip), tcp: at(h.name, hostPorts.sip), admin: at(h.name, hostPorts.sipAdmin) })) : [],
    gateways: withGateways ? lab.hosts.map((h, i) => ({ id: `gw${i + 1}`, control: at(h.name, hostPorts.gatewayControl), ports: `${gatewayRtpPortBase}-${gatewayRtpPortBase + gatewayRtpPortsPerGateway - 1}`, admin: at(h.name, hostPorts.gatewayAdmin) })) : [],
    services: (spec.services ?? []).map((s) => ({ number: s.number, skill: s.skill, minLevel: s.minLevel ?? 0 })),
  };
  const config = validateClusterConfig(doc);
  for (const [i, h] of lab.hosts.entries()) {
    if (withSip) placement.push({ id: `sip${i + 1}`, role: 'sip', host: h.name });
    if (withGateways) placement.push({ id: `gw${i + 1}`, role: 'gateway', host: h.name });
  }
  const path = join(dir, 'cluster.yaml');
  writeSecretFile(path, toYaml(doc));
  return { path, config, layout, placement };
}

/** A ProcessSet whose processes named in `placement` run inside their host's namespace
 * (any other id, e.g. demo phones, runs in the root namespace). */
export function hostsProcessSet(lab: NetnsLab, file: HostsClusterFile, opts: ConstructorParameters<typeof ProcessSet>[1] = {}): ProcessSet {
  const procs = new ProcessSet(file.path, opts);
  const hostOf = new Map(file.placement.map((p) => [p.id, p.host]));
  procs.commandPrefix = (_role, id) => {
    const host = hostOf.get(id);
    return host === undefined ? [] : lab.execPrefix(host);
  };
  return procs;
}

/** Extra flags each placed role needs on a host: a gateway binds and advertises its
 * media on the host's address. */
export function hostRoleFlags(lab: NetnsLab, p: Placed): string[] {
  return p.role === 'gateway' ? ['--interface', lab.host(p.host).ip] : [];
}

/** The ProcessSet id of the process hosting `replicaId` (its store, or its co-hosted
 * shard process). */
export function hostProcessOf(file: HostsClusterFile, replicaId: string): string {
  for (const s of file.config.shards) {
    const r = s.replicas.find((x) => x.id === replicaId);
    if (r?.store !== undefined) return r.store;
  }
  return file.placement.find((p) => p.role === 'shard' && p.id.split(',').includes(replicaId))?.id ?? replicaId;
}

/** The lab host a replica lives on. */
export function hostOfReplica(file: HostsClusterFile, replicaId: string): string {
  const proc = hostProcessOf(file, replicaId);
  const p = file.placement.find((x) => x.id === proc);
  if (p === undefined) throw new Error(`no host runs replica ${replicaId}`);
  return p.host;
}
