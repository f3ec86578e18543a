// Flag parsing for every role: node:util's parseArgs plus what it lacks — a message that
// names the bad flag, `--help` and `--version`, and environment fallbacks
// (RINGFENCE_<FLAG>) so systemd units and containers can configure a process without a
// long command line. Every role and the gateway process take their flags through here, so
// `ringfence <role> --help` lists the same table the parser checks.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

export class UsageError extends Error {
  readonly code = 'CLI_ERR_USAGE';
}

export type FlagSpec = Record<string, { type: 'string' | 'boolean'; help: string; default?: string | boolean }>;

export type FlagValues<T extends FlagSpec> = { [K in keyof T]: T[K]['type'] extends 'boolean' ? boolean : string | undefined };

/** The environment variable that stands in for `--<flag>`: RINGFENCE_RING_TIMEOUT_MS. */
export function envNameOf(flag: string): string {
  return `RINGFENCE_${flag.toUpperCase().replace(/-/g, '_')}`;
}

/** The version in the package.json next to this tree, read relative to this module so it
 * is the same under `npm start`, bin/ringfence.js from any directory, and a test. */
export function packageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { name?: unknown; version?: unknown };
    return typeof pkg.version === 'string' ? pkg.version : 'unknown';
  } catch {
    return 'unknown';
  }
}

/** Parses `argv` against `spec`. `--help` (or -h) prints every flag and exits 0;
 * `--version` prints the package version and exits 0; an unknown or malformed flag throws
 * UsageError naming it. A flag the command line leaves out is taken from RINGFENCE_<FLAG>,
 * then from its default. `env` is for tests; processes use their own environment. */
export function parseFlags<T extends FlagSpec>(argv: string[], spec: T, usage: string, env: NodeJS.ProcessEnv = process.env): FlagValues<T> {
  const options: Record<string, { type: 'string' | 'boolean'; short?: string }> = { help: { type: 'boolean', short: 'h' }, version: { type: 'boolean' } };
  for (const [k, v] of Object.entries(spec)) options[k] = { type: v.type };
  let values: Record<string, unknown>;
  try {
    values = parseArgs({ args: argv, options, strict: true, allowPositionals: false }).values as Record<string, unknown>;
  } catch (err) {
    throw new UsageError(`${(err as Error).message}\n${helpText(spec, usage)}`);
  }
  if (values.help) {
    process.stdout.write(helpText(spec, usage) + '\n');
    process.exit(0);
  }
  if (values.version) {
    process.stdout.write(`ringfence ${packageVersion()}\n`);
    process.exit(0);
  }
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(spec)) {
    const name = envNameOf(k);
    const raw = env[name];
    let fromEnv: string | boolean | undefined;
    if (raw !== undefined && raw !== '') {
      if (v.type === 'string') fromEnv = raw;
      else if (raw === '1' || raw === 'true') fromEnv = true;
      else if (raw === '0' || raw === 'false') fromEnv = false;
      else throw new UsageError(`${name} (for --${k}) must be 1, true, 0 or false, got ${JSON.stringify(raw)}`);
    }
    out[k] = values[k] ?? fromEnv ?? v.default ?? (v.type === 'boolean' ? false : undefined);
  }
  return out as FlagValues<T>;
}

export function requireFlag(value: string | undefined, name: string): string {
  if (value === undefined || value === '') throw new UsageError(`--${name} is required`);
  return value;
}

/** Parses an integer flag, naming the flag when it is not one. */
export function intFlag(value: string | undefined, name: string, min: number, max: number, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) throw new UsageError(`--${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(value)}`);
  return n;
}

function helpText(spec: FlagSpec, usage: string): string {
  const names = Object.entries(spec).map(([k, v]) => `  --${k}${v.type === 'string' ? ' <value>' : ''}`);
  const width = Math.max(28, ...names.map((n) => n.length + 2));
  const lines = Object.values(spec).map((v, i) => names[i]!.padEnd(width) + v.help + (v.default !== undefined ? ` (default ${v.default})` : ''));
  const always = ['  --help, -h'.padEnd(width) + 'print this help and exit', '  --version'.padEnd(width) + 'print the version and exit'];
  return `${usage}\n\nflags (each also read from RINGFENCE_<FLAG>, e.g. --${Object.keys(spec)[0] ?? 'flag'} from ${envNameOf(Object.keys(spec)[0] ?? 'flag')}):\n${[...lines, ...always].join('\n')}`;
}

/** Prints the one machine-readable line a parent process waits for. */
export function announce(event: Record<string, unknown>): void {
  process.stdout.write(JSON.stringify(event) + '\n');
}

/** Runs `stop` once on SIGINT/SIGTERM, then exits; a second signal exits at once. */
export function onShutdown(stop: () => Promise<void>): void {
  let stopping = false;
  const handler = (sig: string): void => {
    if (stopping) process.exit(1);
    stopping = true;
    stop().then(
      () => process.exit(0),
      (err) => {
        process.stderr.write(`shutdown after ${sig} failed: ${(err as Error).message}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => handler('SIGINT'));
  process.on('SIGTERM', () => handler('SIGTERM'));
}
