// `npm run bench -- <name> [--json] [--seconds S] [--flag value ...]`
// Dispatches to bench/<name>.ts (contract in bench-args.ts) and prints the report as the
// final JSON line on stdout. With --json, progress goes to stderr so stdout holds only JSON.

import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BENCH_NAMES, parseBenchArgv, type BenchArgs, type BenchModule } from './bench-args.js';
import { killAll } from './procs.js';

const USAGE = `usage: npm run bench -- <name> [--json] [--seconds S] [--flag value ...]\nbenches: ${BENCH_NAMES.join(', ')}`;

async function main(): Promise<number> {
  let parsed: ReturnType<typeof parseBenchArgv>;
  try {
    parsed = parseBenchArgv(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n${USAGE}\n`);
    return 2;
  }
  const { name } = parsed;
  if (name === null || !(BENCH_NAMES as readonly string[]).includes(name)) {
    process.stderr.write(`${name === null ? 'no bench name given' : `unknown bench: ${name}`}\n${USAGE}\n`);
    return 2;
  }
  const here = dirname(fileURLToPath(import.meta.url));
  if (!existsSync(join(here, `${name}.ts`))) {
    process.stderr.write(`bench ${name} is not built yet (no bench/${name}.ts)\n`);
    return 2;
  }
  const mod = (await import(`./${name}.js`)) as Partial<BenchModule>;
  if (typeof mod.runBench !== 'function') {
    process.stderr.write(`bench/${name}.ts does not export runBench(args)\n`);
    return 2;
  }
  const out = parsed.json ? process.stderr : process.stdout;
  const args: BenchArgs = {
    json: parsed.json,
    seconds: parsed.seconds,
    flags: parsed.flags,
    log: (line) => out.write(line + '\n'),
  };
  const report = await mod.runBench(args);
  process.stdout.write(JSON.stringify(report) + '\n');
  return 0;
}

main().then(
  (code) => {
    killAll('SIGKILL');
    // Clients (gRPC channels, sockets) may hold the loop open: the report is out, leave.
    process.exit(code);
  },
  (err: unknown) => {
    killAll('SIGKILL');
    process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
