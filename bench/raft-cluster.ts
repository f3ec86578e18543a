// A Ringfence Raft group of real OS processes on loopback for benches: N replicas of
// bench/raft-replica.ts, each with its own LevelDB dir (fsync on) under one temp dir,
// ports chosen up front so every replica knows its peers from the start.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { NodeId } from '../raft/types.js';
import { freePorts } from '../cluster/local-cluster.js';
import { onExitCleanup, nodeTsCommand, spawnProcess, type ManagedProcess } from './procs.js';
import type { ReplicaAddress } from './raft-client.js';

const REPLICA_FILE = join(dirname(fileURLToPath(import.meta.url)), 'raft-replica.ts');
const READY_TIMEOUT_MS = 30_000;

export type BenchReplica = {
  readonly id: NodeId;
  readonly raftPort: number;
  readonly clientPort: number;
  readonly dir: string;
  proc: ManagedProcess | null;
};

export type RaftBenchClusterOptions = Readonly<{
  size?: number;
  tickMs?: number;
  /** Raft timing; the group's defaults when omitted. */
  heartbeatMs?: number;
  electionMs?: number;
  /** Applied entries between snapshots; the group's default when omitted. */
  snapshotEveryEntries?: number;
  /** Extra node flags per replica, e.g. ['--cpu-prof', '--cpu-prof-dir=/tmp/x']. */
  nodeFlags?: readonly string[];
}>;

export class RaftBenchCluster {
  readonly replicas: readonly BenchReplica[];
  private readonly rootDir: string;
  private readonly opts: RaftBenchClusterOptions;
  /** Role-change events printed by all replicas so far (elections show up here). */
  roleEvents = 0;
  /** Distinct (term-less) leader ids announced so far, in order of announcement. */
  readonly leadersSeen: string[] = [];
  /** Apply pauses of ≥ 200 ms under load reported by any replica (see raft-replica.ts). */
  readonly stalls: Array<{ id: string; gapMs: number; appliedIndex: number }> = [];

  private readonly forgetCleanup: () => void;

  private constructor(rootDir: string, replicas: BenchReplica[], opts: RaftBenchClusterOptions) {
    this.rootDir = rootDir;
    this.forgetCleanup = onExitCleanup(() => rmSync(rootDir, { recursive: true, force: true, maxRetries: 5 }));
    this.replicas = replicas;
    this.opts = opts;
  }

  static async start(opts: RaftBenchClusterOptions = {}): Promise<RaftBenchCluster> {
    const size = opts.size ?? 3;
    const rootDir = mkdtempSync(join(tmpdir(), 'ringfence-raft-bench-'));
    const ports = await freePorts(size * 2);
    const replicas: BenchReplica[] = Array.from({ length: size }, (_, i) => ({
      id: `n${i + 1}`,
      raftPort: ports[2 * i]!,
      clientPort: ports[2 * i + 1]!,
      dir: join(rootDir, `n${i + 1}`),
      proc: null,
    }));
    const cluster = new RaftBenchCluster(rootDir, replicas, opts);
    try {
      await Promise.all(replicas.map((r) => cluster.startReplica(r)));
      return cluster;
    } catch (err) {
      await cluster.stop();
      throw err;
    }
  }

  /** Client RPC addresses by replica id. */
  get clientAddresses(): Record<NodeId, ReplicaAddress> {
    return Object.fromEntries(this.replicas.map((r) => [r.id, { host: '127.0.0.1', port: r.clientPort }]));
  }

  get pids(): number[] {
    return this.replicas.flatMap((r) => (r.proc && !r.proc.exited ? [r.proc.pid] : []));
  }

  /** Starts (or restarts on its data dir) one replica; resolves on its ready line. */
  async startReplica(r: BenchReplica): Promise<void> {
    if (r.proc && !r.proc.exited) return;
    const peers = this.replicas.map((p) => `${p.id}=127.0.0.1:${p.raftPort}`).join(',');
    const cmd = nodeTsCommand(
      REPLICA_FILE,
      [
        ...['--id', r.id, '--dir', r.dir, '--raft-port', String(r.raftPort), '--client-port', String(r.clientPort)],
        ...['--peers', peers, '--tick-ms', String(this.opts.tickMs ?? 10)],
        ...(this.opts.heartbeatMs !== undefined ? ['--heartbeat-ms', String(this.opts.heartbeatMs)] : []),
        ...(this.opts.electionMs !== undefined ? ['--election-ms', String(this.opts.electionMs)] : []),
        ...(this.opts.snapshotEveryEntries !== undefined ? ['--snapshot-every', String(this.opts.snapshotEveryEntries)] : []),
      ],
      this.opts.nodeFlags ?? [],
    );
    const { proc } = await spawnProcess({
      name: `replica ${r.id}`,
      command: cmd.command,
      args: cmd.args,
      isReady: (line) => line.startsWith('{"event":"ready"'),
      readyTimeoutMs: READY_TIMEOUT_MS,
      onStdoutLine: (line) => this.noteEvent(line),
    });
    r.proc = proc;
  }

  private noteEvent(line: string): void {
    if (line.startsWith('{"event":"stall"')) {
      this.stalls.push(JSON.parse(line) as { id: string; gapMs: number; appliedIndex: number });
      return;
    }
    if (!line.startsWith('{"event":"role"')) return;
    this.roleEvents++;
    const leader = (JSON.parse(line) as { leader: string | null }).leader;
    if (leader !== null && this.leadersSeen[this.leadersSeen.length - 1] !== leader) this.leadersSeen.push(leader);
  }

  async killReplica(r: BenchReplica, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (!r.proc || r.proc.exited) return;
    r.proc.kill(signal);
    await r.proc.waitExit();
  }

  /** SIGTERM (replicas close cleanly, so CPU profiles get written), SIGKILL after a grace
   * period, then removes all data. Idempotent. */
  async stop(): Promise<void> {
    await Promise.all(this.replicas.map((r) => r.proc?.stop(5_000)));
    rmSync(this.rootDir, { recursive: true, force: true });
    this.forgetCleanup();
  }
}
