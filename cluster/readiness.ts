// What `/readyz` checks for each role (common/admin.ts healthRoutes serves it). The
// decisions are pure functions of statuses, tested without sockets; the probes around
// them read statuses over the shard RPC with a short deadline each, so a probe costs a
// few small reads and no consensus round.
import type { ReadyCheck, ReadyReport } from '../common/admin.js';
import type { ClusterConfig } from '../common/config.js';
import type { RaftStatus } from '../raft/types.js';
import type { ShardClient } from '../shards/client/shard-client.js';
import { readinessAppliedLagEntriesMax, readinessProbeTimeoutMs } from './limits.js';

const ok = (detail: string): ReadyCheck => ({ ok: true, detail });
const missing = (detail: string): ReadyCheck => ({ ok: false, detail });

/** A replica is ready when its storage works, it knows a leader of the current term, and
 * it has applied its log to within `readinessAppliedLagEntriesMax` entries of the
 * leader's commit index (`leaderCommit`: the leader's own status read at probe time; for
 * the leader itself, its own commit). A replica whose shard lost its quorum has no
 * leader: a follower forgets it when its election timer fires (pre-vote), a leader steps
 * down when check-quorum finds it no longer hears from a majority. */
export function replicaReadiness(own: RaftStatus, leaderCommit: number | null): ReadyReport {
  if (own.failed !== null) return { storage: missing(own.failed) };
  if (own.leader === null) return { storage: ok('writable'), leader: missing(`no leader known in term ${own.term} (role ${own.role}); the shard may have lost its quorum`) };
  const leader = ok(own.leader === own.id ? `this replica leads term ${own.term}` : `${own.leader} leads term ${own.term}`);
  if (leaderCommit === null) return { storage: ok('writable'), leader: missing(`leader ${own.leader} does not answer a status read`) };
  const lag = leaderCommit - own.applied;
  const caughtUp = lag <= readinessAppliedLagEntriesMax
    ? ok(`applied ${own.applied}, leader's commit ${leaderCommit}`)
    : missing(`applied ${own.applied} is ${lag} entries behind the leader's commit ${leaderCommit} (at most ${readinessAppliedLagEntriesMax})`);
  return { storage: ok('writable'), leader, caughtUp };
}

/** Probes one replica: its own status, and its leader's commit (read from the leader). */
export async function probeReplica(status: () => RaftStatus, shardId: string, client: ShardClient): Promise<ReadyReport> {
  const own = status();
  if (own.leader === null || own.failed !== null) return replicaReadiness(own, null);
  if (own.leader === own.id) return replicaReadiness(own, own.commit);
  const leaderStatus = await client.replicaStatus(shardId, own.leader, readinessProbeTimeoutMs).then((s) => s as RaftStatus, () => null);
  // A replica that no longer leads answers with its own commit, which says nothing of the
  // leader's: count it as no answer until the next probe finds the new leader.
  return replicaReadiness(own, leaderStatus !== null && leaderStatus.role === 'leader' ? leaderStatus.commit : null);
}

/** A store is ready when its groups' storage works and every group it hosts knows a
 * leader: then every shard it serves can take commands through it (a follower forwards
 * nothing, but its client can reach the leader it names). No per-group catch-up probe:
 * a hundred status reads per probe would cost more than the probe is worth; a group's
 * own lag shows in /v1/shards/:id/status. */
export function storeReadiness(storeId: string, statuses: readonly RaftStatus[]): ReadyReport {
  const failed = statuses.filter((s) => s.failed !== null);
  if (failed.length > 0) return { storage: missing(`${failed.length} of ${statuses.length} groups stopped: ${failed[0]!.failed}`) };
  const leaderless = statuses.filter((s) => s.leader === null);
  const storage = ok('writable');
  if (statuses.length === 0) return { storage, leaders: missing(`store ${storeId} hosts no group`) };
  if (leaderless.length === 0) return { storage, leaders: ok(`all ${statuses.length} groups know a leader; ${statuses.filter((s) => s.role === 'leader').length} lead here`) };
  const named = leaderless.slice(0, 5).map((s) => s.id).join(', ');
  return { storage, leaders: missing(`${leaderless.length} of ${statuses.length} groups know no leader (${named}${leaderless.length > 5 ? ', …' : ''})`) };
}

/** What a SIP node saw of one shard: each replica's status, null where it did not answer. */
export type ShardReach = Readonly<{ shard: string; voters: number; statuses: readonly (RaftStatus | null)[] }>;

/** A shard is reachable from a SIP node when a majority of its voters answer and one of
 * them leads: then commands from this node can commit. */
export function shardReachCheck(r: ShardReach): ReadyCheck {
  const answered = r.statuses.filter((s): s is RaftStatus => s !== null);
  const quorum = Math.floor(r.voters / 2) + 1;
  const leader = answered.find((s) => s.role === 'leader');
  const counted = `${answered.length} of ${r.statuses.length} replicas answer (quorum ${quorum})`;
  if (answered.length < quorum) return missing(counted);
  if (leader === undefined) return missing(`${counted}, but none leads`);
  return ok(`${counted}, ${leader.id} leads`);
}

/** At least one media gateway alive (when the cluster has any). */
export function gatewayCheck(gateways: readonly Readonly<{ id: string; alive: boolean }>[], configured: number): ReadyCheck {
  if (configured === 0) return ok('no media gateways configured: media passes through');
  const alive = gateways.filter((g) => g.alive).map((g) => g.id);
  return alive.length > 0 ? ok(`alive: ${alive.join(', ')}`) : missing(`none of ${configured} gateways answers its ng ping`);
}

/** Probes what a SIP node needs: a quorum with a leader in every shard, a live gateway,
 * and its start-up clean-up done (it routes no call before). */
export async function probeSipNode(o: {
  config: ClusterConfig;
  shards: ShardClient;
  gateways: () => readonly Readonly<{ id: string; alive: boolean }>[];
  reconciled: () => boolean;
}): Promise<ReadyReport> {
  const report: Record<string, ReadyCheck> = {};
  await Promise.all(o.config.shards.map(async (shard) => {
    const statuses = await Promise.all(shard.replicas.map((r) => o.shards.replicaStatus(shard.id, r.id, readinessProbeTimeoutMs).then((s) => s as RaftStatus, () => null)));
    report[`shard ${shard.id}`] = shardReachCheck({ shard: shard.id, voters: shard.replicas.filter((r) => !r.join).length, statuses });
  }));
  report.gateway = gatewayCheck(o.gateways(), o.config.gateways.length);
  report.routing = o.reconciled() ? ok('start-up clean-up done, a lease on every shard') : missing('waiting for the start-up clean-up and a lease on every shard');
  return report;
}

/** Runs `probe` at most once at a time: probes that arrive while one runs share its
 * answer, so a burst of health checks costs one round of status reads. */
export function coalesced<T>(probe: () => Promise<T>): () => Promise<T> {
  let running: Promise<T> | null = null;
  return () => {
    running ??= probe().finally(() => {
      running = null;
    });
    return running;
  };
}
