// The cluster file: one YAML document describing every process of a Ringfence cluster.
// Every process reads the same file and finds itself by `--id`. Validation names the
// offending field (`shards[1].replicas[0].raft: expected host:port`) so an operator can
// fix a typo without reading code.
import { readFileSync, statSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { UsageError } from './args.js';
import * as limits from './limits.js';
import { bool, checkPort, ConfigError, isObj, list, num, onlyKnownKeys, parseHostPort, str, uniqueIds, type HostPort, type Obj } from './config-fields.js';

export { ConfigError, formatHostPort, hostPortOf, nearestKey, parseHostPort, type HostPort } from './config-fields.js';

/** RFC 3261 §19.1.2: the default port of sips: and SIP over TLS. */
export const sipTlsPortDefault = 5061;

const serviceNumberPattern = new RegExp(`^[0-9*#+]{1,${limits.serviceNumberCharsMax}}$`);
const skillNamePattern = /^[A-Za-z0-9_-]{1,64}$/;
/** A media prompt's name (a file the gateway holds); never a path. */
export const promptNamePattern = /^[a-z0-9][a-z0-9-]{0,31}$/;


export type ReplicaConfig = Readonly<{
  id: string;
  raft: HostPort;
  client: HostPort;
  admin: HostPort;
  data: string;
  /** Added after the shard was created: not a bootstrap voter; it joins through
   * POST /v1/members (as a learner first). */
  join: boolean;
  /** The store (process) hosting this replica (DESIGN.md, multi-raft stores): absent for a
   * replica that is a process of its own. A store's replicas share its addresses and its
   * data directory: `raft`, `client`, `admin` and `data` above are the store's. */
  store?: string;
}>;
/** A process hosting one replica of many shards: one Raft transport (`raft`), one client
 * RPC listener, one admin REST, one LevelDB under `data` for every group it hosts.
 * `replaces`: the store this one takes over from (a dead store whose data is lost): under
 * `shards: {count}` it hosts a joining replica (`join`) of every shard the other hosts,
 * added to each shard over the admin REST. */
export type StoreConfig = Readonly<{ id: string; raft: HostPort; client: HostPort; admin: HostPort; data: string; replaces?: string }>;
export type ShardConfig = Readonly<{
  id: string;
  replicas: readonly ReplicaConfig[];
  /** The replica that should lead when it is up and caught up (see shards/node/shard-node.ts);
   * absent: whichever replica wins the election keeps leading. */
  preferredLeader?: string;
}>;
/** SIP over TLS on a SIP node: where it listens and the PEM files of its certificate
 * (chain) and private key. The files are read when the node starts. */
export type SipTlsConfig = Readonly<{ listen: HostPort; cert: string; key: string }>;
export type SipNodeConfig = Readonly<{ id: string; udp: HostPort; tcp: HostPort; admin: HostPort; tls?: SipTlsConfig }>;
/** A digest algorithm the SIP nodes may challenge with (RFC 8760). */
export type DigestAlgorithmName = 'MD5' | 'SHA-256';
export const digestAlgorithmNames: readonly DigestAlgorithmName[] = ['MD5', 'SHA-256'];
/** `digest:` section: the challenges every SIP node offers, in the order sent. */
export type DigestConfig = Readonly<{ algorithms: readonly DigestAlgorithmName[] }>;
export type GatewayConfig = Readonly<{
  id: string;
  control: HostPort;
  portMin: number;
  portMax: number;
  admin: HostPort | null;
  /** Whether its ng control is signed (our gateway, the default). false: it speaks plain
   * ng (a real rtpengine, or ours run with --ng-auth off), trusted by network position. */
  ngAuth: boolean;
}>;
/** How a service picks among its READY agents. skill-ranked: highest level in the
 * service's skill first, ties by longest idle. */
export type ServiceStrategy = 'longest-idle' | 'fewest-calls' | 'round-robin' | 'skill-ranked';
export const serviceStrategies: readonly ServiceStrategy[] = ['longest-idle', 'fewest-calls', 'round-robin', 'skill-ranked'];
/** Final answers a service may overflow to instead of another service. */
export const serviceOverflowStatuses = [480, 486, 503] as const;
export type ServiceOverflowStatus = (typeof serviceOverflowStatuses)[number];
/** Where a caller goes when the queue is full or the maximum wait is over: another
 * service's queue, or a final response. */
export type ServiceOverflow = Readonly<{ service: string } | { status: ServiceOverflowStatus }>;
/** What a queued caller hears: `music` (a prompt name played in a loop, null: silence) and
 * every `everyMs` an announcement of its position and/or estimated wait. */
export type ServiceAnnouncements = Readonly<{ music: string | null; everyMs: number; position: boolean; estimatedWait: boolean }>;
/** A service (a dialled number) with every setting resolved. The nullable fields are null
 * where the SIP node's own flag (or the shard's limit) applies. */
export type ServiceDefinition = Readonly<{
  number: string;
  skill: string;
  minLevel: number;
  strategy: ServiceStrategy | null;
  /** When an agent can take calls of several services, the higher priority is served first. */
  priority: number;
  maxWaitMs: number | null;
  maxQueueLength: number | null;
  overflow: ServiceOverflow | null;
  wrapUpMs: number | null;
  ringTimeoutMs: number | null;
  /** A call answered within this many ms of arriving counts as within the service level. */
  serviceLevelMs: number;
  announcements: ServiceAnnouncements | null;
}>;
/** A service as configs built by code may give it: number, skill and minLevel, the rest
 * defaulted by serviceDefinition(). The cluster file's parser fills every field. */
export type ServiceConfig = Pick<ServiceDefinition, 'number' | 'skill' | 'minLevel'> & Partial<Omit<ServiceDefinition, 'number' | 'skill' | 'minLevel'>>;

/** Every field of a service, defaults filled in. */
export function serviceDefinition(s: ServiceConfig): ServiceDefinition {
  return {
    number: s.number,
    skill: s.skill,
    minLevel: s.minLevel,
    strategy: s.strategy ?? null,
    priority: s.priority ?? 0,
    maxWaitMs: s.maxWaitMs ?? null,
    maxQueueLength: s.maxQueueLength ?? null,
    overflow: s.overflow ?? null,
    wrapUpMs: s.wrapUpMs ?? null,
    ringTimeoutMs: s.ringTimeoutMs ?? null,
    serviceLevelMs: s.serviceLevelMs ?? limits.serviceLevelMsDefault,
    announcements: s.announcements ?? null,
  };
}
/** The SIP nodes' optional HTTP routing webhook (cluster-wide: every node routes alike). */
export type RoutingWebhookConfig = Readonly<{ url: string; timeoutMs: number }>;
export type RoutingConfig = Readonly<{ webhook: RoutingWebhookConfig | null }>;
/** One signed event webhook (sip/node/webhooks.ts has the scheme). */
export type EventWebhookConfig = Readonly<{ url: string; secret: string; batchMax: number; backlogMax: number; timeoutMs: number; retryMinMs: number; retryMaxMs: number }>;
/** `events:` section: how many events each SIP node keeps for resuming readers, and webhooks. */
export type EventsConfig = Readonly<{ retain: number; webhooks: readonly EventWebhookConfig[] }>;

export type ClusterConfig = Readonly<{
  /** The cluster's root secret (≥ 32 bytes): the Raft peer and shard RPC handshakes'
   * keys are derived from it (common/keys.ts). The file holding it must be mode 0600. */
  secret: string;
  tokens: Readonly<{ read: string; admin: string }>;
  realm: string;
  shards: readonly ShardConfig[];
  /** `stores:` section; absent or empty when every replica is a process of its own. */
  stores?: readonly StoreConfig[];
  sip: readonly SipNodeConfig[];
  gateways: readonly GatewayConfig[];
  services: readonly ServiceConfig[];
  raft: Readonly<{ tickMs: number; electionTimeoutTicks: number; heartbeatTicks: number; snapshotEveryEntries: number }>;
  /** `routing:` section; absent in configs built by code (no webhook). */
  routing?: RoutingConfig;
  /** `digest:` section; absent: the SIP nodes' default policy (sip/node/digest.ts). */
  digest?: DigestConfig;
  /** `events:` section; absent: eventsDefault (no webhooks). */
  events?: EventsConfig;
}>;


/** Every key the cluster file may hold, per mapping. A key not listed is refused with the
 * nearest known one (`shards[0].preferedLeader: unknown key; did you mean preferredLeader?`),
 * so a typo never silently falls back to a default. A new field is one more name in its
 * mapping's list here, next to the code in validateClusterConfig that reads it. */
export const knownKeys = {
  root: ['secret', 'tokens', 'realm', 'raft', 'stores', 'shards', 'sip', 'gateways', 'services', 'routing', 'digest', 'events'],
  tokens: ['read', 'admin'],
  raft: ['tickMs', 'electionTimeoutTicks', 'heartbeatTicks', 'snapshotEveryEntries'],
  shard: ['id', 'replicas', 'preferredLeader'],
  replica: ['id', 'raft', 'client', 'admin', 'data', 'join', 'store'],
  store: ['id', 'raft', 'client', 'admin', 'data', 'replaces'],
  // `shards:` as a mapping: `count` shards s1..sN placed round-robin on `stores`.
  shardSet: ['count', 'stores', 'replicas'],
  // `listen`: the name of `udp` in early cluster files.
  sip: ['id', 'udp', 'tcp', 'admin', 'listen', 'tls'],
  // `port`: a bare port for `listen`.
  sipTls: ['listen', 'port', 'cert', 'key'],
  digest: ['algorithms'],
  gateway: ['id', 'control', 'ports', 'admin', 'ngAuth'],
  service: ['number', 'skill', 'minLevel', 'strategy', 'priority', 'maxWaitMs', 'maxQueueLength', 'overflow', 'wrapUpMs', 'ringTimeoutMs', 'serviceLevelMs', 'announcements'],
  serviceOverflow: ['service', 'status'],
  serviceAnnouncements: ['music', 'everyMs', 'position', 'estimatedWait'],
  routing: ['webhook'],
  webhook: ['url', 'timeoutMs'],
  events: ['retain', 'webhooks'],
  eventWebhook: ['url', 'secret', 'batchMax', 'backlogMax', 'timeoutMs', 'retryMinMs', 'retryMaxMs'],
} as const satisfies Record<string, readonly string[]>;


/** What stands in for a secret in examples and templates: a `secret` or token containing
 * one of these (case-insensitively) is refused, so a copied example never guards a real
 * cluster. The README's examples (the `change-me-…` values of earlier versions, the
 * `<run: openssl rand -hex 32>` of this one) are among them. */
export const secretPlaceholders: readonly string[] = ['change-me', 'changeme', 'change_me', 'replace-me', 'replaceme', 'placeholder', 'example', 'openssl rand', '<', '>'];

/** Why `value` cannot serve as the secret or token in `field`, or null. */
function weakSecret(value: string, minLength: number, unit: 'bytes' | 'characters'): string | null {
  const lower = value.toLowerCase();
  const placeholder = secretPlaceholders.find((p) => lower.includes(p));
  const how = unit === 'bytes' ? 'generate one with `openssl rand -hex 32`' : 'generate one with `openssl rand -hex 24`';
  if (placeholder !== undefined) return `is a placeholder (contains ${JSON.stringify(placeholder)}); ${how}`;
  const length = unit === 'bytes' ? Buffer.byteLength(value, 'utf8') : value.length;
  if (length < minLength) return `must be at least ${minLength} ${unit}, got ${length}; ${how}`;
  if (new Set(value).size < limits.secretDistinctCharsMin) return `has fewer than ${limits.secretDistinctCharsMin} distinct characters, so it is no secret; ${how}`;
  return null;
}

/** The root secret and the admin tokens, checked (each error names its field). */
function secrets(doc: Obj): Pick<ClusterConfig, 'secret' | 'tokens'> {
  const secret = str(doc, 'secret', '(root)');
  const secretProblem = weakSecret(secret, limits.secretBytesMin, 'bytes');
  if (secretProblem !== null) throw new ConfigError('secret', secretProblem);
  const tokensObj = isObj(doc.tokens) ? doc.tokens : {};
  const tokens = { read: str(tokensObj, 'read', 'tokens'), admin: str(tokensObj, 'admin', 'tokens') };
  for (const scope of ['read', 'admin'] as const) {
    const problem = weakSecret(tokens[scope], limits.adminTokenCharsMin, 'characters');
    if (problem !== null) throw new ConfigError(`tokens.${scope}`, problem);
    if (tokens[scope] === secret) throw new ConfigError(`tokens.${scope}`, 'must differ from secret (a token travels in HTTP headers and URLs; the secret never leaves the cluster file)');
  }
  if (tokens.read === tokens.admin) throw new ConfigError('tokens.admin', 'must differ from tokens.read, or the read token could change state');
  return { secret, tokens };
}

export function validateClusterConfig(doc: unknown): ClusterConfig {
  if (!isObj(doc)) throw new ConfigError('(root)', 'expected a mapping');
  onlyKnownKeys(doc, knownKeys.root, '');
  if (isObj(doc.tokens)) onlyKnownKeys(doc.tokens, knownKeys.tokens, 'tokens');
  if (isObj(doc.raft)) onlyKnownKeys(doc.raft, knownKeys.raft, 'raft');
  const stores = parseStores(doc);
  const generated = isObj(doc.shards) && !Array.isArray(doc.shards);
  const replacing = stores.findIndex((st) => st.replaces !== undefined);
  if (!generated && replacing >= 0) throw new ConfigError(`stores[${replacing}].replaces`, 'only with shards: {count}; in a list of shards, add each new replica with join: true');
  const shards = generated ? generatedShards(doc.shards as Obj, stores) : list(doc, 'shards', '', true).map((s, i): ShardConfig => {
    const path = `shards[${i}]`;
    onlyKnownKeys(s, knownKeys.shard, path);
    const replicas = list(s, 'replicas', path, true).map((r, j): ReplicaConfig => {
      const rp = `${path}.replicas[${j}]`;
      onlyKnownKeys(r, knownKeys.replica, rp);
      const id = str(r, 'id', rp);
      if (r.store !== undefined) {
        const storeId = str(r, 'store', rp);
        const store = stores.find((st) => st.id === storeId);
        if (store === undefined) throw new ConfigError(`${rp}.store`, `no store ${JSON.stringify(storeId)} in stores (${stores.map((st) => st.id).join(', ') || 'none'})`);
        for (const k of ['raft', 'client', 'admin', 'data'] as const) {
          if (r[k] !== undefined) throw new ConfigError(`${rp}.${k}`, `a replica on store ${storeId} uses the store's ${k}; remove it`);
        }
        return storeReplica(id, store, r.join === true);
      }
      return {
        id,
        raft: parseHostPort(r.raft, `${rp}.raft`),
        client: parseHostPort(r.client, `${rp}.client`),
        admin: parseHostPort(r.admin, `${rp}.admin`),
        data: str(r, 'data', rp, `./data/${id}`),
        join: r.join === true,
      };
    });
    const id = str(s, 'id', path);
    const placedOn = new Map<string, string>();
    replicas.forEach((r, j) => {
      if (r.store === undefined) return;
      const other = placedOn.get(r.store);
      if (other !== undefined) throw new ConfigError(`${path}.replicas[${j}].store`, `replicas ${other} and ${r.id} of shard ${id} are both on store ${r.store}; one store hosts at most one replica of a shard, or losing it could take the shard's quorum`);
      placedOn.set(r.store, r.id);
    });
    if (s.preferredLeader === undefined) return { id, replicas };
    const preferredLeader = str(s, 'preferredLeader', path);
    if (!replicas.some((r) => r.id === preferredLeader)) {
      throw new ConfigError(`${path}.preferredLeader`, `${JSON.stringify(preferredLeader)} is not a replica of shard ${id} (${replicas.map((r) => r.id).join(', ')})`);
    }
    return { id, replicas, preferredLeader };
  });
  uniqueIds(shards, 'shards');
  uniqueIds(shards.flatMap((s) => s.replicas), 'shards[].replicas');
  const sip = list(doc, 'sip', '', false).map((n, i): SipNodeConfig => {
    const p = `sip[${i}]`;
    onlyKnownKeys(n, knownKeys.sip, p);
    const udp = parseHostPort(n.udp ?? n.listen, `${p}.udp`);
    const node = { id: str(n, 'id', p), udp, tcp: n.tcp === undefined ? udp : parseHostPort(n.tcp, `${p}.tcp`), admin: parseHostPort(n.admin, `${p}.admin`) };
    return n.tls === undefined || n.tls === null ? node : { ...node, tls: parseSipTls(n.tls, `${p}.tls`, udp.host) };
  });
  const gateways = list(doc, 'gateways', '', false).map((g, i): GatewayConfig => {
    const p = `gateways[${i}]`;
    onlyKnownKeys(g, knownKeys.gateway, p);
    const range = /^(\d+)-(\d+)$/.exec(String(g.ports ?? `${limits.gatewayPortMinDefault}-${limits.gatewayPortMaxDefault}`));
    if (!range || Number(range[1]) >= Number(range[2])) throw new ConfigError(`${p}.ports`, 'expected a range like 30000-39999');
    return {
      id: str(g, 'id', p),
      control: parseHostPort(g.control, `${p}.control`),
      portMin: Number(range[1]),
      portMax: Number(range[2]),
      admin: g.admin === undefined ? null : parseHostPort(g.admin, `${p}.admin`),
      ngAuth: bool(g, 'ngAuth', p, true),
    };
  });
  const services = list(doc, 'services', '', false).map((s, i): ServiceDefinition => parseService(s, `services[${i}]`));
  const numbers = new Set<string>();
  services.forEach((s, i) => {
    if (numbers.has(s.number)) throw new ConfigError(`services[${i}].number`, `service ${s.number} is listed twice`);
    numbers.add(s.number);
  });
  services.forEach((s, i) => {
    if (s.overflow !== null && 'service' in s.overflow && !numbers.has(s.overflow.service)) throw new ConfigError(`services[${i}].overflow.service`, `no service ${s.overflow.service} in services`);
  });
  const raftObj = isObj(doc.raft) ? doc.raft : {};
  const routing = parseRouting(doc.routing);
  const digest = parseDigest(doc.digest);
  const events = parseEvents(doc.events);
  return {
    ...secrets(doc),
    realm: str(doc, 'realm', '(root)', 'ringfence'),
    shards,
    ...(stores.length > 0 ? { stores } : {}),
    sip,
    gateways,
    services,
    raft: {
      tickMs: num(raftObj, 'tickMs', 'raft', limits.raftTickMsDefault, limits.raftTickMsMin, limits.raftTickMsMax),
      electionTimeoutTicks: num(raftObj, 'electionTimeoutTicks', 'raft', limits.raftElectionTimeoutTicksDefault, limits.raftElectionTimeoutTicksMin, limits.raftElectionTimeoutTicksMax),
      heartbeatTicks: num(raftObj, 'heartbeatTicks', 'raft', limits.raftHeartbeatTicksDefault, limits.raftHeartbeatTicksMin, limits.raftHeartbeatTicksMax),
      snapshotEveryEntries: num(raftObj, 'snapshotEveryEntries', 'raft', limits.raftSnapshotEveryEntriesDefault, limits.raftSnapshotEveryEntriesMin, limits.raftSnapshotEveryEntriesMax),
    },
    routing,
    ...(digest !== null ? { digest } : {}),
    ...(doc.events !== undefined && doc.events !== null ? { events } : {}),
  };
}

function parseStores(doc: Obj): StoreConfig[] {
  const stores = list(doc, 'stores', '', false).map((st, i): StoreConfig => {
    const p = `stores[${i}]`;
    onlyKnownKeys(st, knownKeys.store, p);
    const id = str(st, 'id', p);
    const store = { id, raft: parseHostPort(st.raft, `${p}.raft`), client: parseHostPort(st.client, `${p}.client`), admin: parseHostPort(st.admin, `${p}.admin`), data: str(st, 'data', p, `./data/store-${id}`) };
    return st.replaces === undefined ? store : { ...store, replaces: str(st, 'replaces', p) };
  });
  uniqueIds(stores, 'stores');
  const replacedBy = new Map<string, string>();
  stores.forEach((st, i) => {
    if (st.replaces === undefined) return;
    const p = `stores[${i}].replaces`;
    const old = stores.find((o) => o.id === st.replaces);
    if (old === undefined) throw new ConfigError(p, `no store ${JSON.stringify(st.replaces)} in stores (${stores.map((o) => o.id).join(', ')})`);
    if (old.id === st.id) throw new ConfigError(p, 'a store cannot replace itself');
    if (old.replaces !== undefined) throw new ConfigError(p, `store ${old.id} itself replaces ${old.replaces}: let ${st.id} replace ${old.replaces} instead`);
    const other = replacedBy.get(old.id);
    if (other !== undefined) throw new ConfigError(p, `store ${old.id} is already replaced by ${other}`);
    replacedBy.set(old.id, st.id);
  });
  return stores;
}

/** A replica hosted by `store`: the store's addresses and data directory. */
export function storeReplica(id: string, store: StoreConfig, join = false): ReplicaConfig {
  return { id, raft: store.raft, client: store.client, admin: store.admin, data: store.data, join, store: store.id };
}

/** `shards: {count: N, stores: [a, b, c], replicas: 3}`: shards s1..sN, shard i's replicas
 * `s<i>-<store>` on `replicas` consecutive stores starting at store (i-1) mod S, and its
 * preferred leader the first of them, so leadership spreads evenly over the stores. */
function generatedShards(o: Obj, stores: readonly StoreConfig[]): ShardConfig[] {
  onlyKnownKeys(o, knownKeys.shardSet, 'shards');
  const count = num(o, 'count', 'shards', 0, 1, limits.generatedShardsMax);
  // A replacing store takes its place in no ring: it joins the shards of the one it replaces.
  const names = o.stores === undefined ? stores.filter((st) => st.replaces === undefined).map((st) => st.id) : o.stores;
  if (!Array.isArray(names) || names.length === 0 || names.some((n) => typeof n !== 'string')) throw new ConfigError('shards.stores', 'expected a non-empty list of store ids');
  const placed = names.map((n, i) => {
    const st = stores.find((x) => x.id === n);
    if (st === undefined) throw new ConfigError(`shards.stores[${i}]`, `no store ${JSON.stringify(n)} in stores`);
    if (st.replaces !== undefined) throw new ConfigError(`shards.stores[${i}]`, `store ${st.id} replaces ${st.replaces}: list ${st.replaces} here, and ${st.id} joins its shards`);
    return st;
  });
  uniqueIds(placed, 'shards.stores');
  const perShard = num(o, 'replicas', 'shards', Math.min(3, placed.length), 1, placed.length);
  const shards: ShardConfig[] = [];
  for (let i = 1; i <= count; i++) {
    const id = `s${i}`;
    const replicas = Array.from({ length: perShard }, (_, k) => {
      const st = placed[(i - 1 + k) % placed.length]!;
      return storeReplica(`${id}-${st.id}`, st);
    });
    let preferredLeader = replicas[0]!.id;
    for (const r of [...replicas]) {
      const successor = stores.find((st) => st.replaces === r.store);
      if (successor === undefined) continue;
      const joiner = storeReplica(`${id}-${successor.id}`, successor, true);
      replicas.push(joiner);
      if (preferredLeader === r.id) preferredLeader = joiner.id;
    }
    shards.push({ id, replicas, preferredLeader });
  }
  return shards;
}

/** The store hosting each replica id, for replicas that live on a store. */
export function replicaStores(config: ClusterConfig): Map<string, StoreConfig> {
  const out = new Map<string, StoreConfig>();
  const stores = new Map((config.stores ?? []).map((st) => [st.id, st]));
  for (const sh of config.shards) for (const r of sh.replicas) {
    const st = r.store === undefined ? undefined : stores.get(r.store);
    if (st !== undefined) out.set(r.id, st);
  }
  return out;
}

/** The store named `id`, with every replica it hosts (one per shard). */
export function findStore(config: ClusterConfig, id: string): { store: StoreConfig; hosted: { shard: ShardConfig; replica: ReplicaConfig }[] } {
  const store = (config.stores ?? []).find((st) => st.id === id);
  if (store === undefined) throw new UsageError(`--store: no store ${JSON.stringify(id)} in the cluster file`);
  const hosted = config.shards.flatMap((shard) => shard.replicas.filter((r) => r.store === id).map((replica) => ({ shard, replica })));
  return { store, hosted };
}

function optionalInt(o: Obj, key: string, path: string, min: number, max: number): number | null {
  return o[key] === undefined || o[key] === null ? null : num(o, key, path, 0, min, max);
}

/** One service as written in the cluster file or sent to `PUT /v1/services/:number` (the
 * same rules, the same field names in errors). */
export function parseService(value: unknown, p: string): ServiceDefinition {
  if (!isObj(value)) throw new ConfigError(p, 'expected a mapping with number and skill');
  const s = value;
  onlyKnownKeys(s, knownKeys.service, p);
  const number = str(s, 'number', p);
  if (!serviceNumberPattern.test(number)) throw new ConfigError(`${p}.number`, `expected 1 to ${limits.serviceNumberCharsMax} of 0-9 * # +`);
  const skill = str(s, 'skill', p);
  if (!skillNamePattern.test(skill)) throw new ConfigError(`${p}.skill`, 'expected letters, digits, - or _ (at most 64)');
  let strategy: ServiceStrategy | null = null;
  if (s.strategy !== undefined && s.strategy !== null) {
    strategy = serviceStrategies.find((x) => x === s.strategy) ?? null;
    if (strategy === null) throw new ConfigError(`${p}.strategy`, `expected one of ${serviceStrategies.join(', ')}, got ${JSON.stringify(s.strategy)}`);
  }
  return {
    number,
    skill,
    minLevel: num(s, 'minLevel', p, 0, 0, limits.serviceMinLevelMax),
    strategy,
    priority: num(s, 'priority', p, 0, 0, limits.servicePriorityMax),
    maxWaitMs: optionalInt(s, 'maxWaitMs', p, limits.serviceMaxWaitMsMin, limits.serviceMaxWaitMsMax),
    maxQueueLength: optionalInt(s, 'maxQueueLength', p, 1, limits.serviceMaxQueueLengthMax),
    overflow: parseOverflow(s.overflow, `${p}.overflow`, number),
    wrapUpMs: optionalInt(s, 'wrapUpMs', p, 0, limits.serviceWrapUpMsMax),
    ringTimeoutMs: optionalInt(s, 'ringTimeoutMs', p, limits.serviceRingTimeoutMsMin, limits.serviceRingTimeoutMsMax),
    serviceLevelMs: num(s, 'serviceLevelMs', p, limits.serviceLevelMsDefault, limits.serviceLevelMsMin, limits.serviceLevelMsMax),
    announcements: parseAnnouncements(s.announcements, `${p}.announcements`),
  };
}

function parseOverflow(v: unknown, p: string, ownNumber: string): ServiceOverflow | null {
  if (v === undefined || v === null) return null;
  if (!isObj(v)) throw new ConfigError(p, 'expected { service: number } or { status: 480 | 486 | 503 }');
  onlyKnownKeys(v, knownKeys.serviceOverflow, p);
  if ((v.service === undefined) === (v.status === undefined)) throw new ConfigError(p, 'expected exactly one of service or status');
  if (v.service !== undefined) {
    const service = str(v, 'service', p);
    if (!serviceNumberPattern.test(service)) throw new ConfigError(`${p}.service`, 'expected a service number');
    if (service === ownNumber) throw new ConfigError(`${p}.service`, 'a service cannot overflow to itself');
    return { service };
  }
  const status = serviceOverflowStatuses.find((x) => x === v.status);
  if (status === undefined) throw new ConfigError(`${p}.status`, `expected one of ${serviceOverflowStatuses.join(', ')}`);
  return { status };
}

function parseAnnouncements(v: unknown, p: string): ServiceAnnouncements | null {
  if (v === undefined || v === null) return null;
  if (!isObj(v)) throw new ConfigError(p, 'expected a mapping with music, everyMs, position, estimatedWait');
  onlyKnownKeys(v, knownKeys.serviceAnnouncements, p);
  let music: string | null = null;
  if (v.music !== undefined && v.music !== null) {
    music = str(v, 'music', p);
    if (!promptNamePattern.test(music)) throw new ConfigError(`${p}.music`, 'expected a prompt name: lower-case letters, digits and - (at most 32)');
  }
  return {
    music,
    everyMs: num(v, 'everyMs', p, limits.announcementEveryMsDefault, limits.announcementEveryMsMin, limits.announcementEveryMsMax),
    position: bool(v, 'position', p, true),
    estimatedWait: bool(v, 'estimatedWait', p, true),
  };
}

/** `tls: { listen: host:port | port, cert: file, key: file }` of a SIP node; a bare port
 * listens on the node's UDP host. Default port 5061 (RFC 3261 §19.1.2). */
function parseSipTls(v: unknown, path: string, host: string): SipTlsConfig {
  if (!isObj(v)) throw new ConfigError(path, 'expected a mapping with listen, cert and key');
  onlyKnownKeys(v, knownKeys.sipTls, path);
  const listenValue = v.listen ?? v.port ?? sipTlsPortDefault;
  const listen = typeof listenValue === 'number' ? { host, port: checkPort(listenValue, `${path}.listen`) } : parseHostPort(listenValue, `${path}.listen`);
  return { listen, cert: str(v, 'cert', path), key: str(v, 'key', path) };
}

/** `digest: { algorithms: [MD5, SHA-256] }`: a non-empty list, no repeats, each known. */
function parseDigest(v: unknown): DigestConfig | null {
  if (v === undefined || v === null) return null;
  if (!isObj(v)) throw new ConfigError('digest', 'expected a mapping with algorithms');
  onlyKnownKeys(v, knownKeys.digest, 'digest');
  const list = v.algorithms;
  if (!Array.isArray(list) || list.length === 0) throw new ConfigError('digest.algorithms', `expected a non-empty list of ${digestAlgorithmNames.join(', ')}`);
  const algorithms = list.map((a, i): DigestAlgorithmName => {
    const name = typeof a === 'string' ? digestAlgorithmNames.find((n) => n === a.toUpperCase()) : undefined;
    if (name === undefined) throw new ConfigError(`digest.algorithms[${i}]`, `expected one of ${digestAlgorithmNames.join(', ')}, got ${JSON.stringify(a)}`);
    return name;
  });
  if (new Set(algorithms).size !== algorithms.length) throw new ConfigError('digest.algorithms', 'lists an algorithm twice');
  return { algorithms };
}

/** `routing: { webhook: { url: http://..., timeoutMs: 300 } }`; a bare string for
 * `webhook` is its URL. */
function parseRouting(v: unknown): RoutingConfig {
  if (v === undefined || v === null) return { webhook: null };
  if (!isObj(v)) throw new ConfigError('routing', 'expected a mapping');
  onlyKnownKeys(v, knownKeys.routing, 'routing');
  const w = v.webhook;
  if (w === undefined || w === null) return { webhook: null };
  if (!isObj(w) && typeof w !== 'string') throw new ConfigError('routing.webhook', 'expected a mapping with url and timeoutMs, or a URL');
  const o: Obj = typeof w === 'string' ? { url: w } : w;
  onlyKnownKeys(o, knownKeys.webhook, 'routing.webhook');
  const url = str(o, 'url', 'routing.webhook');
  let proto = '';
  try {
    proto = new URL(url).protocol;
  } catch {
    // reported below
  }
  if (proto !== 'http:' && proto !== 'https:') throw new ConfigError('routing.webhook.url', `expected an http:// or https:// URL, got ${JSON.stringify(url)}`);
  return { webhook: { url, timeoutMs: num(o, 'timeoutMs', 'routing.webhook', limits.routingWebhookTimeoutMsDefault, limits.routingWebhookTimeoutMsMin, limits.routingWebhookTimeoutMsMax) } };
}

// The events section's bounds (here rather than in limits.ts: only this parser and the
// SIP node's event log use them, and the latter takes them from the parsed config).
export const eventsRetainDefault = 10_000;
export const eventsRetainMax = 1_000_000;
export const eventWebhooksMax = 8;
export const eventWebhookSecretCharsMin = 16;
export const eventsDefault: EventsConfig = { retain: eventsRetainDefault, webhooks: [] };

/** `events: { retain: 10000, webhooks: [{ url, secret, batchMax, backlogMax, timeoutMs,
 * retryMinMs, retryMaxMs }] }`; each bad value names its field. */
function parseEvents(v: unknown): EventsConfig {
  if (v === undefined || v === null) return eventsDefault;
  if (!isObj(v)) throw new ConfigError('events', 'expected a mapping');
  onlyKnownKeys(v, knownKeys.events, 'events');
  const retain = num(v, 'retain', 'events', eventsRetainDefault, 1, eventsRetainMax);
  const hooks = list(v, 'webhooks', 'events', false);
  if (hooks.length > eventWebhooksMax) throw new ConfigError('events.webhooks', `at most ${eventWebhooksMax} webhooks`);
  const webhooks = hooks.map((h, i): EventWebhookConfig => {
    const p = `events.webhooks[${i}]`;
    onlyKnownKeys(h, knownKeys.eventWebhook, p);
    const url = str(h, 'url', p);
    let proto = '';
    try {
      proto = new URL(url).protocol;
    } catch {
      // reported below
    }
    if (proto !== 'http:' && proto !== 'https:') throw new ConfigError(`${p}.url`, `expected an http:// or https:// URL, got ${JSON.stringify(url)}`);
    const secret = str(h, 'secret', p);
    if (secret.length < eventWebhookSecretCharsMin) throw new ConfigError(`${p}.secret`, `expected at least ${eventWebhookSecretCharsMin} characters (openssl rand -hex 24)`);
    const batchMax = num(h, 'batchMax', p, 50, 1, 1000);
    const backlogMax = num(h, 'backlogMax', p, 10_000, 1, 1_000_000);
    if (backlogMax < batchMax) throw new ConfigError(`${p}.backlogMax`, `must be at least batchMax (${batchMax})`);
    const retryMinMs = num(h, 'retryMinMs', p, 500, 10, 600_000);
    const retryMaxMs = num(h, 'retryMaxMs', p, 60_000, 10, 3_600_000);
    if (retryMaxMs < retryMinMs) throw new ConfigError(`${p}.retryMaxMs`, `must be at least retryMinMs (${retryMinMs})`);
    return { url, secret, batchMax, backlogMax, timeoutMs: num(h, 'timeoutMs', p, 5_000, 100, 120_000), retryMinMs, retryMaxMs };
  });
  return { retain, webhooks };
}

export function loadClusterConfig(path: string): ClusterConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError('--config', `cannot read ${path}: ${(err as Error).message}`);
  }
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new ConfigError('--config', `${path} is not valid YAML: ${(err as Error).message}`);
  }
  return validateClusterConfig(doc);
}

/** A warning when the cluster file at `path` can be read by anyone but its owner (it
 * holds the root secret and the admin tokens; it should be mode 0600), else null. */
export function clusterFileExposure(path: string): string | null {
  let mode: number;
  try {
    mode = statSync(path).mode;
  } catch {
    return null;
  }
  if ((mode & 0o077) === 0) return null;
  return `${path} is mode ${(mode & 0o777).toString(8).padStart(4, '0')}: it holds the cluster's secrets; chmod 600 it`;
}

export function findReplica(config: ClusterConfig, id: string): { shard: ShardConfig; replica: ReplicaConfig } {
  for (const shard of config.shards) {
    const replica = shard.replicas.find((r) => r.id === id);
    if (replica) return { shard, replica };
  }
  // The flag names what is not there: a usage error (exit 2), as for every role's --id.
  throw new UsageError(`--id: no replica ${JSON.stringify(id)} in the cluster file`);
}
