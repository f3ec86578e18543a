// Executes the nemesis plan against the live cluster: SIGKILLs by pid, then restarts the
// victim after its planned down time. Safety of the run's liveness claims rests on one
// rule: a shard is only hit when all its replicas are running and ready, so at most one of
// its three replicas is ever down (a minority; the shard keeps a quorum and keeps serving).
// Likewise at most one SIP node is down at a time. Two opt-in steps: 'sip-gone' SIGKILLs a
// SIP node and never restarts it (it stays "down" for good, so no later step hits the
// other one), and 'evict-sessions' floods a shard with session opens (session-evict.ts),
// in the background, killing nothing. A step whose target is not safe to hit
// is re-aimed at the next eligible target in a fixed order, or skipped. When replicas are
// co-hosted (one process hosts a replica of every shard) the victim is the process hosting
// the chosen replica, and every shard it hosts must be whole before it is hit.
import { setTimeout as sleep } from 'node:timers/promises';
import type { ClusterConfig } from '../../common/config.js';
import type { ShardClient } from '../../shards/client/shard-client.js';
import type { RaftStatus } from '../../raft/types.js';
import { isPartitionFault, type FaultKind, type PartitionFault, type PlannedFault } from './nemesis-plan.js';
import { bridgePartition, dropOneWay, isolateHost, type Partition } from '../../cluster/netns-partitions.js';
import type { NetnsLab } from '../../cluster/netns.js';
import type { ProcessSet } from '../../cluster/local-cluster.js';
import type { Timeline } from './timeline.js';
import { evictSessions } from './session-evict.js';

export type NemesisSpec = Readonly<{
  config: ClusterConfig;
  procs: ProcessSet;
  client: ShardClient;
  timeline: Timeline;
  plan: readonly PlannedFault[];
  /** Extra flags to restart a process with (SIP node timers, a gateway's address). */
  restartFlags: (role: 'sip' | 'gateway' | 'shard' | 'store', id: string) => readonly string[];
  /** The role of the processes hosting replicas: 'shard' (default) or 'store'. */
  shardRole?: 'shard' | 'store';
  /** Hosts in network namespaces: partition steps cut them (netns-partitions.ts). */
  lab?: NetnsLab;
  sipNodeIds: readonly string[];
  gatewayIds: readonly string[];
  /** The ProcessSet id of the process hosting a replica (itself, unless co-hosted). */
  hostOf?: (replicaId: string) => string;
  stopped: () => boolean;
  onLog?: (line: string) => void;
}>;

export type NemesisResult = Readonly<{ kills: number; skipped: number; restartsFailed: number; gone: readonly string[]; evictions: number; partitions: number }>;

/** The replica that leads `shardId` now, asking every live replica (highest term wins). */
export async function findLeader(spec: Pick<NemesisSpec, 'config' | 'procs' | 'client' | 'hostOf'>, shardId: string, timeoutMs = 2000): Promise<RaftStatus | null> {
  const shard = spec.config.shards.find((s) => s.id === shardId)!;
  const hostOf = spec.hostOf ?? ((id: string) => id);
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const leader = await spec.client.leaderStatus(shardId, shard.replicas.map((r) => r.id).filter((id) => spec.procs.isRunning(hostOf(id))), 500);
    if (leader) return leader;
    await sleep(50);
  }
  return null;
}

type Target = { id: string; role: 'shard' | 'store' | 'sip' | 'gateway'; shard: string | null; wasLeader: boolean; fault: FaultKind };

/** The partition a step makes: hosts chosen by its picks among the lab's hosts. */
export function makePartition(lab: NetnsLab, kind: PartitionFault, pick: number, otherPick: number): Partition {
  const hosts = lab.hosts.map((h) => h.name);
  const a = hosts[pick % hosts.length]!;
  const rest = hosts.filter((h) => h !== a);
  const b = rest[otherPick % rest.length]!;
  if (kind === 'partition-isolate') return isolateHost(lab, a);
  if (kind === 'partition-one-way') return dropOneWay(lab, a, b);
  return bridgePartition(lab, a, b);
}

