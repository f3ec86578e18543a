// A 3-member etcd cluster on 127.0.0.1 for side-by-side benchmarks, run the way
// /work/shared/ANCHORS.md describes: own client and peer port and data dir per member,
// --initial-cluster naming all members, --logger=zap, default timing (heartbeat 100 ms /
// election 1000 ms) or the fast variant (50 / 300). Members can be SIGKILLed and
// restarted on their data dir (failover bench). Status comes from etcd's own HTTP gateway
// (/v3/maintenance/status), so finding the leader needs no extra client.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePorts } from '../cluster/local-cluster.js';
import { onExitCleanup, spawnProcess, type ManagedProcess } from './procs.js';

export type EtcdTiming = 'default' | 'fast';

const TIMING_FLAGS: Record<EtcdTiming, readonly string[]> = {
  default: ['--heartbeat-interval=100', '--election-timeout=1000'],
  fast: ['--heartbeat-interval=50', '--election-timeout=300'],
};
const HEALTHY_TIMEOUT_MS = 30_000;
const STATUS_TIMEOUT_MS = 1_000;

export type EtcdMember = {
  readonly name: string;
  readonly clientPort: number;
  readonly peerPort: number;
  /** host:port, as the etcd3 client wants it. */
  readonly clientHost: string;
  readonly dataDir: string;
  proc: ManagedProcess | null;
};

export type EtcdMemberStatus = Readonly<{
  name: string;
  memberId: string;
  leaderId: string;
  raftTerm: number;
  raftIndex: number;
  isLeader: boolean;
}>;

export type EtcdClusterOptions = Readonly<{
  timing?: EtcdTiming;
  size?: number;
  /** Extra etcd flags for every member (e.g. quota). */
  extraArgs?: readonly string[];
}>;

/** The etcd binary, or null when etcd is not installed (benches then skip the reference). */
export function etcdBinary(): string | null {
  try {
    return execFileSync('sh', ['-c', 'command -v etcd'], { encoding: 'utf8' }).trim() || null;
  } catch {
    return null;
  }
}

export class EtcdCluster {
  readonly members: readonly EtcdMember[];
  readonly timing: EtcdTiming;
  private readonly rootDir: string;
  private readonly binary: string;
  private readonly initialCluster: string;
  private readonly extraArgs: readonly string[];
  private readonly forgetCleanup: () => void;

  private constructor(binary: string, rootDir: string, members: EtcdMember[], timing: EtcdTiming, extraArgs: readonly string[]) {
    this.binary = binary;
    this.rootDir = rootDir;
    this.forgetCleanup = onExitCleanup(() => rmSync(rootDir, { recursive: true, force: true, maxRetries: 5 }));
    this.members = members;
    this.timing = timing;
    this.extraArgs = extraArgs;
    this.initialCluster = members.map((m) => `${m.name}=http://127.0.0.1:${m.peerPort}`).join(',');
  }

  /** Starts all members, waits until every one reports a leader and a write goes
   * through. On failure everything started is stopped and the data removed. */
  static async start(opts: EtcdClusterOptions = {}): Promise<EtcdCluster> {
    const binary = etcdBinary();
    if (!binary) throw new Error('etcd is not installed (apt-get install -y etcd-server etcd-client)');
    const size = opts.size ?? 3;
    const rootDir = mkdtempSync(join(tmpdir(), 'ringfence-etcd-'));
    const ports = await freePorts(size * 2);
    const members: EtcdMember[] = Array.from({ length: size }, (_, i) => ({
      name: `etcd${i + 1}`,
      clientPort: ports[2 * i]!,
      peerPort: ports[2 * i + 1]!,
      clientHost: `127.0.0.1:${ports[2 * i]!}`,
      dataDir: join(rootDir, `etcd${i + 1}`),
      proc: null,
    }));
    const cluster = new EtcdCluster(binary, rootDir, members, opts.timing ?? 'default', opts.extraArgs ?? []);
    try {
      await Promise.all(members.map((m) => cluster.startMember(m)));
      await cluster.waitHealthy();
      return cluster;
    } catch (err) {
      await cluster.stop();
      throw err;
    }
  }

  /** host:port of every member, for the etcd3 client. */
  get clientHosts(): string[] {
    return this.members.map((m) => m.clientHost);
  }

