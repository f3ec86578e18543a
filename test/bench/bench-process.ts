// Shared by the bench tests: whether a pid still runs, the opt-in switch for whole-bench
// runs, and running `bench/cli.ts` as a child that is stopped in teardown.
import { spawn } from 'node:child_process';
import type { Test } from 'tap';

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Whole-bench runs start real clusters (and etcd) for a minute or more: they run with
 * RINGFENCE_BENCH_SMOKE=1 (and in `npm run bench` itself), not in every `npm test`. */
export const benchSmoke = process.env.RINGFENCE_BENCH_SMOKE === '1';
export const benchSmokeSkip = benchSmoke ? false : 'set RINGFENCE_BENCH_SMOKE=1 to run the whole bench';

/** Runs `node bench/cli.ts <args>` to completion; SIGTERM in teardown if it is still up
 * (the CLI then kills its own children: replicas, etcd). */
export async function runBenchCli(t: Test, args: readonly string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'bench/cli.ts', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  return { code, stdout, stderr };
}
