// The Ringfence half of `bench failover`: one shard of 3 replicas as real processes (fsync
// on), steady reservation load at concurrency 16, then `rounds` times: SIGKILL the current
// leader by pid, time kill → first committed write acknowledged by a survivor, restart the
// killed replica, wait until it has caught up and the load flows again. Each round also
// reads the replicas' role logs to split the gap into failure detection, election, and
// the rest (client noticing the new leader + first commit).

import { closeSync, mkdtempSync, openSync, readSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ClusterConfig } from '../common/config.js';
import { ProcessSet, writeLocalClusterConfig } from '../cluster/local-cluster.js';
import { ShardClient } from '../shards/client/shard-client.js';
import type { RaftStatus } from '../raft/types.js';
import { failoverPhases, type FailoverPhases } from './failover-timeline.js';
import { watchSurvivors, type SurvivorWatch } from './failover-watch.js';
import { provisionReadyAgents, runReservationLoad, type ReservationLoadResult } from './failover-load.js';
import { onExitCleanup } from './procs.js';

const REPLICA_START_TIMEOUT_MS = 120_000;
const START_ATTEMPTS_MAX = 3;
const CATCH_UP_TIMEOUT_MS = 60_000;
const LEADER_WAIT_TIMEOUT_MS = 30_000;
const STATUS_TIMEOUT_MS = 500;
const POLL_MS = 50;
/** The load counts as flowing when some write was acknowledged this recently. */
const FLOWING_WITHIN_MS = 200;

export type RingfenceFailoverOptions = Readonly<{
  rounds: number;
  concurrency: number;
  agents: number;
  /** One attempt against one replica (the ShardClient's attemptTimeoutMs). */
  attemptTimeoutMs: number;
  retryPauseMs: number;
  /** Overall deadline of one call before its outcome counts as unknown. */
  callDeadlineMs: number;
  /** Steady load before each kill. */
  steadyMs: number;
  /** A round with no write this long after the kill records NaN. */
  roundTimeoutMs: number;
  /** Overrides of the cluster file's raft section. */
  raft?: Partial<ClusterConfig['raft']>;
  /** Keep the cluster directory (cluster file, replica logs) instead of removing it. */
  keepDir?: boolean;
  log: (line: string) => void;
}>;

export type RingfenceRound = Readonly<{ killed: string; gapMs: number } & FailoverPhases & SurvivorWatch>;

export type RingfenceFailoverResult = Readonly<{ rounds: readonly RingfenceRound[]; load: ReservationLoadResult; raft: ClusterConfig['raft'] }>;

/** A fresh cluster directory and file with free ports, all replicas started. Ports are
 * picked free and released before the replicas bind them, so another process on this
 * busy machine can take one in between (EADDRINUSE): then it starts over on new ports. */
async function startCluster(opts: RingfenceFailoverOptions): Promise<{ dir: string; logFile: string; config: ClusterConfig; procs: ProcessSet; forgetCleanup: () => void }> {
  for (let attempt = 1; ; attempt++) {
    const dir = mkdtempSync(join(tmpdir(), 'ringfence-bench-failover-'));
    const { path, config } = await writeLocalClusterConfig({ dir, shards: 1, raft: opts.raft });
    const logFile = join(dir, 'cluster.log');
    const procs = new ProcessSet(path, { logFile });
    const forgetCleanup = onExitCleanup(() => procs.killAllNow());
    try {
      await Promise.all(config.shards[0]!.replicas.map((r) => procs.start('shard', r.id, [], REPLICA_START_TIMEOUT_MS)));
      return { dir, logFile, config, procs, forgetCleanup };
    } catch (err) {
      await procs.stopAll(1000);
      forgetCleanup();
      rmSync(dir, { recursive: true, force: true, maxRetries: 5 });
      if (attempt >= START_ATTEMPTS_MAX) throw err;
      opts.log(`failover: cluster start failed (${(err as Error).message}); again on new ports`);
    }
  }
}

