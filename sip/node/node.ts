// One SIP server node, composed in one place: UDP and TCP transports, the transaction
// layer, the transaction user (registrar + B2BUA), the router's agent view fed by the
// shards' change feeds, media control, CDRs, metrics and the admin REST. The node holds
// no agent state: several run side by side and any of them routes to any agent.
//
// Which request goes to which transaction user is dispatch.ts. On start the node releases
// every reservation it owned before a crash (reconcile.ts: `releaseByOwner{owner: node
// id}` on every shard, retried until it succeeds) and routes no call before that is done,
// so the clean-up can never release a grant of its own new life. The transaction layer,
// the B2BUA and the reconcile loop share one SystemTimerService; Date.now is the wall clock.

import type { FastifyInstance } from 'fastify';
import { createAdminApp } from '../../common/admin.js';
import { eventsDefault, type ClusterConfig, type HostPort, type RoutingWebhookConfig } from '../../common/config.js';
import { createLogger, type Logger } from '../../common/logger.js';
import { ShardClient } from '../../shards/client/shard-client.js';
import { TransactionLayer } from '../transaction/index.js';
import { deriveKey } from '../../common/keys.js';
import { loadTlsCredentials, SourceGate, SystemTimerService, TcpTransport, TlsTransport, UdpTransport, type SipTransport, type SourceGateOptions, type TlsCredentials, type TransportLimits } from '../transport/index.js';
import { AgentFeed } from './agent-feed.js';
import { registerSipAdminRoutes } from './admin-routes.js';
import { B2bua } from './b2bua.js';
import { CdrWriter } from './cdr.js';
import { DigestAuthenticator, type DigestAlgorithm } from './digest.js';
import { DigestThrottle, type DigestThrottleOptions } from './digest-throttle.js';
import { sleep } from './clock.js';
import { SipNodeDispatch } from './dispatch.js';
import { SipNodeError, SipNodeErrorCode } from './errors.js';
import * as limits from './limits.js';
import { NgMediaController, PassthroughMedia, type MediaController } from './media.js';
import { createSipNodeMetrics, registerEventMetrics, registerFeedMetrics, registerNatKeepAliveMetrics, registerServiceMetrics } from './metrics.js';
import { EventLog, type CallEventSink } from './events.js';
import { eventStreamRoutes } from './events-stream.js';
import { peersOf } from './peer-fanout.js';
import { ServiceStats } from './service-stats.js';
import { EventWebhook } from './webhooks.js';
import { LeaseKeeper } from './lease-keeper.js';
import { Reconcile } from './reconcile.js';
import { Registrar } from './registrar.js';
import { NatKeepAlive } from './nat-keepalive.js';
import { QueueView } from './queue.js';
import { AgentView, Router, type RoutingStrategy } from './router.js';
import { RoutingWebhook } from './routing-webhook.js';
import { ServiceDirectory } from './service-directory.js';
import { seedServices } from './service-seed.js';
import { trustedSources, trustedSourcesDefault } from './source-limits.js';

