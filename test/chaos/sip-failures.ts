// Why SIPp's calls ended the way they did, from the SIP nodes' own records: the call
// detail records (--cdr, one JSON line per call with its outcome: completed, failed
// (a media offer/answer the gateway did not give: 503 Media Unavailable), queue-timeout
// (480), queue-full / queue-unavailable / lease-lost (503 Service Unavailable), no-agent
// (480), abandoned) and the warn lines the SIP nodes wrote to processes.log, by message.
// SIPp itself only sees status codes; a 503 burst is only explained by these.
import { existsSync, readFileSync } from 'node:fs';

export function sipFailureCauses(cdrPath: string, processesLogPath: string): Record<string, number> {
  const out: Record<string, number> = {};
  const add = (k: string): void => {
    out[k] = (out[k] ?? 0) + 1;
  };
  for (const line of linesOf(cdrPath)) {
    const rec = parse(line);
    if (rec !== null && typeof rec.outcome === 'string') add(`cdr ${rec.outcome}`);
  }
  for (const line of linesOf(processesLogPath)) {
    const rec = parse(line);
    if (rec !== null && rec.role === 'sip' && (rec.level === 'warn' || rec.level === 'error') && typeof rec.msg === 'string') add(`${rec.level} ${rec.msg}`);
  }
  return out;
}

function linesOf(path: string): string[] {
  return existsSync(path) ? readFileSync(path, 'utf8').split('\n').filter((l) => l.startsWith('{')) : [];
}

function parse(line: string): Record<string, unknown> | null {
  try {
    const v: unknown = JSON.parse(line);
    return typeof v === 'object' && v !== null ? (v as Record<string, unknown>) : null;
  } catch {
    return null; // a line cut by a SIGKILL
  }
}