/** Restarts a killed replica on its own ports; if another process took one meanwhile
 * (EADDRINUSE), waits and tries again. */
async function restartReplica(procs: ProcessSet, id: string, log: (line: string) => void): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await procs.start('shard', id, [], REPLICA_START_TIMEOUT_MS);
      return;
    } catch (err) {
      if (attempt >= START_ATTEMPTS_MAX) throw err;
      log(`    restarting ${id} failed (${(err as Error).message}); trying again`);
      await sleep(1000);
    }
  }
}

export async function measureRingfenceFailover(opts: RingfenceFailoverOptions): Promise<RingfenceFailoverResult> {
  const { dir, logFile, config, procs, forgetCleanup } = await startCluster(opts);
  const shard = config.shards[0]!;
  const client = new ShardClient({ shards: config.shards, auth: { secret: config.secret, principal: 'launcher' }, attemptTimeoutMs: opts.attemptTimeoutMs, deadlineMs: opts.callDeadlineMs });
  const rounds: RingfenceRound[] = [];
  let stop = false;
  let load: Promise<ReservationLoadResult> | null = null;
  try {
    const pids = shard.replicas.map((r) => procs.pid(r.id));
    opts.log(`failover: ringfence shard ${shard.id} up, 3 replicas (fsync on; pids ${pids.join(', ')}); raft ${JSON.stringify(config.raft)}`);
    const first = await findLeader(client, shard.id, shard.replicas.map((r) => r.id));
    opts.log(`failover: ${first.id} leads (term ${first.term}); provisioning`);
    await provisionReadyAgents(client, opts.agents);
    opts.log(`failover: ${opts.agents} agents provisioned and READY`);

    let killedAt: number | null = null;
    let killed: string | null = null;
    let firstOkAt: number | null = null;
    let lastOkAt = 0;
    load = runReservationLoad({
      client,
      shardId: shard.id,
      agents: opts.agents,
      concurrency: opts.concurrency,
      durationMs: (opts.steadyMs + opts.roundTimeoutMs + REPLICA_START_TIMEOUT_MS + CATCH_UP_TIMEOUT_MS) * (opts.rounds + 1),
      callDeadlineMs: opts.callDeadlineMs,
      retryPauseMs: opts.retryPauseMs,
      shouldStop: () => stop,
      onWriteOk: (at, replica) => {
        lastOkAt = at;
        // An answer the killed leader wrote just before it died can still be read after
        // the kill: only a survivor's answer proves the new leader committed.
        if (killedAt !== null && firstOkAt === null && at >= killedAt && replica !== killed) firstOkAt = at;
      },
    });

    for (let round = 0; round < opts.rounds; round++) {
      await sleep(opts.steadyMs);
      await waitFor(() => performance.now() - lastOkAt < FLOWING_WITHIN_MS, LEADER_WAIT_TIMEOUT_MS, 'the load to flow');
      const leader = await findLeader(client, shard.id, shard.replicas.map((r) => r.id).filter((id) => procs.isRunning(id)));
      const logOffset = statSync(logFile).size;
      firstOkAt = null;
      killed = leader.id;
      const killWallMs = Date.now();
      killedAt = performance.now();
      await procs.kill(leader.id, 'SIGKILL');
      const t0 = killedAt;
      const roundOver = (): boolean => firstOkAt !== null || performance.now() - t0 >= opts.roundTimeoutMs;
      const survivors = shard.replicas.map((r) => r.id).filter((id) => id !== leader.id);
      const watching = watchSurvivors(client, shard.id, survivors, leader.term, t0, roundOver);
      while (!roundOver()) await sleep(2);
      const watch = await watching;
      const gapMs = firstOkAt === null ? Number.NaN : firstOkAt - killedAt;
      killedAt = null;
      // Give late role lines a moment to reach the log before reading it.
      await sleep(100);
      const phases = failoverPhases(readFrom(logFile, logOffset), killWallMs, leader.id);
      rounds.push({ killed: leader.id, gapMs, ...phases, ...watch });
      opts.log(roundLine(round + 1, opts.rounds, leader, rounds[rounds.length - 1]!));

      const restartedAt = performance.now();
      await restartReplica(procs, leader.id, opts.log);
      await waitCaughtUp(client, shard.id, leader.id, shard.replicas.map((r) => r.id).filter((id) => id !== leader.id));
      opts.log(`    ${leader.id} restarted (pid ${procs.pid(leader.id)}) and caught up in ${(performance.now() - restartedAt).toFixed(0)} ms`);
    }
    stop = true;
    const loadResult = await load;
    return { rounds, load: loadResult, raft: config.raft };
  } finally {
    stop = true;
    await load?.catch(() => undefined);
    client.close();
    await procs.stopAll(1000);
    forgetCleanup();
    if (opts.keepDir) opts.log(`failover: cluster directory and replica logs kept in ${dir}`);
    else rmSync(dir, { recursive: true, force: true, maxRetries: 5 });
  }
}

