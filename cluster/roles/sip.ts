// `ringfence sip --config cluster.yaml --id sip1`: one SIP server node as a process.
// Prints `{"event":"ready","role":"sip",...}` on stdout once it serves SIP and REST.

import { announce, intFlag, onShutdown, parseFlags, requireFlag, UsageError } from '../../common/args.js';
import { healthRoutes } from '../../common/admin.js';
import { clusterFileExposure, ConfigError, loadClusterConfig, type ClusterConfig } from '../../common/config.js';
import { createLogger } from '../../common/logger.js';
import { digestAlgorithmsDefault, parseDigestAlgorithms, type DigestAlgorithm } from '../../sip/node/digest.js';
import * as limits from '../../sip/node/limits.js';
import { trustedSources, trustedSourcesDefault } from '../../sip/node/source-limits.js';
import * as transportLimits from '../../sip/transport/limits.js';
import { loadTlsCredentials, TlsCredentialsError, type TlsCredentials } from '../../sip/transport/index.js';
import { startSipNode } from '../../sip/node/node.js';
import { NgMediaController, PassthroughMedia, type MediaController } from '../../sip/node/media.js';
import { coalesced, probeSipNode } from '../readiness.js';
import { clusterViewRoutes } from '../cluster-view.js';
import { dashboardRoutes } from '../dashboard/dashboard-routes.js';
import { routingStrategies, type RoutingStrategy } from '../../sip/node/router.js';
import { webhookUrlProblem } from '../../sip/node/routing-webhook.js';

export const flags = {
  config: { type: 'string', help: 'cluster file (YAML)' },
  id: { type: 'string', help: 'this node id, as named in the cluster file' },
  'ring-timeout-ms': { type: 'string', help: 'ring an agent this long before re-routing, for services that set no ringTimeoutMs', default: String(limits.ringTimeoutMsDefault) },
  'lease-ms': { type: 'string', help: 'this node\'s lease on each shard, renewed every third of it; if the node stops renewing, the shards free its agents after this long', default: String(limits.leaseTtlMsDefault) },
  'orphan-hold-ms': { type: 'string', help: 'an agent whose call this node held when it died waits in WRAP_UP this long', default: String(limits.orphanHoldMsDefault) },
  'queue-wait-ms': { type: 'string', help: 'longest wait in queue before 480, for services that set no maxWaitMs', default: String(limits.queueWaitMsDefault) },
  strategy: { type: 'string', help: `routing strategy for services that set none: ${routingStrategies.join(', ')}`, default: 'longest-idle' },
  cdr: { type: 'string', help: 'append call detail records (JSON lines) to this file' },
  'digest-algorithms': { type: 'string', help: `digest challenges offered, in order: SHA-256 and/or MD5 (overrides digest.algorithms of the cluster file; default ${digestAlgorithmsDefault.join(',')})` },
  'gateway-poll-ms': { type: 'string', help: 'media gateway ping / media-timeout poll interval', default: String(limits.gatewayPollIntervalMsDefault) },
  'routing-webhook-url': { type: 'string', help: 'POST each routing decision to this URL first (overrides routing.webhook.url of the cluster file)' },
  'routing-webhook-timeout-ms': { type: 'string', help: `routing webhook deadline per request (default: the cluster file's, else ${limits.routingWebhookTimeoutMsDefault})` },
  'sip-source-rate': { type: 'string', help: 'SIP messages a second one source IP may send before it gets 503 (0: no per-source limit)', default: String(transportLimits.sourceRequestsPerSecondDefault) },
  'sip-source-burst': { type: 'string', help: 'burst above --sip-source-rate one source may send', default: String(transportLimits.sourceBurstDefault) },
  'sip-trusted-sources': { type: 'string', help: 'sources never limited: IPs, CIDRs, loopback, cluster (the cluster file\'s addresses), none', default: trustedSourcesDefault },
  'tcp-connections-per-source': { type: 'string', help: 'inbound SIP TCP connections one untrusted source IP may hold', default: String(transportLimits.DEFAULT_TRANSPORT_LIMITS.tcpConnectionsPerSourceMax) },
  'tcp-message-deadline-ms': { type: 'string', help: 'a SIP message over TCP must be complete this long after its first byte', default: String(transportLimits.DEFAULT_TRANSPORT_LIMITS.tcpMessageDeadlineMs) },
  'digest-failures-max': { type: 'string', help: 'wrong passwords one source may try for one DN within a minute before it is locked out', default: String(limits.digestFailuresMax) },
  'digest-lockout-ms': { type: 'string', help: 'how long a (source, DN) pair is locked out after too many wrong passwords', default: String(limits.digestLockoutMs) },
  'digest-user-failures-max': { type: 'string', help: 'wrong passwords for one DN from all sources within 10 minutes before only sources that registered it before may try', default: String(limits.digestUserFailuresMax) },
  'no-nat': { type: 'boolean', help: 'treat every Contact as reachable: no received/rport bindings, no RFC 5626 flows, no keep-alives (sip/node/README.md "Agents behind NAT")' },
  'nat-keepalive-ms': { type: 'string', help: 'OPTIONS keep-alive interval to UDP phones registered from behind a NAT', default: String(limits.natKeepAliveIntervalMsDefault) },
  'nat-keepalive-misses': { type: 'string', help: 'unanswered keep-alives in a row before such a binding is removed', default: String(limits.natKeepAliveMissesMax) },
} as const;

