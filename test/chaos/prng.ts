// A small seeded PRNG (mulberry32) so a chaos run's plan — kill times, targets, down times,
// load choices — is a pure function of its --seed and the same seed replays the same plan.
import assert from 'node:assert';

export type Prng = Readonly<{
  /** Uniform in [0, 1). */
  next: () => number;
  /** Uniform integer in [min, max]. */
  int: (min: number, max: number) => number;
  /** One element of a non-empty list. */
  pick: <T>(items: readonly T[]) => T;
  /** An independent generator derived from this one's seed and a label. */
  fork: (label: string) => Prng;
}>;

export function createPrng(seed: number): Prng {
  assert(Number.isInteger(seed), 'seed must be an integer');
  let state = seed >>> 0;
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 15), z | 1);
    z ^= z + Math.imul(z ^ (z >>> 7), z | 61);
    return ((z ^ (z >>> 14)) >>> 0) / 4294967296;
  };
  const int = (min: number, max: number): number => {
    assert(max >= min, 'int range is empty');
    return min + Math.floor(next() * (max - min + 1));
  };
  const pick = <T>(items: readonly T[]): T => {
    assert(items.length > 0, 'pick from an empty list');
    return items[Math.floor(next() * items.length)]!;
  };
  const fork = (label: string): Prng => {
    let h = seed >>> 0;
    for (let i = 0; i < label.length; i++) h = Math.imul(h ^ label.charCodeAt(i), 0x9e3779b1) >>> 0;
    return createPrng(h);
  };
  return { next, int, pick, fork };
}
