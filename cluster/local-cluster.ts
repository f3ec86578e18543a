// A whole Ringfence cluster as child processes on this machine: writes a cluster file with
// free loopback ports, spawns each role as a real OS process (`ringfence <role>`), waits
// for its `{"event":"ready"}` line, and can SIGKILL and restart any of them by id (a
// store, `ringfence store`, by its store id). The launcher (`npm start`), the
// integration and chaos tests and the benchmarks share it.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { chmodSync, closeSync, mkdirSync, openSync, readFileSync, statSync, unlinkSync, writeFileSync, createWriteStream, type WriteStream } from 'node:fs';
import { setPriority, tmpdir } from 'node:os';
import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify as toYaml } from 'yaml';
import { validateClusterConfig, type ClusterConfig } from '../common/config.js';
import { onJsonLines, type JsonEvent } from '../common/json-lines.js';
import { nodeEntryArgs } from '../common/node-entry.js';
import { gatewayRtpPortBase, gatewayRtpPortsPerGateway, listenPortMin, portClaimTtlMs, roleReadyMsDefault, stderrTailCharsMax, stopGraceMsDefault, storeOldSpaceMbMax, storeSemiSpaceMbMax } from './limits.js';

const cliPath = fileURLToPath(new URL('./cli.ts', import.meta.url));

/** The first port the kernel hands out for bind(0) and for the source side of connect(). */
function ephemeralPortMin(): number {
  try {
    const first = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(first) && first > 2048 ? first : 32768;
  } catch {
    return 32768;
  }
}

const listenPortMax = Math.max(listenPortMin + 1024, Math.min(gatewayRtpPortBase, ephemeralPortMin())) - 1;
const listenPortSpan = listenPortMax - listenPortMin + 1;
/** A port handed out is claimed by a file created O_EXCL here, so no other process using
 * freePorts (tap runs test files side by side) hands it out while its role starts. */
const portClaimsDir = join(tmpdir(), 'ringfence-port-claims');

function claimPort(port: number): boolean {
  const path = join(portClaimsDir, String(port));
  for (let tries = 0; tries < 2; tries++) {
    try {
      closeSync(openSync(path, 'wx'));
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      try {
        if (Date.now() - statSync(path).mtimeMs < portClaimTtlMs) return false;
        unlinkSync(path);
      } catch {
        return false; // another process took or refreshed it meanwhile
      }
    }
  }
  return false;
}

async function bindsTcpAndUdp(port: number, host: string): Promise<boolean> {
  const tcp = await new Promise<import('node:net').Server | null>((res) => {
    const srv = createServer();
    srv.once('error', () => res(null));
    srv.listen(port, host, () => res(srv));
  });
  if (tcp === null) return false;
  const udpFree = await new Promise<boolean>((res) => {
    const u = createSocket('udp4');
    u.once('error', () => { u.close(); res(false); });
    u.bind(port, host, () => u.close(() => res(true)));
  });
  await new Promise((r) => tcp.close(r));
  return udpFree;
}

/** Ports free for both TCP and UDP (SIP listens on both, SIPp and RTP on UDP; a TCP-only
 * check once handed SIPp a port a phone's UDP socket held), probed, claimed and released
 * for a role to bind. They come from 20000 up to the gateways' RTP ports, below the
 * kernel's ephemeral range: a port the kernel had handed out for bind(0) could be handed
 * out again, as the source port of any outgoing connection, before the role bound it (the
 * likeliest reason a replica of a test cluster once exited before it was ready). */
export async function freePorts(count: number, host = '127.0.0.1'): Promise<number[]> {
  mkdirSync(portClaimsDir, { recursive: true });
  const ports: number[] = [];
  // Random picks, not consecutive ones: callers take freePorts(1) as the base of a block
  // (SIPp binds -mp and the ports above it), and the next pick must not land in it.
  for (let probed = 0; ports.length < count; probed++) {
    if (probed >= listenPortSpan) throw new Error(`no ${count} ports free for both TCP and UDP on ${host} in ${listenPortMin}-${listenPortMax}`);
    const port = listenPortMin + randomInt(listenPortSpan);
    // The claim comes first: it is cheaper than a probe, and a port this process already
    // handed out is claimed too, so it is never handed out twice.
    if (!claimPort(port) || !(await bindsTcpAndUdp(port, host))) continue;
    ports.push(port);
  }
  return ports;
}

