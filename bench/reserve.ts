// `npm run bench -- reserve [--json] [--seconds S] [--agents N] [--levels 1,16,64,256]`
// Reservation cycles (reserve → confirm → release) against 2 shards × 3 replicas as real
// processes with fsync on, at several closed-loop concurrencies; beside it, when etcd is
// installed, the same reservation workload against a 3-member etcd as compare-and-swap
// transactions (ANCHORS.md): reserve, confirm and release are three transactions there as
// they are three commands here (ANCHORS.md's etcd figures were reserve → release only). The two targets alternate level by level so both see the
// same machine noise. Reports reservations/s and grant latency (the reserve call).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { ProcessSet, writeLocalClusterConfig } from '../cluster/local-cluster.js';
import { ShardClient } from '../shards/client/shard-client.js';
import type { BenchArgs, BenchReport } from './bench-args.js';
import { runClosedLoop, type OpOutcome } from './closed-loop.js';
import { EtcdCluster, etcdBinary } from './etcd-cluster.js';
import { createEtcdClient, runEtcdReservationLoad, seedAgents } from './etcd-workloads.js';
import { onExitCleanup } from './procs.js';
import { round, summarizeLatencies } from './stats.js';

type Row = { target: 'ringfence' | 'etcd'; concurrency: number; opsPerSec: number; p50Ms: number; p99Ms: number; denied: number; unknown: number };

export async function runBench(args: BenchArgs): Promise<BenchReport> {
  const seconds = args.seconds ?? 10;
  const agents = Number(args.flags.get('agents') ?? 2000);
  const levels = (args.flags.get('levels') ?? '1,16,64,256').split(',').map(Number);
  const withEtcd = etcdBinary() !== null && args.flags.get('etcd') !== 'false';
  const dir = mkdtempSync(join(tmpdir(), 'ringfence-bench-reserve-'));
  const { path, config } = await writeLocalClusterConfig({ dir, shards: 2, raft: { snapshotEveryEntries: 200_000 } });
  // --profile DIR: every replica writes a V8 CPU profile there when it stops.
  const profileDir = args.flags.get('profile');
  const procs = new ProcessSet(path, { logFile: join(dir, 'cluster.log'), ...(profileDir ? { nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] } : {}) });
  const cleanup = onExitCleanup(() => procs.killAllNow());
  let etcd: EtcdCluster | null = null;
  const rows: Row[] = [];
  try {
    args.log(`reserve: starting 2 shards × 3 replicas (fsync on) in ${dir}`);
    await Promise.all(config.shards.flatMap((s) => s.replicas.map((r) => procs.start('shard', r.id, [], 120_000))));
    const client = new ShardClient({ shards: config.shards, auth: { secret: config.secret, principal: 'launcher' }, deadlineMs: 10_000, attemptTimeoutMs: 2000 });
    await provision(client, agents);
    args.log(`reserve: ${agents} agents provisioned and READY`);
    if (withEtcd) {
      etcd = await EtcdCluster.start({ timing: 'default' });
      const seedClient = createEtcdClient(etcd.clientHosts);
      await seedAgents(seedClient, agents);
      seedClient.close();
      args.log(`reserve: 3-member etcd up, ${agents} agent keys seeded`);
    } else {
      args.log('reserve: etcd not installed (apt-get install -y etcd-server) — measuring Ringfence alone');
    }
    for (const c of levels) {
      rows.push(await ringfenceLevel(client, agents, c, seconds));
      args.log(line(rows[rows.length - 1]!));
      if (etcd) {
        const ec = createEtcdClient(etcd.clientHosts);
        const r = await runEtcdReservationLoad(ec, { concurrency: c, durationMs: seconds * 1000, agents, confirm: true });
        ec.close();
        const lat = summarizeLatencies(r.reserveLatenciesMs);
        rows.push({ target: 'etcd', concurrency: c, opsPerSec: round(r.granted / (r.elapsedMs / 1000), 1), p50Ms: round(lat.p50Ms), p99Ms: round(lat.p99Ms), denied: r.denied, unknown: r.unknown });
        args.log(line(rows[rows.length - 1]!));
      }
    }
    client.close();
  } finally {
    await etcd?.stop();
    await procs.stopAll(2000);
    cleanup();
    rmSync(dir, { recursive: true, force: true });
  }
  return { bench: 'reserve', results: rows.map(({ target, concurrency, opsPerSec, p50Ms, p99Ms }) => ({ target, concurrency, opsPerSec, p50Ms, p99Ms })) };
}

function line(r: Row): string {
  return `  ${r.target.padEnd(9)} c=${String(r.concurrency).padStart(3)}  ${String(r.opsPerSec).padStart(8)} reservations/s  grant p50 ${r.p50Ms} ms  p99 ${r.p99Ms} ms  (denied ${r.denied}, unknown ${r.unknown})`;
}

async function provision(client: ShardClient, agents: number): Promise<void> {
  const dns = Array.from({ length: agents }, (_, i) => String(100000 + i));
  let next = 0;
  await Promise.all(Array.from({ length: 64 }, async () => {
    while (next < dns.length) {
      const dn = dns[next++]!;
      for (const command of [
        { type: 'provision', dn, name: `bench ${dn}`, skills: { support: 50 }, wrapUpMs: 0, maxNoAnswer: 0, credentials: null },
        { type: 'login', dn },
        { type: 'ready', dn },
      ] as const) {
        const r = await client.command(dn, command);
        if (!r.ok) throw new Error(`provisioning ${dn}: ${r.code} ${r.reason}`);
      }
    }
  }));
}

/** One closed-loop level: each worker reserves a random agent; on a grant it confirms and
 * releases it (the call "ends" at once), then starts over. */
async function ringfenceLevel(client: ShardClient, agents: number, concurrency: number, seconds: number): Promise<Row> {
  let denied = 0;
  let seq = 0;
  const grantLatencies: number[] = [];
  const res = await runClosedLoop({
    concurrency,
    durationMs: seconds * 1000,
    errorPauseMs: 10,
    op: async (w): Promise<OpOutcome> => {
      const dn = String(100000 + Math.floor(Math.random() * agents));
      const reservationId = `b${process.pid}-${w}-${seq++}`;
      const t0 = performance.now();
      const r = await client.command(dn, { type: 'reserve', dn, reservationId, callId: reservationId, owner: 'bench', ttlMs: 30_000 });
      if (!r.ok) {
        denied++;
        return 'fail';
      }
      const grantMs = performance.now() - t0;
      await client.command(dn, { type: 'confirm', dn, reservationId });
      await client.command(dn, { type: 'release', dn, reservationId, outcome: 'completed' });
      // The closed loop measures the whole cycle; the grant latency is what callers wait for.
      grantLatencies.push(grantMs);
      return 'ok';
    },
  });
  const lat = summarizeLatencies(grantLatencies);
  return { target: 'ringfence', concurrency, opsPerSec: round(res.okCount / (res.elapsedMs / 1000), 1), p50Ms: round(lat.p50Ms), p99Ms: round(lat.p99Ms), denied, unknown: res.errorCount };
}