  /** Starts (or restarts, on its existing data dir) one member; resolves once it serves
   * client requests. */
  async startMember(m: EtcdMember): Promise<void> {
    if (m.proc && !m.proc.exited) return;
    const args = [
      `--name=${m.name}`,
      `--data-dir=${m.dataDir}`,
      `--listen-client-urls=http://127.0.0.1:${m.clientPort}`,
      `--advertise-client-urls=http://127.0.0.1:${m.clientPort}`,
      `--listen-peer-urls=http://127.0.0.1:${m.peerPort}`,
      `--initial-advertise-peer-urls=http://127.0.0.1:${m.peerPort}`,
      `--initial-cluster=${this.initialCluster}`,
      '--initial-cluster-state=new',
      '--initial-cluster-token=ringfence-bench',
      '--logger=zap',
      ...TIMING_FLAGS[this.timing],
      ...this.extraArgs,
    ];
    const { proc } = await spawnProcess({
      name: m.name,
      command: this.binary,
      args,
      readyStream: 'stderr',
      isReady: (line) => line.includes('serving client traffic'),
      readyTimeoutMs: HEALTHY_TIMEOUT_MS,
      logFile: join(this.rootDir, `${m.name}.log`),
    });
    m.proc = proc;
  }

  /** SIGKILL (default) or another signal to one member; resolves once it exited. */
  async killMember(m: EtcdMember, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const proc = m.proc;
    if (!proc || proc.exited) return;
    proc.kill(signal);
    await proc.waitExit();
  }

  /** Status of one member through its HTTP gateway, or null if it does not answer. */
  async memberStatus(m: EtcdMember): Promise<EtcdMemberStatus | null> {
    try {
      const res = await fetch(`http://${m.clientHost}/v3/maintenance/status`, {
        method: 'POST',
        body: '{}',
        signal: AbortSignal.timeout(STATUS_TIMEOUT_MS),
      });
      if (!res.ok) return null;
      const body = (await res.json()) as {
        header?: { member_id?: string };
        leader?: string;
        raftTerm?: string;
        raftIndex?: string;
      };
      const memberId = body.header?.member_id ?? '';
      const leaderId = body.leader ?? '0';
      return {
        name: m.name,
        memberId,
        leaderId,
        raftTerm: Number(body.raftTerm ?? 0),
        raftIndex: Number(body.raftIndex ?? 0),
        isLeader: memberId !== '' && memberId === leaderId,
      };
    } catch {
      return null;
    }
  }

  /** The member that currently says it is the leader (asked of every live member), or null. */
  async leader(): Promise<EtcdMember | null> {
    const statuses = await Promise.all(this.members.map((m) => (m.proc && !m.proc.exited ? this.memberStatus(m) : null)));
    const i = statuses.findIndex((s) => s?.isLeader === true);
    return i >= 0 ? this.members[i]! : null;
  }

  /** Waits until every live member answers status with the same, non-zero leader and a
   * write through the gateway succeeds. */
  async waitHealthy(timeoutMs = HEALTHY_TIMEOUT_MS): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const live = this.members.filter((m) => m.proc && !m.proc.exited);
    for (;;) {
      const statuses = await Promise.all(live.map((m) => this.memberStatus(m)));
      const leaders = new Set(statuses.map((s) => s?.leaderId ?? 'none'));
      if (leaders.size === 1 && !leaders.has('none') && !leaders.has('0') && (await this.probeWrite(live[0]!))) return;
      if (Date.now() > deadline) throw new Error(`etcd cluster not healthy after ${timeoutMs} ms: ${JSON.stringify(statuses)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  private async probeWrite(m: EtcdMember): Promise<boolean> {
    try {
      const key = Buffer.from('ringfence/health').toString('base64');
      const res = await fetch(`http://${m.clientHost}/v3/kv/put`, {
        method: 'POST',
        body: JSON.stringify({ key, value: key }),
        signal: AbortSignal.timeout(STATUS_TIMEOUT_MS * 3),
      });
      return res.ok;
    } catch {
      return false;
    }
  }

  /** Stops every member (SIGTERM, then SIGKILL) and removes all data. Idempotent. */
  async stop(): Promise<void> {
    // SIGKILL at once: the data is thrown away, and a graceful etcd stop takes seconds.
    await Promise.all(this.members.map((m) => m.proc?.stop(0)));
    rmSync(this.rootDir, { recursive: true, force: true });
    this.forgetCleanup();
  }
}
