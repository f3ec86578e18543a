// The cluster file: one YAML document describing every process of a Ringfence cluster.
// Every process reads the same file and finds itself by `--id`. Validation names the
// offending field (`shards[1].replicas[0].raft: expected host:port`) so an operator can
// fix a typo without reading code.
import { readFileSync, statSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { UsageError } from './args.js';
import * as limits from './limits.js';

const serviceNumberPattern = new RegExp(`^[0-9*#+]{1,${limits.serviceNumberCharsMax}}$`);

export type HostPort = Readonly<{ host: string; port: number }>;

export type ReplicaConfig = Readonly<{
  id: string;
  raft: HostPort;
  client: HostPort;
  admin: HostPort;
  data: string;
  /** Added after the shard was created: not a bootstrap voter; it joins through
   * POST /v1/members (as a learner first). */
  join: boolean;
}>;
export type ShardConfig = Readonly<{
  id: string;
  replicas: readonly ReplicaConfig[];
  /** The replica that should lead when it is up and caught up (see shards/node/shard-node.ts);
   * absent: whichever replica wins the election keeps leading. */
  preferredLeader?: string;
}>;
export type SipNodeConfig = Readonly<{ id: string; udp: HostPort; tcp: HostPort; admin: HostPort }>;
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
export type ServiceConfig = Readonly<{ number: string; skill: string; minLevel: number }>;
/** The SIP nodes' optional HTTP routing webhook (cluster-wide: every node routes alike). */
export type RoutingWebhookConfig = Readonly<{ url: string; timeoutMs: number }>;
export type RoutingConfig = Readonly<{ webhook: RoutingWebhookConfig | null }>;

export type ClusterConfig = Readonly<{
  /** The cluster's root secret (≥ 32 bytes): the Raft peer and shard RPC handshakes'
   * keys are derived from it (common/keys.ts). The file holding it must be mode 0600. */
  secret: string;
  tokens: Readonly<{ read: string; admin: string }>;
  realm: string;
  shards: readonly ShardConfig[];
  sip: readonly SipNodeConfig[];
  gateways: readonly GatewayConfig[];
  services: readonly ServiceConfig[];
  raft: Readonly<{ tickMs: number; electionTimeoutTicks: number; heartbeatTicks: number; snapshotEveryEntries: number }>;
  /** `routing:` section; absent in configs built by code (no webhook). */
  routing?: RoutingConfig;
}>;

export class ConfigError extends Error {
  readonly code = 'CONFIG_ERR_INVALID';
  constructor(readonly field: string, detail: string) {
    super(`${field}: ${detail}`);
  }
}

type Obj = Record<string, unknown>;

/** Every key the cluster file may hold, per mapping. A key not listed is refused with the
 * nearest known one (`shards[0].preferedLeader: unknown key; did you mean preferredLeader?`),
 * so a typo never silently falls back to a default. A new field is one more name in its
 * mapping's list here, next to the code in validateClusterConfig that reads it. */
export const knownKeys = {
  root: ['secret', 'tokens', 'realm', 'raft', 'shards', 'sip', 'gateways', 'services', 'routing'],
  tokens: ['read', 'admin'],
  raft: ['tickMs', 'electionTimeoutTicks', 'heartbeatTicks', 'snapshotEveryEntries'],
  shard: ['id', 'replicas', 'preferredLeader'],
  replica: ['id', 'raft', 'client', 'admin', 'data', 'join'],
  // `listen`: the name of `udp` in early cluster files.
  sip: ['id', 'udp', 'tcp', 'admin', 'listen'],
  gateway: ['id', 'control', 'ports', 'admin', 'ngAuth'],
  service: ['number', 'skill', 'minLevel'],
  routing: ['webhook'],
  webhook: ['url', 'timeoutMs'],
} as const satisfies Record<string, readonly string[]>;

/** Levenshtein distance, for naming the known key a typo was meant to be. */
function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = row[j]!;
      row[j] = Math.min(above + 1, row[j - 1]! + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
      diagonal = above;
    }
  }
  return row[b.length]!;
}

/** The known key nearest to `key` (case-insensitively), or null when none is close enough
 * to be the one meant (more than a third of the key's letters differ). */
