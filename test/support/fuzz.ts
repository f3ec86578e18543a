// Shared by the listener fuzz tests (test/security/*-fuzz.test.ts): how many frames each
// listener gets, and byte generators that mix pure noise with mutations of valid frames
// (valid frames with bytes flipped, cut short, extended or spliced reach deeper into a
// parser than noise, which most parsers reject at the first byte).
//
// `npm test` throws fuzzFramesPerListener() frames (10,000) at each listener; `npm run
// fuzz` sets RINGFENCE_FUZZ_FRAMES=1000000 and runs only these tests, without a timeout.
import fc from 'fast-check';

export const fuzzFramesDefault = 10_000;

/** Frames each listener receives in this run (RINGFENCE_FUZZ_FRAMES, default 10,000). */
export function fuzzFramesPerListener(): number {
  const raw = process.env.RINGFENCE_FUZZ_FRAMES;
  if (raw === undefined || raw === '') return fuzzFramesDefault;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < 1) throw new Error(`RINGFENCE_FUZZ_FRAMES must be a positive integer, got ${JSON.stringify(raw)}`);
  return n;
}

/** A valid frame with one of: bytes flipped, a cut, an insertion, a duplicated run. */
export function mutated(valid: readonly Uint8Array[]): fc.Arbitrary<Uint8Array> {
  const base = fc.constantFrom(...valid);
  return fc.oneof(
    fc.tuple(base, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 })).map(([b, flips]) => {
      const out = Uint8Array.from(b);
      for (const [at, v] of flips) if (out.length > 0) out[at % out.length] = v;
      return out;
    }),
    fc.tuple(base, fc.nat()).map(([b, at]) => b.slice(0, b.length === 0 ? 0 : at % b.length)),
    fc.tuple(base, fc.nat(), fc.uint8Array({ minLength: 1, maxLength: 64 })).map(([b, at, extra]) => {
      const cut = b.length === 0 ? 0 : at % b.length;
      return Uint8Array.from([...b.slice(0, cut), ...extra, ...b.slice(cut)]);
    }),
    fc.tuple(base, fc.nat(), fc.nat()).map(([b, at, len]) => {
      if (b.length === 0) return b;
      const from = at % b.length;
      const run = b.slice(from, from + 1 + (len % 64));
      return Uint8Array.from([...b.slice(0, from), ...run, ...run, ...b.slice(from)]);
    }),
  );
}

/** Noise, or a mutation of one of the valid frames, half and half. */
export function hostileBytes(valid: readonly Uint8Array[], maxLength = 2048): fc.Arbitrary<Uint8Array> {
  return fc.oneof(fc.uint8Array({ maxLength }), mutated(valid));
}

/** `count` samples of `arb`, drawn from the run's fixed fast-check seed (repeatable). */
export function samples<T>(arb: fc.Arbitrary<T>, count: number): T[] {
  return fc.sample(arb, { numRuns: count });
}
