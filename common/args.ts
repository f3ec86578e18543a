// Flag parsing for every role: node:util's parseArgs plus the two things it lacks — a
// message that names the bad flag, and environment fallbacks (RINGFENCE_<FLAG>) so
// systemd units and containers can configure a process without a long command line.
import { parseArgs } from 'node:util';

export class UsageError extends Error {
  readonly code = 'CLI_ERR_USAGE';
}

export type FlagSpec = Record<string, { type: 'string' | 'boolean'; help: string; default?: string | boolean }>;

export function parseFlags<T extends FlagSpec>(argv: string[], spec: T, usage: string): { [K in keyof T]: T[K]['type'] extends 'boolean' ? boolean : string | undefined } {
  const options: Record<string, { type: 'string' | 'boolean' }> = { help: { type: 'boolean' } };
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
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(spec)) {
    const env = process.env[`RINGFENCE_${k.toUpperCase().replace(/-/g, '_')}`];
    const fromEnv = env === undefined ? undefined : v.type === 'boolean' ? env === '1' || env === 'true' : env;
    out[k] = values[k] ?? fromEnv ?? v.default ?? (v.type === 'boolean' ? false : undefined);
  }
  return out as { [K in keyof T]: T[K]['type'] extends 'boolean' ? boolean : string | undefined };
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
  return `${usage}\n\nflags:\n${lines.join('\n')}`;
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
