// The contract between `bench/cli.ts` and the bench modules, and the argv parser.
// Every bench module (bench/<name>.ts) exports `runBench(args: BenchArgs): Promise<BenchReport>`,
// prints human progress through `args.log`, and returns the report the CLI prints as the
// final JSON line.

export const BENCH_NAMES = ['raft', 'reserve', 'failover', 'calls', 'media', 'sip-stack', 'queue-media', 'stores', 'disk', 'hosts'] as const;
export type BenchName = (typeof BENCH_NAMES)[number];

export type BenchArgs = Readonly<{
  json: boolean;
  /** --seconds S: duration of each measured level; null = the bench's default. */
  seconds: number | null;
  /** Every other --flag value (or --flag alone → 'true'). */
  flags: ReadonlyMap<string, string>;
  /** Human progress line. */
  log: (line: string) => void;
}>;

/** The final JSON line: `{"bench": name, ...}`. */
export type BenchReport = Readonly<{ bench: string } & Record<string, unknown>>;

export type BenchModule = { runBench: (args: BenchArgs) => Promise<BenchReport> };

export function parseBenchArgv(argv: readonly string[]): { name: string | null; json: boolean; seconds: number | null; flags: Map<string, string> } {
  const flags = new Map<string, string>();
  let name: string | null = null;
  let json = false;
  let seconds: number | null = null;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('--')) {
      if (name === null) name = a;
      else throw new Error(`unexpected argument: ${a}`);
      continue;
    }
    const eq = a.indexOf('=');
    const key = eq >= 0 ? a.slice(2, eq) : a.slice(2);
    let value: string;
    if (eq >= 0) value = a.slice(eq + 1);
    else if (key !== 'json' && i + 1 < argv.length && !argv[i + 1]!.startsWith('--')) value = argv[++i]!;
    else value = 'true';
    if (key === 'json') json = value !== 'false';
    else if (key === 'seconds') {
      seconds = Number(value);
      if (!Number.isFinite(seconds) || seconds <= 0) throw new Error(`--seconds wants a positive number, got ${value}`);
    } else flags.set(key, value);
  }
  return { name, json, seconds, flags };
}