export type SipNodeOptions = Readonly<{
  config: ClusterConfig;
  nodeId: string;
  log?: Logger;
  ringTimeoutMs?: number;
  /** WRAP_UP hold on an agent whose grant ends because this node died (reserve orphanHoldMs:
   * applied at the grant's TTL expiry or by releaseByOwner when the node restarts). */
  orphanHoldMs?: number;
  queueWaitMs?: number;
  /** How old a queue shard's feed may be before a new call asks the shard itself whether
   * calls wait (default limits.queueViewStaleMs, 2.5 s; queue-check.ts). */
  queueViewStaleMs?: number;
  /** The node's lease on each shard (default 15 s): when the node stops renewing, the
   * shards free its grants after this long. */
  leaseTtlMs?: number;
  /** How long an ended call's legs still get a 200 for a late BYE (default 32 s). */
  endedLegKeepMs?: number;
  strategy?: RoutingStrategy;
  /** Append one JSON line per call here (none when absent). */
  cdrPath?: string;
  /** Override the cluster file's addresses (tests bind port 0). */
  udp?: HostPort;
  tcp?: HostPort;
  admin?: HostPort;
  /** SIP over TLS: where and with what certificate. Default: the cluster file's
   * sip[].tls (its files read at start; SIP_ERR_TRANSPORT_TLS_CONFIG when unusable);
   * null: no TLS. */
  tls?: Readonly<{ listen: HostPort; credentials: TlsCredentials }> | null;
  /** Default: NgMediaController over the cluster's gateways, or passthrough without any. */
  media?: MediaController;
  gatewayPollIntervalMs?: number;
  nonceLifetimeMs?: number;
  /** Digest challenges offered, in order (default: the cluster file's digest.algorithms,
   * else digestAlgorithmsDefault). */
  digestAlgorithms?: readonly DigestAlgorithm[];
  /** The routing webhook; default: the cluster file's `routing.webhook`; null: none. */
  routingWebhook?: RoutingWebhookConfig | null;
  /** Per-source request-rate limit on SIP (null: none). Default: the transport's
   * defaults, trusting `loopback,cluster` (source-limits.ts). */
  sourceLimits?: SourceGateOptions | null;
  /** Failed-digest throttling per (source, DN); default: limits.ts. */
  digestThrottle?: DigestThrottleOptions;
  /** Transport limits (TCP deadlines, per-source connection cap...), default limits.ts. */
  transportLimits?: Partial<TransportLimits>;
  /** Routes of the floor above (cluster view, dashboard), added to the admin app before
   * it listens: the node knows nothing of what watches the whole cluster. */
  adminRoutes?: (app: FastifyInstance, shards: ShardClient) => Promise<void>;
  /** OPTIONS keep-alives to UDP phones registered from behind a NAT (nat-keepalive.ts):
   * interval (default 25 s) and unanswered pings in a row before the binding is removed
   * (default 3). */
  natKeepAliveIntervalMs?: number;
  natKeepAliveMisses?: number;
  /** False: the registrar stores Contacts as sent, ignoring where a REGISTER came from
   * (nat-binding.ts; default true). */
  natHandling?: boolean;
}>;

export type SipNode = Readonly<{
  id: string;
  udpPort: number;
  tcpPort: number;
  /** null when the node has no TLS listener. */
  tlsPort: number | null;
  adminPort: number;
  app: FastifyInstance;
  b2bua: B2bua;
  view: AgentView;
  /** The service definitions this node routes by (replicated; fed by the change feed). */
  services: ServiceDirectory;
  /** Resolves when the pre-crash reservations of this node id have been released. */
  reconciled: Promise<void>;
  close(): Promise<void>;
}>;

