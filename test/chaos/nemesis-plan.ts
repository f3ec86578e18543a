// The nemesis's plan as plain data, computed from the seed alone: when each fault happens,
// what kind of process it aims at, which one (an index resolved against the cluster when
// the step runs) and how long the victim stays down before its restart. The executor
// (nemesis.ts) may have to re-aim a step when its target is not safe to kill at that
// moment (a shard already missing a replica); the plan itself never depends on timing.
import type { Prng } from './prng.js';

export type PartitionFault = 'partition-isolate' | 'partition-one-way' | 'partition-bridge';
export type FaultKind = 'shard-leader' | 'shard-replica' | 'gateway' | 'sip' | 'sip-gone' | 'evict-sessions' | PartitionFault;

export const partitionFaults: readonly PartitionFault[] = ['partition-isolate', 'partition-one-way', 'partition-bridge'];
export const isPartitionFault = (k: FaultKind): k is PartitionFault => (partitionFaults as readonly string[]).includes(k);

export type PlannedFault = Readonly<{
  step: number;
  /** Offset from the start of the load. */
  atMs: number;
  kind: FaultKind;
  /** Chooses the shard (shard faults), node (sip, gateway) or first host (partitions)
   * modulo how many there are. */
  pick: number;
  /** Chooses the replica for shard-replica faults, modulo the replicas; for a partition,
   * the other host among the rest. */
  replicaPick: number;
  /** How long the victim stays dead before it is started again (a partition: until healed). */
  downMs: number;
}>;

export type NemesisPlanSpec = Readonly<{
  loadMs: number;
  intervalMs: number;
  /** Faults begin this long after the load starts, so the first ops have a healthy cluster. */
  firstAtMs: number;
  downMsMin: number;
  downMsMax: number;
  withSip: boolean;
  /** Hosts in network namespaces: partitions between them join the kills. */
  withPartitions?: boolean;
  /** How long a partition lasts (longer than a kill's down time: long enough for leaders
   * on the cut side to lose their leases and the majority side to elect). Default 2-6 s. */
  partitionMsMin?: number;
  partitionMsMax?: number;
}>;

/** Relative weights of the fault kinds: shards carry the invariants, so they get most. */
export function faultWeights(withSip: boolean, withPartitions = false): readonly (readonly [FaultKind, number])[] {
  if (withPartitions) {
    // About 60% kills and 40% partitions, an isolated host the likeliest of these.
    return withSip
      ? [['shard-leader', 22], ['shard-replica', 18], ['sip', 12], ['gateway', 8], ['partition-isolate', 16], ['partition-one-way', 12], ['partition-bridge', 12]]
      : [['shard-leader', 27], ['shard-replica', 23], ['gateway', 10], ['partition-isolate', 16], ['partition-one-way', 12], ['partition-bridge', 12]];
  }
  return withSip
    ? [['shard-leader', 35], ['shard-replica', 30], ['sip', 20], ['gateway', 15]]
    : [['shard-leader', 45], ['shard-replica', 40], ['gateway', 15]];
}

export function planFaults(prng: Prng, spec: NemesisPlanSpec): PlannedFault[] {
  const weights = faultWeights(spec.withSip, spec.withPartitions ?? false);
  const total = weights.reduce((s, [, w]) => s + w, 0);
  const out: PlannedFault[] = [];
  // A little jitter around the interval, never letting two steps swap order.
  const jitterMs = Math.floor(spec.intervalMs / 5);
  for (let step = 0; ; step++) {
    const atMs = spec.firstAtMs + step * spec.intervalMs + prng.int(0, jitterMs);
    if (atMs >= spec.loadMs) break;
    let roll = prng.next() * total;
    let kind: FaultKind = weights[0]![0];
    for (const [k, w] of weights) {
      if (roll < w) {
        kind = k;
        break;
      }
      roll -= w;
    }
    const pick = prng.int(0, 1 << 20);
    const replicaPick = prng.int(0, 1 << 20);
    const downMs = prng.int(spec.downMsMin, spec.downMsMax);
    // Drawn only for partitions, after the others, so plans without partitions stay as they were.
    const partitionMs = isPartitionFault(kind) ? prng.int(spec.partitionMsMin ?? 2000, spec.partitionMsMax ?? 6000) : null;
    out.push({ step, atMs, kind, pick, replicaPick, downMs: partitionMs ?? downMs });
  }
  return out;
}

/** The opt-in nemeses (off by default, so default runs keep their plans). */
export type ExtraFaults = Readonly<{
  /** SIGKILL one SIP node for good (never restarted), once, a third into the load. */
  sipGone: boolean;
  /** Open enough client sessions on a shard to evict the others (its LRU table is full),
   * about every `evictIntervalMs`. */
  evictSessions: boolean;
  evictIntervalMs: number;
}>;

/** The opt-in steps, drawn from their own PRNG fork and merged into `plan` by time (step
 * numbers follow on after the plan's), so turning them on leaves the random kills as they
 * were for the seed. */
export function withExtraFaults(plan: readonly PlannedFault[], prng: Prng, spec: NemesisPlanSpec, extra: ExtraFaults): PlannedFault[] {
  const out = [...plan];
  let step = plan.length;
  const at = (atMs: number, kind: FaultKind): void => {
    out.push({ step: step++, atMs, kind, pick: prng.int(0, 1 << 20), replicaPick: prng.int(0, 1 << 20), downMs: 0 });
  };
  if (extra.sipGone && spec.withSip) at(Math.floor(spec.loadMs / 3) + prng.int(0, 1000), 'sip-gone');
  if (extra.evictSessions) {
    for (let atMs = spec.firstAtMs + Math.floor(extra.evictIntervalMs / 2) + prng.int(0, 1000); atMs < spec.loadMs; atMs += extra.evictIntervalMs) at(atMs, 'evict-sessions');
  }
  // Ties keep the random kill first: the order is a function of the seed alone.
  return out.sort((a, b) => a.atMs - b.atMs || a.step - b.step);
}