export async function main(argv: string[]): Promise<void> {
  const f = parseFlags(argv, flags, 'usage: ringfence sip --config cluster.yaml --id <node>');
  const configPath = requireFlag(f.config, 'config');
  const config = loadClusterConfig(configPath);
  const id = requireFlag(f.id, 'id');
  if (!config.sip.some((n) => n.id === id)) throw new UsageError(`--id: no sip node ${JSON.stringify(id)} in the cluster file (${config.sip.map((n) => n.id).join(', ') || 'it lists none'})`);
  const strategy = f.strategy as RoutingStrategy;
  if (!routingStrategies.includes(strategy)) throw new UsageError(`--strategy must be one of ${routingStrategies.join(', ')}`);
  const digestAlgorithms = digestPolicy(f['digest-algorithms'], config.digest?.algorithms);
  const fileHook = config.routing?.webhook ?? null;
  const hookUrl = f['routing-webhook-url'] || fileHook?.url;
  const urlProblem = hookUrl === undefined ? null : webhookUrlProblem(hookUrl);
  if (urlProblem !== null) throw new UsageError(`--routing-webhook-url: ${urlProblem}`);
  const hookTimeoutMs = intFlag(f['routing-webhook-timeout-ms'], 'routing-webhook-timeout-ms', 1, limits.routingWebhookTimeoutMsMax, fileHook?.timeoutMs ?? limits.routingWebhookTimeoutMsDefault);
  const sourceRate = intFlag(f['sip-source-rate'], 'sip-source-rate', 0, 1_000_000, transportLimits.sourceRequestsPerSecondDefault);
  let trusted: string[];
  try {
    trusted = trustedSources(f['sip-trusted-sources'] ?? trustedSourcesDefault, config);
  } catch (err) {
    throw new UsageError(`--sip-trusted-sources: ${(err as Error).message}`);
  }
  const tls = tlsOf(config, id);
  const log = createLogger({ role: 'sip', id });
  const exposure = clusterFileExposure(configPath);
  if (exposure !== null) log.warn(exposure);
  const self = { role: 'sip', id } as const;
  const gatewayPollIntervalMs = intFlag(f['gateway-poll-ms'], 'gateway-poll-ms', 100, 60_000, limits.gatewayPollIntervalMsDefault);
  // Made here rather than by the node, so /readyz can see which gateways answer pings.
  const media: MediaController = config.gateways.length > 0
    ? new NgMediaController({ gateways: config.gateways, log, pollIntervalMs: gatewayPollIntervalMs, rootSecret: config.secret })
    : new PassthroughMedia();
  let reconciled = false;
  const node = await startSipNode({
    config,
    media,
    adminRoutes: async (app, shardClient) => {
      await app.register(clusterViewRoutes, { config, self, shardClient });
      await app.register(dashboardRoutes, { config, self, shardClient });
      healthRoutes(app, coalesced(() => probeSipNode({ config, shards: shardClient, gateways: () => media.status(), reconciled: () => reconciled })));
    },
    nodeId: id,
    log,
    strategy,
    ringTimeoutMs: intFlag(f['ring-timeout-ms'], 'ring-timeout-ms', 100, 300_000, limits.ringTimeoutMsDefault),
    leaseTtlMs: intFlag(f['lease-ms'], 'lease-ms', limits.leaseTtlMsMin, limits.leaseTtlMsMax, limits.leaseTtlMsDefault),
    orphanHoldMs: intFlag(f['orphan-hold-ms'], 'orphan-hold-ms', 0, 600_000, limits.orphanHoldMsDefault),
    queueWaitMs: intFlag(f['queue-wait-ms'], 'queue-wait-ms', 0, 3_600_000, limits.queueWaitMsDefault),
    gatewayPollIntervalMs,
    digestAlgorithms,
    tls,
    routingWebhook: hookUrl === undefined ? null : { url: hookUrl, timeoutMs: hookTimeoutMs },
    ...(f.cdr !== undefined ? { cdrPath: f.cdr } : {}),
    sourceLimits: sourceRate === 0 ? null : {
      requestsPerSecond: sourceRate,
      burst: intFlag(f['sip-source-burst'], 'sip-source-burst', 1, 10_000_000, transportLimits.sourceBurstDefault),
      trusted,
    },
    transportLimits: {
      tcpConnectionsPerSourceMax: intFlag(f['tcp-connections-per-source'], 'tcp-connections-per-source', 1, 1_000_000, transportLimits.DEFAULT_TRANSPORT_LIMITS.tcpConnectionsPerSourceMax),
      tcpMessageDeadlineMs: intFlag(f['tcp-message-deadline-ms'], 'tcp-message-deadline-ms', 100, 600_000, transportLimits.DEFAULT_TRANSPORT_LIMITS.tcpMessageDeadlineMs),
    },
    digestThrottle: {
      failuresMax: intFlag(f['digest-failures-max'], 'digest-failures-max', 1, 1_000_000, limits.digestFailuresMax),
      lockoutMs: intFlag(f['digest-lockout-ms'], 'digest-lockout-ms', 0, 86_400_000, limits.digestLockoutMs),
      userFailuresMax: intFlag(f['digest-user-failures-max'], 'digest-user-failures-max', 1, 1_000_000, limits.digestUserFailuresMax),
    },
    natHandling: !f['no-nat'],
    natKeepAliveIntervalMs: intFlag(f['nat-keepalive-ms'], 'nat-keepalive-ms', 1000, 3_600_000, limits.natKeepAliveIntervalMsDefault),
    natKeepAliveMisses: intFlag(f['nat-keepalive-misses'], 'nat-keepalive-misses', 1, 100, limits.natKeepAliveMissesMax),
  });
  void node.reconciled.then(() => {
    reconciled = true;
  });
  onShutdown(() => node.close());
  log.info('sip node serving', { pid: process.pid, udp: node.udpPort, tcp: node.tcpPort, tls: node.tlsPort, admin: node.adminPort, digestAlgorithms });
  announce({ event: 'ready', role: 'sip', id, pid: process.pid, udp: node.udpPort, tcp: node.tcpPort, ...(node.tlsPort !== null ? { tls: node.tlsPort } : {}), admin: node.adminPort });
}