export function nearestKey(key: string, known: readonly string[]): string | null {
  let best: string | null = null;
  let bestDistance = Infinity;
  for (const k of known) {
    const d = editDistance(key.toLowerCase(), k.toLowerCase());
    if (d < bestDistance) {
      best = k;
      bestDistance = d;
    }
  }
  return bestDistance <= Math.max(2, Math.ceil(key.length / 3)) ? best : null;
}

/** Refuses a key of `o` (the mapping at `path`) that `known` does not list. */
function onlyKnownKeys(o: Obj, known: readonly string[], path: string): void {
  for (const key of Object.keys(o)) {
    if (known.includes(key)) continue;
    const near = nearestKey(key, known);
    const field = path === '' ? key : `${path}.${key}`;
    throw new ConfigError(field, `unknown key${near === null ? '' : `; did you mean ${near}?`} (known here: ${known.join(', ')})`);
  }
}

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function str(o: Obj, key: string, path: string, fallback?: string): string {
  const v = o[key];
  if (v === undefined && fallback !== undefined) return fallback;
  if (typeof v === 'number') return String(v);
  if (typeof v !== 'string' || v.length === 0) throw new ConfigError(`${path}.${key}`, 'expected a non-empty string');
  return v;
}

function bool(o: Obj, key: string, path: string, fallback: boolean): boolean {
  const v = o[key];
  if (v === undefined) return fallback;
  if (typeof v !== 'boolean') throw new ConfigError(`${path}.${key}`, 'expected true or false');
  return v;
}

function num(o: Obj, key: string, path: string, fallback: number, min: number, max: number): number {
  const v = o[key] ?? fallback;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new ConfigError(`${path}.${key}`, `expected an integer from ${min} to ${max}`);
  }
  return v;
}

export function parseHostPort(value: unknown, field: string): HostPort {
  if (typeof value === 'number') return { host: '127.0.0.1', port: checkPort(value, field) };
  if (typeof value !== 'string') throw new ConfigError(field, 'expected host:port');
  const m = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(value.trim());
  if (!m) throw new ConfigError(field, `expected host:port, got ${JSON.stringify(value)}`);
  const host = m[1]!.startsWith('[') ? m[1]!.slice(1, -1) : m[1]!;
  return { host, port: checkPort(Number(m[2]), field) };
}

function checkPort(port: number, field: string): number {
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new ConfigError(field, 'port must be 0–65535');
  return port;
}

function list(o: Obj, key: string, path: string, required: boolean): Obj[] {
  const v = o[key];
  if (v === undefined && !required) return [];
  if (!Array.isArray(v) || (required && v.length === 0)) throw new ConfigError(`${path}.${key}`, 'expected a non-empty list');
  return v.map((item, i) => {
    if (!isObj(item)) throw new ConfigError(`${path}.${key}[${i}]`, 'expected a mapping');
    return item;
  });
}

function uniqueIds(items: readonly { id: string }[], field: string): void {
  const seen = new Set<string>();
  for (const it of items) {
    if (seen.has(it.id)) throw new ConfigError(field, `duplicate id ${JSON.stringify(it.id)}`);
    seen.add(it.id);
  }
}

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
  const shards = list(doc, 'shards', '', true).map((s, i): ShardConfig => {
    const path = `shards[${i}]`;
    onlyKnownKeys(s, knownKeys.shard, path);
    const replicas = list(s, 'replicas', path, true).map((r, j): ReplicaConfig => {
      const rp = `${path}.replicas[${j}]`;
      onlyKnownKeys(r, knownKeys.replica, rp);
      const id = str(r, 'id', rp);
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
    return { id: str(n, 'id', p), udp, tcp: n.tcp === undefined ? udp : parseHostPort(n.tcp, `${p}.tcp`), admin: parseHostPort(n.admin, `${p}.admin`) };
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
  const services = list(doc, 'services', '', false).map((s, i): ServiceConfig => {
    const p = `services[${i}]`;
    onlyKnownKeys(s, knownKeys.service, p);
    const number = str(s, 'number', p);
    if (!serviceNumberPattern.test(number)) throw new ConfigError(`${p}.number`, 'expected digits');
    return { number, skill: str(s, 'skill', p), minLevel: num(s, 'minLevel', p, 0, 0, limits.serviceMinLevelMax) };
  });
  const raftObj = isObj(doc.raft) ? doc.raft : {};
  const routing = parseRouting(doc.routing);
  return {
    ...secrets(doc),
    realm: str(doc, 'realm', '(root)', 'ringfence'),
    shards,
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
  };
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