export async function startSipNode(o: SipNodeOptions): Promise<SipNode> {
  const self = o.config.sip.find((n) => n.id === o.nodeId);
  if (self === undefined && (o.udp === undefined || o.admin === undefined)) {
    throw new SipNodeError(SipNodeErrorCode.UNKNOWN_NODE, `no sip node ${JSON.stringify(o.nodeId)} in the cluster file`);
  }
  const log = o.log ?? createLogger({ role: 'sip', id: o.nodeId });
  const udpAddr = o.udp ?? self!.udp;
  const tcpAddr = o.tcp ?? self?.tcp ?? udpAddr;
  const adminAddr = o.admin ?? self!.admin;
  const fileTls = self?.tls;
  // Read before anything listens: a bad certificate stops the start, it is no runtime surprise.
  const tlsSetup = o.tls !== undefined ? o.tls : fileTls === undefined ? null : { listen: fileTls.listen, credentials: loadTlsCredentials(fileTls.cert, fileTls.key) };
  let closed = false;

  // Authenticates as `sip:<id>`: the shards let it reserve and release only as owner <id>,
  // and it is the one principal they send digest HA1s to (shards/rpc/policy.ts).
  const shards = new ShardClient({ shards: o.config.shards, auth: { secret: o.config.secret, principal: `sip:${o.nodeId}` }, attemptTimeoutMs: limits.shardAttemptTimeoutMs, deadlineMs: limits.shardCommandDeadlineMs });
  const sourceGate = o.sourceLimits === null ? null : new SourceGate({ trusted: trustedSources(trustedSourcesDefault, o.config), ...o.sourceLimits });
  const onInputError = (err: unknown, source: { host: string; protocol: string }): void => log.error('SIP input handling threw; message dropped', { error: String((err as Error)?.stack ?? err), from: source.host, protocol: source.protocol });
  const transportOptions = { sourceGate, onInputError, ...(o.transportLimits !== undefined ? { limits: o.transportLimits } : {}) };
  const udp = await UdpTransport.listen({ host: udpAddr.host, port: udpAddr.port, ...transportOptions });
  const tcp = await TcpTransport.listen({ host: tcpAddr.host, port: tcpAddr.port, ...transportOptions });
  const tls = tlsSetup === null ? null : await TlsTransport.listen({ host: tlsSetup.listen.host, port: tlsSetup.listen.port, credentials: tlsSetup.credentials, ...transportOptions }).catch(async (err: unknown) => {
    await Promise.all([udp.close(), tcp.close()]);
    throw err;
  });
  const transports: SipTransport[] = tls === null ? [udp, tcp] : [udp, tcp, tls];
  let b2bua: B2bua | undefined;
  const metrics = createSipNodeMetrics(o.nodeId, () => transports, () => ({ calls: b2bua?.callCount ?? 0, queued: b2bua?.queued.size ?? 0, callsByService: callsByService(b2bua) }), o.config.services.map((s) => s.number));
  const media = o.media ?? (o.config.gateways.length > 0 ? new NgMediaController({ gateways: o.config.gateways, log, pollIntervalMs: o.gatewayPollIntervalMs, rootSecret: o.config.secret }) : new PassthroughMedia());
  const view = new AgentView();
  const router = new Router(view, o.strategy ?? 'longest-idle');
  const webhookConfig = o.routingWebhook === undefined ? (o.config.routing?.webhook ?? null) : o.routingWebhook;
  const webhook = webhookConfig === null ? null : new RoutingWebhook(webhookConfig);
  if (webhook !== null) log.info('routing webhook', { url: webhookConfig!.url, timeoutMs: webhookConfig!.timeoutMs });
  const queues = new QueueView();
  const services = new ServiceDirectory(o.config.services);
  const feed = new AgentFeed(shards, view, log, queues, services);
  const cdr = new CdrWriter(o.cdrPath);
  // Call events feed both the service-level figures and the live event log (and through
  // it the webhooks); agent state changes come from the change feed below.
  const eventsConfig = o.config.events ?? eventsDefault;
  const events = new EventLog({ nodeId: o.nodeId, retain: eventsConfig.retain, now: () => Date.now() });
  const stats = new ServiceStats({ now: () => Date.now(), monotonicNow: () => performance.now() });
  const callEvents: CallEventSink = { call: (ev) => { stats.call(ev); events.call(ev); } };
  const eventHooks = eventsConfig.webhooks.map((w) => new EventWebhook(w, { nodeId: o.nodeId, log }));
  for (const hook of eventHooks) events.subscribe((ev) => hook.push(ev));
  registerServiceMetrics(metrics.registry, stats, () => services.list().map((s) => s.number));
  registerEventMetrics(metrics.registry, () => events.lastSeq, () => eventHooks);
  registerFeedMetrics(metrics.registry, o.config.shards.map((s) => s.id), (shardId) => feed.liveAgoMs(shardId));
  const digest = new DigestAuthenticator({ key: deriveKey(o.config.secret, 'digest-nonce'), nodeId: o.nodeId, realm: o.config.realm, now: () => Date.now(), lifetimeMs: o.nonceLifetimeMs, algorithms: o.digestAlgorithms ?? o.config.digest?.algorithms });
  const throttle = new DigestThrottle(o.digestThrottle);
  let natKeepAlive: NatKeepAlive | undefined;
  const registrar = new Registrar({ shards, digest, throttle, metrics, log, now: () => Date.now(), nodeId: o.nodeId, natHandling: o.natHandling ?? true, onNatBinding: (e) => natKeepAlive?.onBinding(e) });

  const timers = new SystemTimerService();
  const reconcile = new Reconcile({ shards, owner: o.nodeId, log, sleep: (ms) => sleep(timers, ms) });
  const leases = new LeaseKeeper({
    shards, owner: o.nodeId, ttlMs: o.leaseTtlMs ?? limits.leaseTtlMsDefault, timers, log,
    onLost: (shardId) => b2bua?.onLeaseLost((dn) => shards.shardFor(dn) === shardId),
  });
  // Routing waits for the clean-up of a previous life and for a lease on every shard: a
  // grant made before the first renewal would have no lease to end it if the node died.
  const reconciled = Promise.all([reconcile.done, leases.firstRenewed]).then(() => undefined);

  const dispatch = new SipNodeDispatch(registrar);
  const layer: TransactionLayer = new TransactionLayer({ transports, timers, user: dispatch });
  natKeepAlive = new NatKeepAlive({
    layer, timers, log, localHost: udp.sentBy.host,
    unregister: async (dn, uri) => {
      const r = await shards.command(dn, { type: 'unregister', dn, uri }, { deadlineMs: limits.shardCommandDeadlineMs });
      if (!r.ok) throw new Error(`${r.code}: ${r.reason}`);
    },
    ...(o.natKeepAliveIntervalMs !== undefined ? { intervalMs: o.natKeepAliveIntervalMs } : {}),
    ...(o.natKeepAliveMisses !== undefined ? { missesMax: o.natKeepAliveMisses } : {}),
  });
  const keepAlive = natKeepAlive;
  registerNatKeepAliveMetrics(metrics.registry, () => keepAlive.stats);
  b2bua = new B2bua({
    nodeId: o.nodeId,
    layer,
    transports,
    shards,
    router,
    view,
    queues,
    media,
    cdr,
    metrics,
    log,
    services,
    ringTimeoutMs: o.ringTimeoutMs ?? limits.ringTimeoutMsDefault,
    orphanHoldMs: o.orphanHoldMs ?? limits.orphanHoldMsDefault,
    queueWaitMs: o.queueWaitMs ?? limits.queueWaitMsDefault,
    ...(o.endedLegKeepMs !== undefined ? { endedLegKeepMs: o.endedLegKeepMs } : {}),
    reconciled,
    webhook,
    timers,
    now: () => Date.now(),
    events: callEvents,
    feedLiveAgoMs: (shardId) => feed.liveAgoMs(shardId),
    ...(o.queueViewStaleMs !== undefined ? { queueViewStaleMs: o.queueViewStaleMs } : {}),
  });
  const bua = b2bua;
  dispatch.attach(bua);
  feed.onChange((agent) => {
    events.agent({ dn: agent.dn, state: agent.status.state, ...(agent.status.state === 'NOT_READY' ? { reason: agent.status.reason } : {}), shard: shards.shardFor(agent.dn), index: agent.version });
    bua.onAgentChanged(agent);
  });
  feed.onQueueChange((entry, rec) => bua.queued.onQueueChange(entry, rec));
  const feedStarted = feed.start();
  // The cluster file's services become replicated definitions where the cluster has none.
  const seed = seedServices({ shards, services: services.fileDefinitions(), log, sleep: (ms) => sleep(timers, ms) });

  const app = await createAdminApp({ title: `Ringfence SIP node ${o.nodeId}`, tokens: o.config.tokens, registry: metrics.registry });
  // The agent routes act as `admin` once the bearer token is checked, as on a replica:
  // `sip:<id>` may neither provision nor change an agent's state, and receives HA1s.
  const adminShards = new ShardClient({ shards: o.config.shards, auth: { secret: o.config.secret, principal: 'admin' } });
  await registerSipAdminRoutes(app, {
    nodeId: o.nodeId, realm: o.config.realm, b2bua: bua, shards, adminShards, media, log, stats, cdr,
    // The definitions in force (a service added or changed over REST included).
    services: () => new Map(services.list().map((s) => [s.number, s.serviceLevelMs])),
    peers: () => peersOf(o.config, o.nodeId),
    readToken: o.config.tokens.read,
  });
  await app.register(eventStreamRoutes, { events, peers: () => peersOf(o.config, o.nodeId), readToken: o.config.tokens.read });
  if (o.adminRoutes !== undefined) await o.adminRoutes(app, shards);
  await app.listen({ host: adminAddr.host, port: adminAddr.port });
  const adminInfo = app.server.address();
  // Serve once the view and the clean-up are done, but never hang on a shard that is down:
  // routing itself waits for the clean-up.
  // Not on the seed: until a number's replicated definition is seen, the file's stands in.
  await Promise.race([Promise.all([feedStarted, reconciled]), sleep(timers, limits.startupWaitMsMax)]);

  return {
    id: o.nodeId,
    udpPort: udp.local.port,
    tcpPort: tcp.local.port,
    tlsPort: tls === null ? null : tls.local.port,
    adminPort: typeof adminInfo === 'object' && adminInfo !== null ? adminInfo.port : 0,
    app,
    b2bua: bua,
    view,
    services,
    reconciled,
    async close() {
      if (closed) return;
      closed = true;
      reconcile.stop();
      seed.stop();
      leases.stop();
      keepAlive.close();
      bua.close();
      webhook?.close();
      for (const hook of eventHooks) hook.close();
      feed.close();
      layer.close();
      media.close();
      await Promise.all(transports.map((t) => t.close()));
      await app.close();
      adminShards.close();
      shards.close();
      await cdr.close();
    },
  };
}

/** Calls in progress per service number (the `ringfence_sip_calls` gauge, at scrape time). */
function callsByService(b2bua: B2bua | undefined): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const call of b2bua?.listCalls() ?? []) counts[call.service] = (counts[call.service] ?? 0) + 1;
  return counts;
}