export type LocalClusterSpec = Readonly<{
  dir: string;
  shards: number;
  /** Stores a, b, c, … each hosting one replica of many shards (DESIGN.md "Multi-raft
   * stores"): the file gets a `stores:` section and `shards: {count: N}`, the shards'
   * replicas placed round-robin (common/config.ts), `replicasPerShard` of them per shard.
   * Absent: every replica is a process of its own (the default layout). */
  stores?: number;
  replicasPerShard?: number;
  sipNodes?: number;
  gateways?: number;
  services?: readonly { number: string; skill: string; minLevel?: number; announcements?: Readonly<{ music: string | null; everyMs: number; position: boolean; estimatedWait: boolean }> }[];
  raft?: Partial<ClusterConfig['raft']>;
  /** The last N replicas of every shard are marked `join: true` (added later by membership change). */
  joinReplicas?: number;
  /** Shard i prefers its replica i mod (bootstrap voters) as leader, so the leaders of
   * co-hosted replicas spread over the processes (shards[].preferredLeader). */
  preferredLeaders?: boolean;
  /** Fixed ports for the first SIP node and its admin, as `npm start` promises. */
  sipPort?: number;
  adminPort?: number;
  /** The address the SIP nodes (SIP and admin) listen on and advertise, for phones on
   * other machines (`npm start -- --advertise`); default 127.0.0.1. Replicas and gateway
   * control stay on loopback: only this machine's processes talk to them. */
  sipHost?: string;
  /** SIP over TLS on the first SIP node (on sipHost): its certificate and key files, and
   * its port (default: a free one). */
  sipTls?: Readonly<{ cert: string; key: string; port?: number }>;
  /** The cluster file's digest section (default: none, the nodes' default policy). */
  digest?: ClusterConfig['digest'];
}>;

/** Mode of a cluster file: it holds the root secret and the admin tokens. */
export const clusterFileMode = 0o600;

/** Writes `text` to `path` readable by its owner only, also when the file already exists
 * with a wider mode (writeFileSync's `mode` applies only to a file it creates). */
export function writeSecretFile(path: string, text: string): void {
  writeFileSync(path, text, { mode: clusterFileMode });
  chmodSync(path, clusterFileMode);
}

/** The cluster file of a local cluster: fresh random secrets (a 32-byte root secret,
 * 48-hex-digit tokens), free loopback ports, written mode 0600. */