export async function runNemesis(spec: NemesisSpec): Promise<NemesisResult> {
  const { timeline, procs, config } = spec;
  const down = new Set<string>();
  const restarts: Promise<void>[] = [];
  let kills = 0;
  let skipped = 0;
  let restartsFailed = 0;
  const log = spec.onLog ?? (() => {});
  const hostOf = spec.hostOf ?? ((id: string) => id);

  const shardRole = spec.shardRole ?? 'shard';
  // While hosts are cut from each other, every shard with a replica on each side has lost
  // one already (a minority): no replica of any shard is killed until the partition heals.
  let partitioned: Partition | null = null;
  let partitions = 0;
  const shardHealthy = (shardId: string): boolean => {
    const shard = config.shards.find((s) => s.id === shardId)!;
    return partitioned === null && shard.replicas.every((r) => !down.has(hostOf(r.id)) && procs.isRunning(hostOf(r.id)));
  };
  /** Killing the process that hosts `replicaId` takes one replica of each shard it hosts:
   * safe only when each of those shards has every replica up. */
  const hostSafe = (replicaId: string): boolean => {
    const host = hostOf(replicaId);
    return config.shards.filter((s) => s.replicas.some((r) => hostOf(r.id) === host)).every((s) => shardHealthy(s.id));
  };
  const rotate = <T>(items: readonly T[], pick: number): T[] => items.map((_, i) => items[(pick + i) % items.length]!);

  const shardTarget = async (f: PlannedFault, kind: 'shard-leader' | 'shard-replica'): Promise<Target | null> => {
    for (const shard of rotate(config.shards, f.pick)) {
      if (!shardHealthy(shard.id)) continue;
      if (kind === 'shard-leader') {
        const leader = await findLeader(spec, shard.id);
        if (leader !== null && hostSafe(leader.id)) return { id: hostOf(leader.id), role: shardRole, shard: shard.id, wasLeader: true, fault: kind };
      }
      const replica = shard.replicas[f.replicaPick % shard.replicas.length]!;
      const leader = await findLeader(spec, shard.id, 500);
      if (hostSafe(replica.id)) return { id: hostOf(replica.id), role: shardRole, shard: shard.id, wasLeader: leader?.id === replica.id, fault: kind === 'shard-leader' ? 'shard-replica' : kind };
    }
    return null;
  };
  const nodeTarget = (f: PlannedFault, role: 'sip' | 'gateway', ids: readonly string[]): Target | null => {
    // At most one node of the role down at once: with two SIP nodes the other carries calls.
    if (ids.length === 0 || ids.some((id) => down.has(id))) return null;
    const id = rotate(ids, f.pick)[0]!;
    return procs.isRunning(id) ? { id, role, shard: null, wasLeader: false, fault: role } : null;
  };
  const gone: string[] = [];
  const evictions: Promise<void>[] = [];
  const evict = async (f: PlannedFault): Promise<void> => {
    const shard = rotate(config.shards, f.pick)[0]!;
    const leader = await findLeader(spec, shard.id, 1000);
    const r = await evictSessions(config, shard.id, leader?.id ?? null, 30_000);
    timeline.add({ kind: 'evict', atMs: timeline.sinceStartMs(), step: f.step, shard: shard.id, opened: r.opened, failed: r.failed, tookMs: r.tookMs });
    log(`step ${f.step}: opened ${r.opened} sessions on ${shard.id} in ${r.tookMs} ms (${r.failed} failed): its older client sessions are evicted`);
  };
  const resolve = async (f: PlannedFault): Promise<Target | null> => {
    if (f.kind === 'sip-gone') {
      const t = nodeTarget(f, 'sip', spec.sipNodeIds);
      return t && { ...t, fault: 'sip-gone' };
    }
    const kinds = ['shard-leader', 'shard-replica', 'sip', 'gateway'] as const;
    const order = [...kinds.filter((k) => k === f.kind), ...kinds.filter((k) => k !== f.kind)];
    for (const kind of order) {
      const t = kind === 'sip' ? nodeTarget(f, 'sip', spec.sipNodeIds)
        : kind === 'gateway' ? nodeTarget(f, 'gateway', spec.gatewayIds)
        : await shardTarget(f, kind);
      if (t) return t;
    }
    return null;
  };

  const restart = async (t: Target, downMs: number): Promise<void> => {
    await sleep(downMs);
    const began = Date.now();
    for (let attempt = 1; attempt <= 3; attempt++) {
      try {
        await procs.start(t.role, t.id, spec.restartFlags(t.role, t.id), 120_000);
        timeline.add({ kind: 'restart', atMs: timeline.sinceStartMs(), target: t.id, role: t.role, tookMs: Date.now() - began });
        log(`restarted ${t.id} in ${Date.now() - began} ms`);
        down.delete(t.id);
        return;
      } catch (err) {
        timeline.add({ kind: 'restart-failed', atMs: timeline.sinceStartMs(), target: t.id, error: (err as Error).message });
        log(`restart of ${t.id} failed (attempt ${attempt}): ${(err as Error).message}`);
        await procs.kill(t.id);
      }
    }
    restartsFailed++;
    down.delete(t.id);
  };

  const heals: Promise<void>[] = [];
  /** A partition is made only when every shard has all its replicas up and no other
   * partition holds, so at most one replica of a shard is ever cut off or down. */
  const partitionSafe = (): boolean => partitioned === null && down.size === 0 && config.shards.every((s) => shardHealthy(s.id));
  const partitionStep = async (f: PlannedFault & { kind: PartitionFault }, nextAtMs: number): Promise<void> => {
    while (!partitionSafe() && Date.now() < nextAtMs && !spec.stopped()) await sleep(250);
    if (spec.stopped()) return;
    if (!partitionSafe()) {
      skipped++;
      timeline.add({ kind: 'skip', atMs: timeline.sinceStartMs(), step: f.step, fault: f.kind, why: 'a process is down or another partition holds' });
      return;
    }
    const p = makePartition(spec.lab!, f.kind, f.pick, f.replicaPick);
    partitioned = p;
    partitions++;
    timeline.add({ kind: 'partition', atMs: timeline.sinceStartMs(), step: f.step, fault: f.kind, description: p.description, hosts: [...new Set(p.drops.flatMap((d) => [d.at, d.from]))], downMs: f.downMs });
    log(`step ${f.step}: partition: ${p.description}, for ${f.downMs} ms`);
    heals.push(sleep(f.downMs).then(() => {
      p.heal();
      partitioned = null;
      timeline.add({ kind: 'heal', atMs: timeline.sinceStartMs(), step: f.step, description: p.description });
      log(`step ${f.step}: healed: ${p.description}`);
    }));
  };

  for (const [i, f] of spec.plan.entries()) {
    const waitMs = timeline.startMs + f.atMs - Date.now();
    if (waitMs > 0) await sleep(waitMs);
    if (spec.stopped()) break;
    if (isPartitionFault(f.kind)) {
      if (spec.lab === undefined) throw new Error(`step ${f.step}: a ${f.kind} needs hosts in network namespaces (--hosts)`);
      await partitionStep(f as PlannedFault & { kind: PartitionFault }, timeline.startMs + (spec.plan[i + 1]?.atMs ?? Infinity));
      continue;
    }
    if (f.kind === 'evict-sessions') {
      evictions.push(evict(f).catch((err: Error) => log(`step ${f.step}: session eviction failed: ${err.message}`)));
      continue;
    }
    // Restarts are slow on a loaded machine: when every candidate is still down or
    // restarting, wait for one to come back rather than drop the step, until the next
    // step is due (the schedule is absolute, so a late step does not push the others).
    // A node to lose for good waits for the other to be back, however long that takes.
    const nextAtMs = f.kind === 'sip-gone' ? Infinity : timeline.startMs + (spec.plan[i + 1]?.atMs ?? Infinity);
    // A shard step during a partition waits for the heal (until the next step is due)
    // rather than turning at once into a SIP or gateway kill: runs keep their mix of kills.
    if (f.kind === 'shard-leader' || f.kind === 'shard-replica') {
      while (partitioned !== null && Date.now() < nextAtMs - 250 && !spec.stopped()) await sleep(100);
    }
    let t = await resolve(f);
    while (t === null && Date.now() < nextAtMs && !spec.stopped()) {
      await sleep(250);
      t = await resolve(f);
    }
    if (spec.stopped()) break;
    if (t === null) {
      skipped++;
      timeline.add({ kind: 'skip', atMs: timeline.sinceStartMs(), step: f.step, fault: f.kind, why: 'no target safe to kill (every candidate is down or restarting)' });
      continue;
    }
    down.add(t.id);
    const pid = procs.pid(t.id);
    await procs.kill(t.id);
    kills++;
    timeline.add({ kind: 'kill', atMs: timeline.sinceStartMs(), step: f.step, fault: t.fault, target: t.id, role: t.role, shard: t.shard, wasLeader: t.wasLeader, downMs: f.downMs });
    if (t.fault === 'sip-gone') {
      // Never restarted: it stays in `down`, so no later step kills the other SIP node.
      gone.push(t.id);
      log(`step ${f.step}: SIGKILL ${t.id} (pid ${pid}) for good: it is never restarted`);
      continue;
    }
    log(`step ${f.step}: SIGKILL ${t.id} (pid ${pid}, ${t.fault}${t.wasLeader ? ', leader' : ''}), down ${f.downMs} ms`);
    restarts.push(restart(t, f.downMs));
  }
  await Promise.all([...restarts, ...evictions, ...heals]);
  return { kills, skipped, restartsFailed, gone, evictions: evictions.length, partitions };
}