/** The challenges this node offers: --digest-algorithms, else the cluster file's
 * digest.algorithms, else the default (sip/node/digest.ts says why it is what it is). */
function digestPolicy(flag: string | undefined, fromFile: readonly DigestAlgorithm[] | undefined): readonly DigestAlgorithm[] {
  if (flag === undefined) return fromFile ?? digestAlgorithmsDefault;
  const parsed = parseDigestAlgorithms(flag);
  if (typeof parsed === 'string') throw new UsageError(`--digest-algorithms: ${parsed}`);
  return parsed;
}

/** This node's TLS listener from the cluster file, its certificate and key read now: a
 * missing, unreadable or mismatched file is a configuration error naming the field. */
function tlsOf(config: ClusterConfig, id: string): { listen: { host: string; port: number }; credentials: TlsCredentials } | null {
  const index = config.sip.findIndex((n) => n.id === id);
  const tls = index < 0 ? undefined : config.sip[index]!.tls;
  if (tls === undefined) return null;
  try {
    return { listen: tls.listen, credentials: loadTlsCredentials(tls.cert, tls.key) };
  } catch (err) {
    if (!(err instanceof TlsCredentialsError)) throw err;
    throw new ConfigError(`sip[${index}].tls.${err.file}`, err.message.replace(`${err.code}: `, ''));
  }
}