export async function writeLocalClusterConfig(spec: LocalClusterSpec): Promise<{ path: string; config: ClusterConfig }> {
  mkdirSync(spec.dir, { recursive: true });
  const replicas = spec.replicasPerShard ?? 3;
  const sipNodes = spec.sipNodes ?? 0;
  const gateways = spec.gateways ?? 0;
  const stores = spec.stores ?? 0;
  if (stores > 0 && (spec.joinReplicas !== undefined || spec.preferredLeaders !== undefined)) throw new Error('a stores layout places replicas and preferred leaders itself; joinReplicas and preferredLeaders are for the per-replica layout');
  if (stores > 0 && replicas > stores) throw new Error(`${replicas} replicas per shard need at least ${replicas} stores, not ${stores}`);
  const replicaPorts = stores > 0 ? stores * 3 : spec.shards * replicas * 3;
  const ports = await freePorts(replicaPorts + sipNodes * 2 + gateways * 2 + (spec.sipTls !== undefined ? 1 : 0));
  const next = (): number => ports.pop()!;
  const voters = replicas - (spec.joinReplicas ?? 0);
  /** s1-a, s1-b, …: shard and replica by index. */
  const replicaId = (shard: number, replica: number): string => `s${shard + 1}-${String.fromCharCode(97 + replica)}`;
  const doc = {
    secret: randomBytes(32).toString('hex'),
    tokens: { read: `read-${randomBytes(24).toString('hex')}`, admin: `admin-${randomBytes(24).toString('hex')}` },
    realm: 'ringfence',
    raft: { tickMs: 10, electionTimeoutTicks: 15, heartbeatTicks: 3, snapshotEveryEntries: 10000, ...spec.raft },
    ...(stores > 0 ? storesSection(spec.dir, stores, spec.shards, replicas, next) : { shards: Array.from({ length: spec.shards }, (_, s) => ({
      id: `s${s + 1}`,
      ...(spec.preferredLeaders === true ? { preferredLeader: replicaId(s, s % voters) } : {}),
      replicas: Array.from({ length: replicas }, (_, r) => {
        const id = replicaId(s, r);
        const joiner = r >= voters;
        return { id, raft: `127.0.0.1:${next()}`, client: `127.0.0.1:${next()}`, admin: `127.0.0.1:${next()}`, data: join(resolve(spec.dir), id), ...(joiner ? { join: true } : {}) };
      }),
    })) }),
    sip: Array.from({ length: sipNodes }, (_, i) => {
      const port = i === 0 && spec.sipPort !== undefined ? spec.sipPort : next();
      const host = spec.sipHost ?? '127.0.0.1';
      const tls = i === 0 && spec.sipTls !== undefined ? { tls: { listen: `${host}:${spec.sipTls.port ?? next()}`, cert: resolve(spec.sipTls.cert), key: resolve(spec.sipTls.key) } } : {};
      return { id: `sip${i + 1}`, udp: `${host}:${port}`, tcp: `${host}:${port}`, admin: `${host}:${i === 0 && spec.adminPort !== undefined ? spec.adminPort : next()}`, ...tls };
    }),
    gateways: Array.from({ length: gateways }, (_, i) => ({ id: `gw${i + 1}`, control: `127.0.0.1:${next()}`, ports: `${gatewayRtpPortBase + i * gatewayRtpPortsPerGateway}-${gatewayRtpPortBase + (i + 1) * gatewayRtpPortsPerGateway - 1}`, admin: `127.0.0.1:${next()}` })),
    services: (spec.services ?? []).map((s) => ({ number: s.number, skill: s.skill, minLevel: s.minLevel ?? 0, ...(s.announcements !== undefined ? { announcements: { ...s.announcements } } : {}) })),
    ...(spec.digest !== undefined ? { digest: { algorithms: [...spec.digest.algorithms] } } : {}),
  };
  const config = validateClusterConfig(doc);
  const path = join(spec.dir, 'cluster.yaml');
  writeSecretFile(path, toYaml(doc));
  return { path, config };
}

/** The `stores:` section (stores a, b, c, … on free loopback ports, each its data
 * directory `store-<id>`) and `shards: {count, replicas}` placing the shards on them. */
function storesSection(dir: string, stores: number, shards: number, replicas: number, next: () => number): { stores: object[]; shards: object } {
  return {
    stores: Array.from({ length: stores }, (_, i) => {
      const id = storeIdOf(i);
      return { id, raft: `127.0.0.1:${next()}`, client: `127.0.0.1:${next()}`, admin: `127.0.0.1:${next()}`, data: join(resolve(dir), `store-${id}`) };
    }),
    shards: { count: shards, replicas },
  };
}

/** a, b, …, z, then s26, s27, …: the i-th store's id. */
export function storeIdOf(i: number): string {
  return i < 26 ? String.fromCharCode(97 + i) : `s${i}`;
}

export type ProcRole = 'shard' | 'store' | 'sip' | 'gateway' | 'phones';

/** The variables of the launcher's environment a child role inherits: what Node, tsx and
 * the C library need (search path, home and temporary directory for caches, locale and
 * time zone, Node's own options and CA bundle), and the log level, which applies to the
 * whole cluster. Nothing else: a RINGFENCE_<FLAG> the operator set for the launcher (say
 * RINGFENCE_DATA) would otherwise become every child's flag fallback, and six replicas
 * would open one data directory. What a child needs beyond this comes as explicit flags
 * (ProcessSet.start's command line) or as `env` given to the ProcessSet. */
export const childEnvAllowed: readonly string[] = [
  'PATH', 'HOME', 'USER', 'LOGNAME', 'TMPDIR', 'TZ', 'LANG', 'LANGUAGE',
  'NODE_OPTIONS', 'NODE_EXTRA_CA_CERTS', 'NODE_V8_COVERAGE',
  'RINGFENCE_LOG_LEVEL',
];

/** A child's environment: the allowed variables of `parent` (and its LC_* locale ones),
 * then `extra` on top. */
export function childEnv(parent: NodeJS.ProcessEnv, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(parent)) {
    if (v !== undefined && (childEnvAllowed.includes(k) || k.startsWith('LC_'))) env[k] = v;
  }
  return { ...env, ...extra };
}

