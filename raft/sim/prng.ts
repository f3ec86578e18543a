// A seeded pseudo-random generator (sfc32, seeded through splitmix32). Every random
// choice of a simulation run comes from one of these, so one seed replays one run
// bit for bit. Math.random is never used anywhere under raft/sim.

import assert from 'node:assert';

export interface Prng {
  /** Uniform in [0, 1). */
  next(): number;
  /** Uniform integer in [0, n). */
  int(n: number): number;
  /** Uniform integer in [lo, hi] (both inclusive). */
  range(lo: number, hi: number): number;
  /** True with probability p. */
  chance(p: number): boolean;
  pick<T>(items: readonly T[]): T;
  /** An independent generator derived from this one's seed and a label, so adding a
   * random draw in one subsystem does not shift the draws of another. It consumes no
   * draw; the same label always gives the same stream. */
  fork(label: string): Prng;
}

function splitmix32(state: number): () => number {
  let s = state >>> 0;
  return () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
}

function hashLabel(label: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < label.length; i++) h = Math.imul(h ^ label.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

export function createPrng(seed: number): Prng {
  assert(Number.isInteger(seed), 'seed must be an integer');
  const mix = splitmix32(seed);
  let a = mix();
  let b = mix();
  let c = mix();
  let d = mix();
  const u32 = (): number => {
    const t = (((a + b) >>> 0) + d) >>> 0;
    d = (d + 1) >>> 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) >>> 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) >>> 0;
    return t;
  };
  for (let i = 0; i < 12; i++) u32();
  const next = (): number => u32() / 4294967296;
  const prng: Prng = {
    next,
    int(n) {
      assert(n > 0, 'int(n) needs n > 0');
      return Math.floor(next() * n);
    },
    range(lo, hi) {
      assert(hi >= lo, 'range needs hi >= lo');
      return lo + Math.floor(next() * (hi - lo + 1));
    },
    chance(p) {
      return next() < p;
    },
    pick(items) {
      assert(items.length > 0, 'pick from an empty list');
      return items[Math.floor(next() * items.length)]!;
    },
    fork(label) {
      return createPrng((seed ^ hashLabel(label)) | 0);
    },
  };
  return prng;
}
