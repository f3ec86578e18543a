// The cluster file's field readers: each takes a mapping, a key and the path to name in its
// error, and either returns a valid value or throws a ConfigError naming the field. Shared
// by config.ts's sections; nothing here knows what a cluster file holds.

export type HostPort = Readonly<{ host: string; port: number }>;

export class ConfigError extends Error {
  readonly code = 'CONFIG_ERR_INVALID';
  constructor(readonly field: string, detail: string) {
    super(`${field}: ${detail}`);
  }
}

export type Obj = Record<string, unknown>;

/** Levenshtein distance, for naming the known key a typo was meant to be. */
function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = row[j]!;
      row[j] = Math.min(above + 1, row[j - 1]! + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
      diagonal = above;
    }
  }
  return row[b.length]!;
}

/** The known key nearest to `key` (case-insensitively), or null when none is close enough
 * to be the one meant (more than a third of the key's letters differ). */
export function nearestKey(key: string, known: readonly string[]): string | null {
  let best: string | null = null;
  let bestDistance = Infinity;
  for (const k of known) {
    const d = editDistance(key.toLowerCase(), k.toLowerCase());
    if (d < bestDistance) {
      best = k;
      bestDistance = d;
    }
  }
  return bestDistance <= Math.max(2, Math.ceil(key.length / 3)) ? best : null;
}

/** Refuses a key of `o` (the mapping at `path`) that `known` does not list. */
export function onlyKnownKeys(o: Obj, known: readonly string[], path: string): void {
  for (const key of Object.keys(o)) {
    if (known.includes(key)) continue;
    const near = nearestKey(key, known);
    const field = path === '' ? key : `${path}.${key}`;
    throw new ConfigError(field, `unknown key${near === null ? '' : `; did you mean ${near}?`} (known here: ${known.join(', ')})`);
  }
}

export function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function str(o: Obj, key: string, path: string, fallback?: string): string {
  const v = o[key];
  if (v === undefined && fallback !== undefined) return fallback;
  if (typeof v === 'number') return String(v);
  if (typeof v !== 'string' || v.length === 0) throw new ConfigError(`${path}.${key}`, 'expected a non-empty string');
  return v;
}

export function bool(o: Obj, key: string, path: string, fallback: boolean): boolean {
  const v = o[key];
  if (v === undefined) return fallback;
  if (typeof v !== 'boolean') throw new ConfigError(`${path}.${key}`, 'expected true or false');
  return v;
}

export function num(o: Obj, key: string, path: string, fallback: number, min: number, max: number): number {
  const v = o[key] ?? fallback;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new ConfigError(`${path}.${key}`, `expected an integer from ${min} to ${max}`);
  }
  return v;
}

/** "host:port", an IPv6 host in brackets, as an address; null when it is not one (the
 * port is not range-checked: callers say which range they take). One spelling for the
 * cluster file, the admin REST and the addresses the shards replicate. */
export function hostPortOf(value: string): HostPort | null {
  const m = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(value);
  if (!m) return null;
  return { host: m[1]!.startsWith('[') ? m[1]!.slice(1, -1) : m[1]!, port: Number(m[2]) };
}

/** The inverse of hostPortOf. */
export function formatHostPort(a: HostPort): string {
  return `${a.host.includes(':') ? `[${a.host}]` : a.host}:${a.port}`;
}

export function parseHostPort(value: unknown, field: string): HostPort {
  if (typeof value === 'number') return { host: '127.0.0.1', port: checkPort(value, field) };
  if (typeof value !== 'string') throw new ConfigError(field, 'expected host:port');
  const a = hostPortOf(value.trim());
  if (a === null) throw new ConfigError(field, `expected host:port, got ${JSON.stringify(value)}`);
  return { host: a.host, port: checkPort(a.port, field) };
}

export function checkPort(port: number, field: string): number {
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new ConfigError(field, 'port must be 0–65535');
  return port;
}

export function list(o: Obj, key: string, path: string, required: boolean): Obj[] {
  const v = o[key];
  if (v === undefined && !required) return [];
  if (!Array.isArray(v) || (required && v.length === 0)) throw new ConfigError(`${path}.${key}`, 'expected a non-empty list');
  return v.map((item, i) => {
    if (!isObj(item)) throw new ConfigError(`${path}.${key}[${i}]`, 'expected a mapping');
    return item;
  });
}

export function uniqueIds(items: readonly { id: string }[], field: string): void {
  const seen = new Set<string>();
  for (const it of items) {
    if (seen.has(it.id)) throw new ConfigError(field, `duplicate id ${JSON.stringify(it.id)}`);
    seen.add(it.id);
  }
}
