// GET /v1/cdrs reads the node's CDR file (cdr.ts): streamed line by line, so memory holds
// at most `limit` records whatever the file's size, and the read stops at the first match
// past the limit. Records come in the file's order: the order the calls ended, oldest
// first. `from` (inclusive) and `to` (exclusive) select on the call's start (startedAt),
// as ISO-8601 or epoch milliseconds; `service` and `dn` (the agent that answered) must
// match exactly. A line that is not a CDR (a torn last line after a crash) is skipped and
// counted.
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import type { CdrRecord } from './cdr.js';

export const cdrQueryLimitDefault = 100;
export const cdrQueryLimitMax = 1000;

export type CdrFilter = Readonly<{ fromMs: number | null; toMs: number | null; service: string | null; dn: string | null; limit: number }>;
export type CdrQueryProblem = Readonly<{ field: string; detail: string }>;
export type CdrPage = { cdrs: CdrRecord[]; truncated: boolean; skippedLines: number };

/** An instant as the query gives it: epoch ms (digits only) or an ISO-8601 date-time. */
export function parseInstant(text: string): number | null {
  const s = text.trim();
  if (/^\d{1,15}$/.test(s)) return Number(s);
  if (!/^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})?)?$/.test(s)) return null;
  const ms = Date.parse(s);
  return Number.isNaN(ms) ? null : ms;
}

/** The query string → a filter, or the first bad parameter and why. */
export function parseCdrQuery(q: Readonly<Record<string, unknown>>): CdrFilter | CdrQueryProblem {
  const text = (key: string): string | undefined => (typeof q[key] === 'string' && (q[key] as string) !== '' ? (q[key] as string) : undefined);
  const instant = (key: 'from' | 'to'): number | null | CdrQueryProblem => {
    const v = text(key);
    if (v === undefined) return null;
    const ms = parseInstant(v);
    return ms === null ? { field: `querystring.${key}`, detail: `${JSON.stringify(v.slice(0, 40))} is neither an ISO-8601 date-time (2026-12-06T05:00:00Z) nor epoch milliseconds` } : ms;
  };
  const fromMs = instant('from');
  if (fromMs !== null && typeof fromMs === 'object') return fromMs;
  const toMs = instant('to');
  if (toMs !== null && typeof toMs === 'object') return toMs;
  if (fromMs !== null && toMs !== null && toMs <= fromMs) return { field: 'querystring.to', detail: 'must be after from' };
  let limit = cdrQueryLimitDefault;
  const l = text('limit');
  if (l !== undefined) {
    if (!/^\d{1,7}$/.test(l) || Number(l) < 1 || Number(l) > cdrQueryLimitMax) return { field: 'querystring.limit', detail: `expected an integer from 1 to ${cdrQueryLimitMax}` };
    limit = Number(l);
  }
  for (const key of ['service', 'dn'] as const) {
    const v = text(key);
    if (v !== undefined && !/^[0-9A-Za-z_.+*#-]{1,64}$/.test(v)) return { field: `querystring.${key}`, detail: `${JSON.stringify(v.slice(0, 40))} is not a ${key === 'dn' ? 'directory number' : 'service number'}` };
  }
  return { fromMs, toMs, service: text('service') ?? null, dn: text('dn') ?? null, limit };
}

export function isProblem(v: CdrFilter | CdrQueryProblem): v is CdrQueryProblem {
  return 'field' in v;
}

export function matches(r: CdrRecord, f: CdrFilter): boolean {
  if (f.service !== null && r.service !== f.service) return false;
  if (f.dn !== null && r.dn !== f.dn) return false;
  if (f.fromMs === null && f.toMs === null) return true;
  const startedMs = Date.parse(r.startedAt);
  if (f.fromMs !== null && !(startedMs >= f.fromMs)) return false;
  if (f.toMs !== null && !(startedMs < f.toMs)) return false;
  return true;
}

/** The first `limit` matching records of the file (none when it does not exist yet). */
export async function readCdrs(path: string, f: CdrFilter): Promise<CdrPage> {
  const page: CdrPage = { cdrs: [], truncated: false, skippedLines: 0 };
  const input = createReadStream(path, { encoding: 'utf8' });
  const opened = await new Promise<boolean>((resolve, reject) => {
    input.once('ready', () => resolve(true));
    input.once('error', (err: NodeJS.ErrnoException) => (err.code === 'ENOENT' ? resolve(false) : reject(err)));
  });
  if (!opened) return page;
  const lines = createInterface({ input, crlfDelay: Infinity });
  try {
    for await (const line of lines) {
      if (line.trim() === '') continue;
      let r: CdrRecord;
      try {
        r = JSON.parse(line) as CdrRecord;
      } catch {
        page.skippedLines++;
        continue;
      }
      if (typeof r !== 'object' || r === null || typeof r.callId !== 'string' || typeof r.startedAt !== 'string') {
        page.skippedLines++;
        continue;
      }
      if (!matches(r, f)) continue;
      if (page.cdrs.length === f.limit) {
        page.truncated = true;
        break;
      }
      page.cdrs.push(r);
    }
  } finally {
    lines.close();
    input.destroy();
  }
  return page;
}
