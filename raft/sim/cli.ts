// The simulator's command line (npm run sim -- ...):
//   --seeds N     how many seeds to run (default 100), starting at --seed S (default 1)
//   --bug NAME    switch a deliberate core or store-driver bug on (repeatable); violations
//                 then exit 0
//   --groups G    groups per simulated store (default: each seed draws 1..8)
//   --steps K     base ticks of storm per seed (default limits.stepsDefault)
//   --json        failing seeds as JSON lines instead of prose
//   --verbose     a line per seed; with --seeds 1, the whole event trace
//   --workers W   worker processes (default 2; 1 runs in this process)
// The last line is always one JSON summary. Exit code 1 on violations unless --bug.

import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { type BugName, bugNames } from './planted-bugs.js';
import { groupsMax, stepsDefault, stepsMax, workersDefault } from './limits.js';
import { runSeed } from './run.js';
import type { RunResult } from './run.js';

type Options = { seeds: number; seed: number; bugs: BugName[]; steps: number; json: boolean; verbose: boolean; workers: number; groups: number | undefined };

/** What a worker sends back per seed: small, so IPC stays cheap. */
type SeedSummary = Pick<RunResult, 'seed' | 'violation' | 'groups' | 'elections' | 'commits' | 'linearizabilityInconclusive' | 'traceHash'> & {
  quiesces: number;
  wakes: number;
  leadersSteppedDown: number;
  syncedBatches: number;
  syncedReadies: number;
  batches: number;
  ticks: number;
  ticksSkipped: number;
  failoverMs: number | null;
};

function usage(msg: string): never {
  process.stderr.write(`${msg}\nusage: sim --seeds N [--seed S] [--bug NAME] [--groups G] [--steps K] [--json] [--verbose] [--workers W]\n`);
  process.exit(2);
}

function parse(argv: readonly string[]): Options {
  const o: Options = { seeds: 100, seed: 1, bugs: [], steps: stepsDefault, json: false, verbose: false, workers: workersDefault, groups: undefined };
  const int = (v: string | undefined, name: string, min: number, max: number): number => {
    const n = Number(v);
    if (v === undefined || !Number.isInteger(n) || n < min || n > max) usage(`${name} needs an integer in [${min}, ${max}]`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--seeds') o.seeds = int(argv[++i], a, 1, 10_000_000);
    else if (a === '--seed') o.seed = int(argv[++i], a, 0, 2 ** 31 - 1);
    else if (a === '--steps') o.steps = int(argv[++i], a, 1, stepsMax);
    else if (a === '--workers') o.workers = int(argv[++i], a, 1, 16);
    else if (a === '--groups') o.groups = int(argv[++i], a, 1, groupsMax * 4);
    else if (a === '--json') o.json = true;
    else if (a === '--verbose') o.verbose = true;
    else if (a === '--bug') {
      const b = argv[++i];
      if (!(bugNames as readonly string[]).includes(b ?? '')) usage(`unknown bug ${b}; one of ${bugNames.join(', ')}`);
      o.bugs.push(b as BugName);
    } else usage(`unknown argument ${a}`);
  }
  return o;
}

function summarize(r: RunResult): SeedSummary {
  return {
    seed: r.seed, violation: r.violation, groups: r.groups, elections: r.elections, commits: r.commits,
    linearizabilityInconclusive: r.linearizabilityInconclusive, traceHash: r.traceHash,
    quiesces: r.cluster.quiesces, wakes: r.cluster.wakes, leadersSteppedDown: r.cluster.leadersSteppedDown, syncedBatches: r.cluster.syncedBatches, syncedReadies: r.cluster.syncedReadies,
    batches: r.cluster.batches, ticks: r.cluster.ticks, ticksSkipped: r.cluster.ticksSkipped, failoverMs: r.failoverMs,
  };
}

function runOne(o: Options, seed: number): RunResult {
  return runSeed({ seed, bugs: new Set(o.bugs), steps: o.steps, verbose: o.verbose && o.seeds === 1, ...(o.groups === undefined ? {} : { groups: o.groups }) });
}

// ---- worker side --------------------------------------------------------------------------

type Job = { seeds: number[] } | { done: true };

function workerMain(o: Options): void {
  process.on('message', (job: Job) => {
    if ('done' in job) process.exit(0);
    const out = job.seeds.map((s) => summarize(runOne(o, s)));
    process.send!(out);
  });
  process.send!([]);
}

// ---- parent side --------------------------------------------------------------------------

async function runAll(o: Options, onResult: (r: SeedSummary) => void): Promise<void> {
  const seeds = Array.from({ length: o.seeds }, (_, i) => o.seed + i);
  if (o.workers === 1 || o.seeds < 20) {
    for (const s of seeds) {
      const r = runOne(o, s);
      if (o.verbose && o.seeds === 1) {
        process.stdout.write(`profile ${JSON.stringify(r.profile)}\n`);
        for (const line of r.log ?? []) process.stdout.write(line + '\n');
      }
      onResult(summarize(r));
    }
    return;
  }
  const batch = Math.max(1, Math.min(20, Math.floor(o.seeds / (o.workers * 8))));
  let next = 0;
  const self = fileURLToPath(import.meta.url);
  const args = [...process.argv.slice(2), '--worker'];
  await Promise.all(
    Array.from({ length: o.workers }, () => {
      const child = fork(self, args, { execArgv: process.execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      return new Promise<void>((resolve, reject) => {
        child.on('message', (results: SeedSummary[]) => {
          for (const r of results) onResult(r);
          if (next >= seeds.length) {
            child.send({ done: true } satisfies Job);
            return;
          }
          child.send({ seeds: seeds.slice(next, next + batch) } satisfies Job);
          next += batch;
        });
        child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`worker exited with ${code}`))));
        child.on('error', reject);
      });
    }),
  );
}

