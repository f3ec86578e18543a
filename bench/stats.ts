// Small statistics for benchmark reports: percentiles by the nearest-rank method (what
// latency tools usually quote), medians of repeated runs, and fixed-width formatting for
// the human progress lines. Pure functions, no I/O.

import assert from 'node:assert';

/** p-th percentile (0 < p ≤ 100) of an ascending-sorted array, nearest-rank method:
 * the smallest value such that at least p% of the samples are ≤ it. */
export function percentileSorted(sorted: readonly number[], p: number): number {
  assert(p > 0 && p <= 100, `percentile out of range: ${p}`);
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

/** p-th percentile of unsorted samples (copies, never mutates the input). */
export function percentile(samples: readonly number[], p: number): number {
  return percentileSorted(sortedCopy(samples), p);
}

/** Median; for an even count, the mean of the two middle values. */
export function median(samples: readonly number[]): number {
  if (samples.length === 0) return Number.NaN;
  const s = sortedCopy(samples);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export function mean(samples: readonly number[]): number {
  if (samples.length === 0) return Number.NaN;
  let sum = 0;
  for (const x of samples) sum += x;
  return sum / samples.length;
}

export type LatencySummary = Readonly<{
  count: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  meanMs: number;
}>;

/** One pass over latency samples in milliseconds. */
export function summarizeLatencies(latenciesMs: readonly number[]): LatencySummary {
  const s = sortedCopy(latenciesMs);
  return {
    count: s.length,
    p50Ms: percentileSorted(s, 50),
    p99Ms: percentileSorted(s, 99),
    maxMs: s.length === 0 ? Number.NaN : s[s.length - 1]!,
    meanMs: mean(s),
  };
}

/** Rounds to `digits` decimals for JSON output (keeps reports readable and diffable). */
export function round(x: number, digits = 2): number {
  if (!Number.isFinite(x)) return x;
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** "12,345" style integers and short fixed decimals for progress lines. */
export function formatCount(x: number): string {
  return Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : String(x);
}

export function formatMs(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  return x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2);
}

/** A growable Float64 sample buffer: latency loops record millions of samples without
 * allocating a boxed number per sample. */
export class SampleBuffer {
  private data = new Float64Array(1024);
  private size = 0;

  push(x: number): void {
    if (this.size === this.data.length) {
      const next = new Float64Array(this.data.length * 2);
      next.set(this.data);
      this.data = next;
    }
    this.data[this.size++] = x;
  }

  get length(): number {
    return this.size;
  }

  toArray(): number[] {
    return Array.from(this.data.subarray(0, this.size));
  }
}

function sortedCopy(samples: readonly number[]): number[] {
  // Typed-array sort is numeric (Array#sort would compare as strings).
  return Array.from(Float64Array.from(samples).sort());
}