/** The CPU priority (nice) a local cluster gives each role, as `Nice=` does in the systemd
 * units of the README. The SIP node runs first: it is one single-threaded process that
 * every call crosses ~15 times, and on a shared 2-core machine it queued behind the six
 * replicas and SIPp for the CPU. `bench calls --rates 300 --repeat 9`, alternating:
 * median p50/p99 16/80 ms at nice 0 against 4/36 ms at nice -5 (28/128 against 20/96
 * in a pair where the machine was busier). A negative nice needs root or CAP_SYS_NICE;
 * without it the role runs at the inherited priority (logged). */
export const LOCAL_ROLE_NICE: Readonly<Partial<Record<ProcRole, number>>> = { sip: -5 };

/** The node options a role runs with, before any the ProcessSet was given: a store's
 * heap limits set how far V8 lets its heap grow under load (limits.ts says why); the
 * README's store command line passes the same. */
export const ROLE_NODE_ARGS: Readonly<Partial<Record<ProcRole, readonly string[]>>> = {
  store: [`--max-old-space-size=${storeOldSpaceMbMax}`, `--max-semi-space-size=${storeSemiSpaceMbMax}`],
};

/** The shard processes that run a cluster's replicas, as `ProcessSet` ids (each is the
 * process's `--id`). Separate: one process per replica. Co-hosted: the i-th process hosts
 * the i-th replica of every shard (the README's one-replica-of-every-shard-per-host
 * layout), so 3 processes carry any number of 3-replica shards. */
export function shardProcessIds(config: ClusterConfig, coHosted: boolean): string[] {
  if (!coHosted) return config.shards.flatMap((s) => s.replicas.map((r) => r.id));
  const width = Math.max(...config.shards.map((s) => s.replicas.length));
  return Array.from({ length: width }, (_, i) => config.shards.flatMap((s) => (s.replicas[i] ? [s.replicas[i]!.id] : [])).join(','));
}

/** Which of `shardProcessIds`'s processes hosts a replica (the replica's own id when it
 * is in none of them, as a process per replica is named after it). */
export function shardProcessOf(processIds: readonly string[], replicaId: string): string {
  return processIds.find((p) => p.split(',').includes(replicaId)) ?? replicaId;
}

export type ManagedProc = {
  readonly id: string;
  readonly role: ProcRole;
  child: ChildProcess | null;
  ready: Record<string, unknown> | null;
  starts: number;
};

/** Spawns, watches, kills and restarts the processes of one local cluster. */
export class ProcessSet {
  readonly procs = new Map<string, ManagedProc>();
  readonly #logs: WriteStream | null;
  readonly #nice: Readonly<Partial<Record<ProcRole, number>>>;
  #closed = false;

  /** Called with every JSON line a child prints, its ready line included. */
  onEvent: ((id: string, event: JsonEvent) => void) | null = null;
  /** Called whenever a child exits, however it ended (a supervisor restarts from here). */
  onExit: ((id: string, code: number | null, signal: NodeJS.Signals | null) => void) | null = null;
  /** An argv that runs the role inside something, e.g. `ip netns exec <ns>` (cluster/netns.ts).
   * It must exec the role in place, so the pid held, killed and reported is the role's own. */
  commandPrefix: ((role: ProcRole, id: string) => readonly string[]) | null = null;

