// A closed-loop load generator: `concurrency` workers, each issuing one operation at a
// time back to back for `durationMs`, recording each operation's latency. Throughput then
// measures the system under test at a fixed number of outstanding requests, which is what
// "concurrency C" means in every bench here. Bounded in time and, optionally, in count.

import { performance } from 'node:perf_hooks';
import { SampleBuffer } from './stats.js';

/** What one operation reports: 'ok' counts toward throughput and latency; 'fail' is a
 * definite failure (e.g. a CAS that did not match); 'error' an unknown outcome. */
export type OpOutcome = 'ok' | 'fail' | 'error';

export type ClosedLoopOptions = Readonly<{
  concurrency: number;
  durationMs: number;
  /** Hard cap on operations started, across all workers (a safety bound). */
  opsMax?: number;
  /** Pause after an 'error' before the worker's next operation. */
  errorPauseMs?: number;
  /** Ends the run early when it returns true (checked before each operation). */
  shouldStop?: () => boolean;
  /** One operation of worker `worker`, its `seq`-th. Must not throw (throwing counts as 'error'). */
  op: (worker: number, seq: number) => Promise<OpOutcome>;
}>;

export type ClosedLoopResult = Readonly<{
  okCount: number;
  failCount: number;
  errorCount: number;
  elapsedMs: number;
  /** Latencies of 'ok' operations, in milliseconds. */
  latenciesMs: number[];
}>;

export async function runClosedLoop(opts: ClosedLoopOptions): Promise<ClosedLoopResult> {
  const latencies = new SampleBuffer();
  let okCount = 0;
  let failCount = 0;
  let errorCount = 0;
  let started = 0;
  const opsMax = opts.opsMax ?? Number.POSITIVE_INFINITY;
  const t0 = performance.now();
  const endAt = t0 + opts.durationMs;

  const worker = async (w: number): Promise<void> => {
    for (let seq = 0; performance.now() < endAt && started < opsMax && !opts.shouldStop?.(); seq++) {
      started++;
      const s = performance.now();
      let outcome: OpOutcome;
      try {
        outcome = await opts.op(w, seq);
      } catch {
        outcome = 'error';
      }
      if (outcome === 'ok') {
        okCount++;
        latencies.push(performance.now() - s);
      } else if (outcome === 'fail') {
        failCount++;
      } else {
        errorCount++;
        if (opts.errorPauseMs) await new Promise((r) => setTimeout(r, opts.errorPauseMs));
      }
    }
  };
  await Promise.all(Array.from({ length: opts.concurrency }, (_, w) => worker(w)));
  return { okCount, failCount, errorCount, elapsedMs: performance.now() - t0, latenciesMs: latencies.toArray() };
}