async function main(): Promise<void> {
  // Piped into `head`, a closed stdout ends the run quietly.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(0);
    throw e;
  });
  const argv = process.argv.slice(2);
  const isWorker = argv.includes('--worker');
  const o = parse(argv.filter((a) => a !== '--worker'));
  if (isWorker) return workerMain(o);
  const startedMs = performance.now();
  const bugFlags = o.bugs.map((b) => ` --bug ${b}`).join('');
  let violations = 0;
  let firstFailingSeed: number | null = null;
  let elections = 0;
  let commits = 0;
  let inconclusive = 0;
  let quiesces = 0;
  let wakes = 0;
  let leadersSteppedDown = 0;
  let batches = 0;
  let syncedBatches = 0;
  let syncedReadies = 0;
  let ticks = 0;
  let ticksSkipped = 0;
  let multiGroupSeeds = 0;
  const failoversMs: number[] = [];
  const byKind: Record<string, number> = {};
  await runAll(o, (r) => {
    elections += r.elections;
    commits += r.commits;
    quiesces += r.quiesces;
    wakes += r.wakes;
    leadersSteppedDown += r.leadersSteppedDown;
    batches += r.batches;
    syncedBatches += r.syncedBatches;
    syncedReadies += r.syncedReadies;
    ticks += r.ticks;
    ticksSkipped += r.ticksSkipped;
    if (r.failoverMs !== null) failoversMs.push(r.failoverMs);
    if (r.groups > 1) multiGroupSeeds++;
    if (r.linearizabilityInconclusive) inconclusive++;
    if (o.verbose) {
      process.stdout.write(
        `seed ${r.seed}: ${r.violation === null ? 'ok' : 'VIOLATION'} groups=${r.groups} elections=${r.elections} commits=${r.commits} quiesces=${r.quiesces} wakes=${r.wakes} trace=${r.traceHash}\n`,
      );
    }
    if (r.violation === null) return;
    violations++;
    byKind[r.violation.kind] = (byKind[r.violation.kind] ?? 0) + 1;
    if (firstFailingSeed === null || r.seed < firstFailingSeed) firstFailingSeed = r.seed;
    if (o.json) {
      process.stdout.write(JSON.stringify({ seed: r.seed, ...r.violation }) + '\n');
      return;
    }
    const v = r.violation;
    process.stdout.write(
      `seed ${r.seed}: ${v.kind} at ${v.timeMs.toFixed(0)} ms: ${v.reason}\n` +
        `  replay: npm run sim -- --seed ${r.seed} --seeds 1 --verbose${bugFlags}${o.groups === undefined ? '' : ` --groups ${o.groups}`}${o.steps === stepsDefault ? '' : ` --steps ${o.steps}`}\n`,
    );
  });
  const elapsedMs = Math.round(performance.now() - startedMs);
  const seedsPerSecond = Math.round((o.seeds * 1000 * 10) / Math.max(1, elapsedMs)) / 10;
  failoversMs.sort((a, b) => a - b);
  const failoverMs = failoversMs.length === 0 ? null : { median: failoversMs[failoversMs.length >> 1]!, max: failoversMs.at(-1)!, runs: failoversMs.length };
  const summary = {
    seeds: o.seeds, violations, firstFailingSeed, elections, commits, byKind, inconclusive, multiGroupSeeds, quiesces, wakes, leadersSteppedDown,
    batches, syncedBatches, syncedReadies, ticks, ticksSkipped, failoverMs, elapsedMs, seedsPerSecond, bugs: o.bugs,
  };
  process.stdout.write(JSON.stringify(summary) + '\n');
  process.exitCode = violations > 0 && o.bugs.length === 0 ? 1 : 0;
}

await main();