  constructor(
    readonly configPath: string,
    opts: { logFile?: string; env?: NodeJS.ProcessEnv; nodeArgs?: readonly string[]; nice?: Readonly<Partial<Record<ProcRole, number>>> } = {},
    private readonly env: NodeJS.ProcessEnv = childEnv(process.env, opts.env),
    // RINGFENCE_CPU_PROF_DIR=<dir>: every role process writes a V8 CPU profile there when
    // it stops (benches and tests that start clusters, for profiling a whole run).
    private readonly nodeArgs: readonly string[] = opts.nodeArgs ?? (process.env.RINGFENCE_CPU_PROF_DIR ? ['--cpu-prof', `--cpu-prof-dir=${process.env.RINGFENCE_CPU_PROF_DIR}`] : []),
  ) {
    this.#logs = opts.logFile ? createWriteStream(opts.logFile, { flags: 'a' }) : null;
    this.#nice = opts.nice ?? LOCAL_ROLE_NICE;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Starts `ringfence <role> --config <file> --id <id> [extra]` and resolves with its
   * ready line; rejects if it exits first or stays silent past `timeoutMs`. */
  start(role: ProcRole, id: string, extra: readonly string[] = [], timeoutMs = roleReadyMsDefault): Promise<Record<string, unknown>> {
    if (this.#closed) return Promise.reject(new Error('process set closed'));
    const p = this.procs.get(id) ?? { id, role, child: null, ready: null, starts: 0 };
    this.procs.set(id, p);
    if (p.child && p.child.exitCode === null && p.child.signalCode === null) return Promise.reject(new Error(`${id} is already running`));
    const argv = [...(this.commandPrefix?.(role, id) ?? []), process.execPath, ...(ROLE_NODE_ARGS[role] ?? []), ...this.nodeArgs, ...nodeEntryArgs(cliPath), role, '--config', this.configPath, '--id', id, ...extra];
    const child = spawn(argv[0]!, argv.slice(1), {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: this.env,
    });
    p.child = child;
    p.ready = null;
    p.starts++;
    const logs = this.#logs;
    const nice = this.#nice[role] ?? 0;
    if (nice !== 0 && child.pid !== undefined) {
      // Set on the new process's first thread before Node starts its own threads, which
      // inherit it (Linux keeps a nice value per thread).
      try {
        setPriority(child.pid, nice);
      } catch (err) {
        logs?.write(`[${id}] nice ${nice} not applied, running at the inherited priority: ${(err as Error).message}\n`);
      }
    }
    // The last of its stderr goes into the error when a role dies before it is ready:
    // the log file may be gone with a test's temporary directory by the time anyone looks.
    let stderrTail = '';
    child.stderr!.on('data', (d: Buffer) => {
      logs?.write(d);
      // Kept only until ready: a long-running role logs to stderr for its whole life.
      if (p.ready === null) stderrTail = (stderrTail + d.toString('utf8')).slice(-stderrTailCharsMax);
    });
    return new Promise((resolvePromise, reject) => {
      const timer = setTimeout(() => {
        reject(new Error(`${role} ${id} not ready within ${timeoutMs} ms`));
      }, timeoutMs);
      onJsonLines(child.stdout!, (line, ev) => {
        logs?.write(`[${id} stdout] ${line}\n`);
        if (ev === null) return;
        if (ev.event === 'ready' && p.ready === null) {
          p.ready = ev;
          clearTimeout(timer);
          resolvePromise(ev);
        }
        this.onEvent?.(id, ev);
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        this.onExit?.(id, code, signal);
        if (p.ready === null) reject(new Error(`${role} ${id} exited (${signal ?? code}) before it was ready${stderrTail === '' ? '' : `; its stderr ended:\n${stderrTail}`}`));
      });
    });
  }

  pid(id: string): number | null {
    const c = this.procs.get(id)?.child;
    return c && c.exitCode === null && c.signalCode === null ? c.pid ?? null : null;
  }

  isRunning(id: string): boolean {
    return this.pid(id) !== null;
  }

  /** SIGKILL by pid; resolves once the process is gone. */
  async kill(id: string, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const c = this.procs.get(id)?.child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const gone = new Promise<void>((r) => c.once('exit', () => r()));
    process.kill(c.pid!, signal);
    await gone;
  }

  async restart(id: string, extra: readonly string[] = []): Promise<Record<string, unknown>> {
    const p = this.procs.get(id);
    if (!p) throw new Error(`unknown process ${id}`);
    await this.kill(id);
    return this.start(p.role, id, extra);
  }

  /** Stops everything: SIGTERM, then SIGKILL whatever is left after `graceMs`. */
  async stopAll(graceMs = stopGraceMsDefault): Promise<void> {
    this.#closed = true;
    const running = [...this.procs.values()].filter((p) => p.child && p.child.exitCode === null && p.child.signalCode === null);
    await Promise.all(running.map(async (p) => {
      const c = p.child!;
      const gone = new Promise<void>((r) => c.once('exit', () => r()));
      c.kill('SIGTERM');
      const t = setTimeout(() => c.kill('SIGKILL'), graceMs);
      await gone;
      clearTimeout(t);
    }));
    this.#logs?.end();
  }

  /** For process 'exit' handlers, where nothing asynchronous runs. */
  killAllNow(): void {
    for (const p of this.procs.values()) {
      if (p.child && p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
    }
  }
}
