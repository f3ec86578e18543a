// Which sources the SIP node's per-source limits (sip/transport/source-gate.ts) trust, as
// the `--sip-trusted-sources` flag spells them: IPs, CIDRs, `loopback` (127.0.0.0/8, ::1),
// `cluster` (every IP address the cluster file names for a shard replica, SIP node or
// gateway: hostnames are not resolved, list their addresses instead) and `none`. The
// default is `loopback,cluster`: a packet from 127/8 cannot arrive from outside the host
// (the kernel drops such martians), and the benches and local clusters drive a node from
// one loopback address at hundreds of calls a second.

import { isIP } from 'node:net';
import type { ClusterConfig } from '../../common/config.js';
import { parseTrustedSources } from '../transport/index.js';

export const trustedSourcesDefault = 'loopback,cluster';

/** The trusted entries for `spec` (comma-separated), with `cluster` expanded from the
 * cluster file. Throws an Error naming an entry that is not an IP, a CIDR or a keyword. */
export function trustedSources(spec: string, config: ClusterConfig): string[] {
  const out: string[] = [];
  for (const raw of spec.split(',')) {
    const entry = raw.trim();
    if (entry === '' || entry === 'none') continue;
    if (entry === 'cluster') out.push(...clusterAddresses(config));
    else out.push(entry);
  }
  parseTrustedSources(out); // throws on a bad entry, naming it
  return out;
}

function clusterAddresses(config: ClusterConfig): string[] {
  const hosts = [
    ...config.shards.flatMap((s) => s.replicas.flatMap((r) => [r.raft.host, r.client.host, r.admin.host])),
    ...config.sip.flatMap((n) => [n.udp.host, n.tcp.host, n.admin.host]),
    ...config.gateways.map((g) => g.control.host),
  ];
  const unspecified = new Set(['0.0.0.0', '::']);
  return [...new Set(hosts)].filter((h) => isIP(h) !== 0 && !unspecified.has(h));
}
