// Layer-2 load: one SIPp caller (cluster/sipp/scenarios/caller.xml) per SIP node placing calls to the
// service number at a steady rate, each held a while. At the end each caller is asked to
// stop placing calls and quit once its calls end (SIGUSR1); whatever SIPp still has open
// after a bound is a hung call. SIPp's per-second statistics give the calls/s timeline.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePorts } from '../../cluster/local-cluster.js';
import { freeSippMediaPort, scenarioPath, startSipp, type SippProcess, type SippResult } from '../../cluster/sipp/driver.js';

export type SipLoadSpec = Readonly<{
  dir: string;
  targets: readonly string[];
  /** The SIP node id behind each target, for blaming failures on kills. */
  nodeIds: readonly string[];
  /** SIPp gives up waiting for any expected message after this long (-recv_timeout). */
  recvTimeoutMs: number;
  service: string;
  ratePerNode: number;
  concurrentPerNodeMax: number;
  holdMsMin: number;
  holdMsSpread: number;
  safetyTimeoutS: number;
  /** The callers' own address (default 127.0.0.1). */
  localIp?: string;
}>;

export type CallsSecond = Readonly<{ atS: number; placed: number; succeeded: number; failed: number }>;

export type CallerSummary = Readonly<{ node: string; port: number; created: number; successful: number; failed: number; timeouts: number; unexpected: number; hung: number }>;

export type SipLoadResult = Readonly<{
  results: readonly SippResult[];
  callers: readonly CallerSummary[];
  created: number;
  /** Calls answered (INVITE→200 seen by SIPp). */
  answered: number;
  /** Calls SIPp counts successful: answered and hung up, or rejected with a final 3xx-6xx. */
  successful: number;
  failed: number;
  /** Failed calls that ended with a final 3xx-6xx response (clean). */
  finalFailures: Readonly<Record<number, number>>;
  timeouts: number;
  unexpected: number;
  /** Calls SIPp still had open when it had to be killed at the bound. */
  hung: number;
  perSecond: readonly CallsSecond[];
}>;

export type SipLoad = Readonly<{ stop: (graceMs: number) => Promise<SipLoadResult> }>;

export async function startSipLoad(spec: SipLoadSpec): Promise<SipLoad> {
  const ports = await freePorts(spec.targets.length);
  const mediaPorts: number[] = [];
  for (const _ of spec.targets) mediaPorts.push(await freeSippMediaPort());
  const startedMs = Date.now();
  const callers: { proc: SippProcess; dir: string }[] = spec.targets.map((target, i) => {
    const dir = join(spec.dir, `caller-${i}`);
    return {
      dir,
      proc: startSipp({
        scenario: scenarioPath('caller'), dir, remote: target, localPort: ports[i]!, mediaPort: mediaPorts[i]!, ...(spec.localIp === undefined ? {} : { localIp: spec.localIp }),
        service: spec.service, rate: spec.ratePerNode, limit: spec.concurrentPerNodeMax, timeoutS: spec.safetyTimeoutS,
        set: { hold_min_ms: spec.holdMsMin, hold_spread_ms: spec.holdMsSpread },
        extra: ['-recv_timeout', String(spec.recvTimeoutMs)],
      }),
    };
  });
  const stop = async (graceMs: number): Promise<SipLoadResult> => {
    for (const c of callers) c.proc.stopGracefully();
    const bounded = await Promise.race([Promise.all(callers.map((c) => c.proc.done)).then(() => true), sleep(graceMs).then(() => false)]);
    const results = await Promise.all(callers.map((c) => (bounded ? c.proc.done : c.proc.kill())));
    let created = 0, successful = 0, failed = 0, timeouts = 0, unexpected = 0, hung = 0;
    const finalFailures: Record<number, number> = {};
    const summaries: CallerSummary[] = [];
    for (const [i, r] of results.entries()) {
      const s = r.stats;
      created += s?.created ?? 0;
      successful += s?.successful ?? 0;
      failed += s?.failed ?? 0;
      timeouts += s?.failedTimeouts ?? 0;
      unexpected += r.unexpected;
      for (const [k, v] of Object.entries(r.finalFailures)) finalFailures[Number(k)] = (finalFailures[Number(k)] ?? 0) + v;
      // A call SIPp created but neither counted successful nor failed never ended.
      const open = s ? Math.max(0, s.created - s.successful - s.failed) : 0;
      hung += open;
      summaries.push({ node: spec.nodeIds[i]!, port: ports[i]!, created: s?.created ?? 0, successful: s?.successful ?? 0, failed: s?.failed ?? 0, timeouts: s?.failedTimeouts ?? 0, unexpected: r.unexpected, hung: open });
    }
    const answered = results.reduce((n, r) => n + r.rttMs.length, 0);
    return { results, callers: summaries, created, answered, successful, failed, finalFailures, timeouts, unexpected, hung, perSecond: perSecond(callers.map((c) => c.dir), startedMs) };
  };
  return { stop };
}

/** Merges the callers' periodic stats rows (-fd 1) into calls placed/succeeded/failed per
 * second since the load started, from the cumulative columns. */
function perSecond(dirs: readonly string[], startedMs: number): CallsSecond[] {
  const buckets = new Map<number, { placed: number; succeeded: number; failed: number }>();
  for (const dir of dirs) {
    const path = join(dir, 'stats.csv');
    if (!existsSync(path)) continue;
    const lines = readFileSync(path, 'utf8').split('\n').filter((l) => l.trim() !== '');
    const head = lines[0]?.split(';') ?? [];
    const col = (name: string): number => head.indexOf(name);
    const [tCol, cCol, sCol, fCol] = [col('CurrentTime'), col('TotalCallCreated'), col('SuccessfulCall(C)'), col('FailedCall(C)')];
    let prev = { c: 0, s: 0, f: 0 };
    for (const line of lines.slice(1)) {
      const row = line.split(';');
      // CurrentTime is "YYYY-MM-DD\tHH:MM:SS.micro\tepoch.micro": the epoch is last.
      const epochS = Number((row[tCol] ?? '').trim().split(/\s+/).pop());
      if (!Number.isFinite(epochS)) continue;
      const cur = { c: Number(row[cCol]) || 0, s: Number(row[sCol]) || 0, f: Number(row[fCol]) || 0 };
      const atS = Math.max(0, Math.floor((epochS * 1000 - startedMs) / 1000));
      const b = buckets.get(atS) ?? { placed: 0, succeeded: 0, failed: 0 };
      b.placed += Math.max(0, cur.c - prev.c);
      b.succeeded += Math.max(0, cur.s - prev.s);
      b.failed += Math.max(0, cur.f - prev.f);
      buckets.set(atS, b);
      prev = cur;
    }
  }
  return [...buckets.entries()].sort((a, b) => a[0] - b[0]).map(([atS, b]) => ({ atS, ...b }));
}