function roundLine(n: number, of: number, leader: { id: string; term: number }, r: RingfenceRound): string {
  const ms = (x: number | null): string => (x === null || !Number.isFinite(x) ? '?' : x.toFixed(0));
  return (
    `  ringfence kill ${n}/${of}: leader ${leader.id} (term ${leader.term}) SIGKILLed → first commit after ${ms(r.gapMs)} ms` +
    ` [logs: campaign +${ms(r.campaignMs)}, leader ${r.newLeader ?? '?'} term ${r.term ?? '?'} +${ms(r.leaderMs)}, elections ${r.elections}, pre-votes ${r.preVotes};` +
    ` polled: leader seen +${ms(r.leaderSeenMs)}, its no-op committed +${ms(r.leaderCommitSeenMs)}]`
  );
}

async function status(client: ShardClient, shardId: string, replicaId: string): Promise<RaftStatus | null> {
  try {
    return (await client.replicaStatus(shardId, replicaId, STATUS_TIMEOUT_MS)) as RaftStatus;
  } catch {
    return null;
  }
}

/** The replica that says it leads, in the highest term any running replica reports. */
async function findLeader(client: ShardClient, shardId: string, running: readonly string[]): Promise<{ id: string; term: number }> {
  const deadline = performance.now() + LEADER_WAIT_TIMEOUT_MS;
  for (;;) {
    const all = await Promise.all(running.map((id) => status(client, shardId, id)));
    const maxTerm = Math.max(...all.map((s) => s?.term ?? 0));
    const leader = all.find((s) => s?.role === 'leader' && s.term === maxTerm);
    if (leader) return { id: leader.id, term: leader.term };
    if (performance.now() > deadline) throw new Error(`no leader of ${shardId} within ${LEADER_WAIT_TIMEOUT_MS} ms`);
    await sleep(POLL_MS);
  }
}

/** Waits until the restarted replica has applied everything the leader had committed
 * when it was first asked (it then follows the steady stream). */
async function waitCaughtUp(client: ShardClient, shardId: string, replicaId: string, survivors: readonly string[]): Promise<void> {
  const leader = await findLeader(client, shardId, survivors);
  const target = (await status(client, shardId, leader.id))?.commit ?? 0;
  await waitFor(async () => ((await status(client, shardId, replicaId))?.applied ?? -1) >= target, CATCH_UP_TIMEOUT_MS, `${replicaId} to catch up to index ${target}`);
}

async function waitFor(cond: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!(await cond())) {
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(POLL_MS);
  }
}

function readFrom(file: string, offset: number): string {
  const size = statSync(file).size;
  if (size <= offset) return '';
  const buf = Buffer.alloc(size - offset);
  const fd = openSync(file, 'r');
  try {
    readSync(fd, buf, 0, buf.length, offset);
  } finally {
    closeSync(fd);
  }
  return buf.toString('utf8');
}
