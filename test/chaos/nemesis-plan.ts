// The nemesis's plan as plain data, computed from the seed alone: when each fault happens,
// what kind of process it aims at, which one (an index resolved against the cluster when
// the step runs) and how long the victim stays down before its restart. The executor
// (nemesis.ts) may have to re-aim a step when its target is not safe to kill at that
// moment (a shard already missing a replica); the plan itself never depends on timing.
import type { Prng } from './prng.js';

export type FaultKind = 'shard-leader' | 'shard-replica' | 'gateway' | 'sip';

export type PlannedFault = Readonly<{
  step: number;
  /** Offset from the start of the load. */
  atMs: number;
  kind: FaultKind;
  /** Chooses the shard (shard faults) or node (sip, gateway) modulo how many there are. */
  pick: number;
  /** Chooses the replica for shard-replica faults, modulo the replicas. */
  replicaPick: number;
  /** How long the victim stays dead before it is started again. */
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
}>;

/** Relative weights of the fault kinds: shards carry the invariants, so they get most. */
export function faultWeights(withSip: boolean): readonly (readonly [FaultKind, number])[] {
  return withSip
    ? [['shard-leader', 35], ['shard-replica', 30], ['sip', 20], ['gateway', 15]]
    : [['shard-leader', 45], ['shard-replica', 40], ['gateway', 15]];
}

export function planFaults(prng: Prng, spec: NemesisPlanSpec): PlannedFault[] {
  const weights = faultWeights(spec.withSip);
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
    out.push({ step, atMs, kind, pick: prng.int(0, 1 << 20), replicaPick: prng.int(0, 1 << 20), downMs: prng.int(spec.downMsMin, spec.downMsMax) });
  }
  return out;
}
