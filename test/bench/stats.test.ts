// Proves the benchmark statistics are the textbook ones: nearest-rank percentiles,
// medians of odd and even counts, latency summaries, and the growable sample buffer —
// checked on small hand-worked examples and against a sort-based oracle on random data.
import t from 'tap';
import { median, percentile, percentileSorted, round, SampleBuffer, summarizeLatencies } from '../../bench/stats.js';

t.test('nearest-rank percentiles on 1..100', async (t) => {
  const xs = Array.from({ length: 100 }, (_, i) => 100 - i); // unsorted on purpose
  t.equal(percentile(xs, 50), 50);
  t.equal(percentile(xs, 99), 99);
  t.equal(percentile(xs, 100), 100);
  t.equal(percentile(xs, 1), 1);
  t.equal(percentile(xs, 0.5), 1, 'a rank below 1 rounds up to the smallest sample');
  t.same(xs.slice(0, 3), [100, 99, 98], 'the input is not mutated');
});

t.test('small samples', async (t) => {
  t.equal(percentile([7], 99), 7);
  t.equal(percentile([1, 2, 3, 4], 50), 2);
  t.equal(percentile([1, 2, 3, 4], 75), 3);
  t.equal(percentile([1, 2, 3, 4], 76), 4);
  t.ok(Number.isNaN(percentile([], 50)), 'no samples → NaN, not 0');
  t.throws(() => percentileSorted([1], 0));
  t.throws(() => percentileSorted([1], 101));
});

t.test('percentiles sort numerically, not as strings', async (t) => {
  t.equal(percentile([10, 9, 100, 2], 50), 9);
  t.equal(median([10, 9, 100, 2]), 9.5);
});

t.test('median of odd and even counts', async (t) => {
  t.equal(median([3, 1, 2]), 2);
  t.equal(median([4, 1, 3, 2]), 2.5);
  t.ok(Number.isNaN(median([])));
});

t.test('summary agrees with a sort-based oracle on random data', async (t) => {
  let seed = 42;
  const rnd = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 50;
  const xs = Array.from({ length: 1001 }, rnd);
  const sorted = [...xs].sort((a, b) => a - b);
  const s = summarizeLatencies(xs);
  t.equal(s.count, 1001);
  t.equal(s.p50Ms, sorted[500]);
  t.equal(s.p99Ms, sorted[Math.ceil(0.99 * 1001) - 1]);
  t.equal(s.maxMs, sorted[1000]);
  t.ok(Math.abs(s.meanMs - xs.reduce((a, b) => a + b, 0) / xs.length) < 1e-9);
});

t.test('sample buffer grows past its initial capacity and keeps order', async (t) => {
  const b = new SampleBuffer();
  for (let i = 0; i < 5000; i++) b.push(i * 0.5);
  t.equal(b.length, 5000);
  const arr = b.toArray();
  t.equal(arr[0], 0);
  t.equal(arr[4999], 2499.5);
});

t.test('round', async (t) => {
  t.equal(round(1.23456, 2), 1.23);
  t.equal(round(2.5, 0), 3);
  t.ok(Number.isNaN(round(Number.NaN)));
});
