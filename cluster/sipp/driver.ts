// SIPp (Debian sip-tester) as a child process for tests and benchmarks: builds the command
// line for our scenario files in cluster/sipp/scenarios/, runs it on 127.0.0.1 with its traces in a
// private directory, and reads back what SIPp itself counted — successful and failed calls
// by kind (-trace_stat), per-step message counts (-trace_counts, which tell a clean final
// 4xx-6xx from a timeout), and every INVITE→200 response time (-trace_rtt).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const SIPP_BUFF_BYTES = 4_194_304;

const scenarioDir = fileURLToPath(new URL('./scenarios/', import.meta.url));

export function scenarioPath(name: 'caller' | 'agent-answer' | 'agent-busy' | 'agent-noanswer' | 'register'): string {
  return join(scenarioDir, `${name}.xml`);
}

let cachedAvailable: boolean | undefined;

/** True when a `sipp` binary answers on PATH. */
export function sippAvailable(): boolean {
  if (cachedAvailable === undefined) {
    const r = spawnSync('sipp', ['-v'], { encoding: 'utf8', timeout: 5000 });
    cachedAvailable = r.error === undefined && /SIPp v\d/.test(`${r.stdout}${r.stderr}`);
  }
  return cachedAvailable;
}

type Skippable = { skip: (...args: never[]) => unknown };

/** For a test that needs SIPp: true when it can run. Without SIPp it skips the test, or
 * throws when REQUIRE_SIPP=1 (CI must not pass by skipping). */
export function needSipp(t: Skippable): boolean {
  if (sippAvailable()) return true;
  if (process.env.REQUIRE_SIPP === '1') throw new Error('REQUIRE_SIPP=1 but no working `sipp` on PATH (apt-get install -y sip-tester)');
  (t.skip as (msg: string) => void)('sipp not installed (apt-get install -y sip-tester); set REQUIRE_SIPP=1 to make this a failure');
  return false;
}

/** Binds a UDP socket on 127.0.0.1:port, or resolves null when the port is taken. */
export function bindUdp(port: number): Promise<dgram.Socket | null> {
  const s = dgram.createSocket('udp4');
  return new Promise((resolve) => {
    s.once('error', () => {
      s.close();
      resolve(null);
    });
    s.bind(port, '127.0.0.1', () => resolve(s));
  });
}

/** SIPp binds its -mp port and the three above it (audio RTP/RTCP, video RTP/RTCP), and
 * exits at once when any is taken: a port that is merely free for TCP (freePorts) made a
 * bench step fail with "Unable to bind audio RTP socket". This finds an even base whose
 * four UDP ports were all free a moment ago. */
export async function freeSippMediaPort(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const probe = await bindUdp(0);
    if (probe === null) continue;
    const port = (probe.address() as { port: number }).port;
    probe.close();
    const base = port - (port % 2);
    if (base + 3 > 65535) continue;
    const held = await Promise.all([0, 1, 2, 3].map((o) => bindUdp(base + o)));
    await Promise.all(held.map((s) => (s === null ? undefined : new Promise<void>((r) => s.close(() => r())))));
    if (held.every((s) => s !== null)) return base;
  }
  throw new Error('no four consecutive free UDP ports for SIPp media');
}

export type SippOptions = Readonly<{
  scenario: string;
  /** Directory for SIPp's trace files (its working directory). */
  dir: string;
  /** host:port to send to (a UAC's target); omitted for a pure UAS. */
  remote?: string;
  localPort: number;
  /** Address SIPp binds for SIP and media (-i, -mi); 127.0.0.1 unless set (the root
   * namespace's bridge address when the cluster is in network namespaces). */
  localIp?: string;
  /** RTP port for -mp (and -rtp_echo); pick it with freeSippMediaPort(). */
  mediaPort?: number;
  rtpEcho?: boolean;
  service?: string;
  rate?: number;
  ratePeriodMs?: number;
  maxCalls?: number;
  /** Most simultaneous calls (-l); defaults to maxCalls. */
  limit?: number;
  /** Global timeout (-timeout, seconds): SIPp quits after it, and is SIGKILLed 10 s later
   * if it has not. */
  timeoutS?: number;
  set?: Readonly<Record<string, string | number>>;
  keys?: Readonly<Record<string, string | number>>;
  /** Injection file (-inf), e.g. "dn;password" lines for register.xml. */
  inf?: string;
  extra?: readonly string[];
  buffBytes?: number;
}>;

export type SippStats = Readonly<{
  successful: number;
  failed: number;
  failedTimeouts: number;
  failedUnexpected: number;
  failedRetrans: number;
  outOfCallMsgs: number;
  deadCallMsgs: number;
  retransmissions: number;
  created: number;
  /** Every "(C)" column of the last stats line, by name without the suffix. */
  all: Readonly<Record<string, number>>;
}>;

export type SippResult = Readonly<{
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  stats: SippStats | null;
  /** Per-step message counts: "<step>_<message>_<Recv|Sent|Unexp|Timeout|Retrans>". */
  counts: Readonly<Record<string, number>>;
  /** Final responses 300-699 received, by status (the scenario's clean failures). */
  finalFailures: Readonly<Record<number, number>>;
  finalFailuresTotal: number;
  /** Unexpected messages counted at any step. */
  unexpected: number;
  /** INVITE→200 response times in ms (SIPp counts whole milliseconds). */
  rttMs: readonly number[];
  /** The tail of SIPp's error log, for failure messages. */
  errorLog: string;
  stderr: string;
}>;

export type SippProcess = Readonly<{
  pid: number;
  args: readonly string[];
  /** Resolves when SIPp exits (by itself or after stop/kill). */
  done: Promise<SippResult>;
  /** SIGUSR1 asks SIPp to stop placing calls and quit once the calls in progress end. */
  stopGracefully: () => void;
  kill: () => Promise<SippResult>;
}>;

export function sippArgs(o: SippOptions): string[] {
  const a = ['-sf', o.scenario, '-i', o.localIp ?? '127.0.0.1', '-p', String(o.localPort), '-mi', o.localIp ?? '127.0.0.1', '-nostdin'];
  a.push('-buff_size', String(o.buffBytes ?? SIPP_BUFF_BYTES));
  a.push('-trace_stat', '-stf', 'stats.csv', '-fd', '1', '-trace_counts', '-trace_err', '-error_file', 'errors.log');
  a.push('-trace_rtt', '-rtt_freq', '1');
  if (o.mediaPort !== undefined) a.push('-mp', String(o.mediaPort));
  if (o.rtpEcho) a.push('-rtp_echo');
  if (o.service !== undefined) a.push('-s', o.service);
  if (o.rate !== undefined) a.push('-r', String(o.rate));
  if (o.ratePeriodMs !== undefined) a.push('-rp', `${o.ratePeriodMs}ms`);
  if (o.maxCalls !== undefined) a.push('-m', String(o.maxCalls));
  // SIPp's own default caps simultaneous calls near 3 x rate x -d, which throttles the
  // offered rate once calls are held or queued: default to the whole bounded run instead.
  const limit = o.limit ?? o.maxCalls;
  if (limit !== undefined) a.push('-l', String(limit));
  if (o.timeoutS !== undefined) a.push('-timeout', `${o.timeoutS}s`);
  for (const [k, v] of Object.entries(o.set ?? {})) a.push('-set', k, String(v));
  for (const [k, v] of Object.entries(o.keys ?? {})) a.push('-key', k, String(v));
  if (o.inf !== undefined) a.push('-inf', o.inf);
  a.push(...(o.extra ?? []));
  if (o.remote !== undefined) a.push(o.remote);
  return a;
}

const live = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const c of live) c.kill('SIGKILL');
  });
}

/** Starts SIPp. Register `kill` in the test's teardown (startSippFor does that). */
export function startSipp(o: SippOptions): SippProcess {
  mkdirSync(o.dir, { recursive: true });
  const args = sippArgs(o);
  const child = spawn('sipp', args, { cwd: o.dir, stdio: ['ignore', 'ignore', 'pipe'] });
  installExitHook();
  live.add(child);
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => {
    if (stderr.length < 64_000) stderr += d.toString('utf8');
  });
  const done = new Promise<SippResult>((resolve) => {
    const finish = (code: number | null, signal: NodeJS.Signals | null): void => {
      live.delete(child);
      resolve(readResult(o.dir, child.pid ?? -1, code, signal, stderr));
    };
    child.once('error', (err) => {
      stderr += `\nspawn failed: ${err.message}`;
      finish(null, null);
    });
    child.once('exit', finish);
  });
  const kill = async (): Promise<SippResult> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    return done;
  };
  // SIPp's -timeout does not end a run whose last calls hang in retransmissions: enforce it.
  if (o.timeoutS !== undefined) {
    const guard = setTimeout(() => void kill(), (o.timeoutS + 10) * 1000);
    guard.unref();
    void done.then(() => clearTimeout(guard));
  }
  const stopGracefully = (): void => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGUSR1');
  };
  return { pid: child.pid ?? -1, args, done, kill, stopGracefully };
}

/** startSipp with a tap teardown that kills it even when the test fails. */
export function startSippFor(t: { teardown: (fn: () => unknown) => void }, o: SippOptions): SippProcess {
  const p = startSipp(o);
  t.teardown(() => p.kill());
  return p;
}

function lastCsvRow(path: string): Record<string, string> | null {
  if (!existsSync(path)) return null;
  const lines = readFileSync(path, 'utf8').split('\n').filter((l) => l.trim() !== '');
  if (lines.length < 2) return null;
  const head = lines[0]!.split(';');
  const row = lines[lines.length - 1]!.split(';');
  const out: Record<string, string> = {};
  head.forEach((h, i) => {
    if (h !== '') out[h] = row[i] ?? '';
  });
  return out;
}

export function parseStats(row: Record<string, string>): SippStats {
  const all: Record<string, number> = {};
  for (const [k, v] of Object.entries(row)) {
    // Cumulative columns end in "(C)"; TotalCallCreated has no suffix.
    if (/^-?\d+(\.\d+)?$/.test(v) && (k.endsWith('(C)') || k === 'TotalCallCreated')) all[k.replace(/\(C\)$/, '')] = Number(v);
  }
  const n = (k: string): number => all[k] ?? 0;
  return {
    successful: n('SuccessfulCall'),
    failed: n('FailedCall'),
    failedTimeouts: n('FailedTimeoutOnRecv') + n('FailedTimeoutOnSend'),
    failedUnexpected: n('FailedUnexpectedMessage'),
    failedRetrans: n('FailedMaxUDPRetrans'),
    outOfCallMsgs: n('OutOfCallMsgs'),
    deadCallMsgs: n('DeadCallMsgs'),
    retransmissions: n('Retransmissions'),
    created: n('TotalCallCreated'),
    all,
  };
}

function readResult(dir: string, pid: number, exitCode: number | null, signal: NodeJS.Signals | null, stderr: string): SippResult {
  const statsRow = lastCsvRow(join(dir, 'stats.csv'));
  const files = existsSync(dir) ? readdirSync(dir) : [];
  const countsFile = files.find((f) => f.endsWith(`_${pid}_counts.csv`));
  const countsRow = countsFile === undefined ? null : lastCsvRow(join(dir, countsFile));
  const counts: Record<string, number> = {};
  const finalFailures: Record<number, number> = {};
  let finalFailuresTotal = 0;
  let unexpected = 0;
  for (const [k, v] of Object.entries(countsRow ?? {})) {
    const m = /^\d+_(.+)_(Recv|Sent|Unexp|Timeout|Retrans|Sessions)$/.exec(k);
    if (m === null) continue;
    const value = Number(v) || 0;
    counts[k] = value;
    if (m[2] === 'Unexp') unexpected += value;
    if (m[2] === 'Recv' && value > 0 && /^[3-6]\d\d$/.test(m[1]!)) {
      const status = Number(m[1]);
      finalFailures[status] = (finalFailures[status] ?? 0) + value;
      finalFailuresTotal += value;
    }
  }
  const rttFile = files.find((f) => f.endsWith(`_${pid}_rtt.csv`));
  const rttMs: number[] = [];
  if (rttFile !== undefined) {
    for (const line of readFileSync(join(dir, rttFile), 'utf8').split('\n')) {
      const parts = line.split(';');
      if (parts.length >= 3 && /^\d/.test(parts[0]!)) rttMs.push(Number(parts[1]));
    }
  }
  const errPath = join(dir, 'errors.log');
  const errorLog = existsSync(errPath) ? readFileSync(errPath, 'utf8').slice(-4000) : '';
  return { exitCode, signal, stats: statsRow === null ? null : parseStats(statsRow), counts, finalFailures, finalFailuresTotal, unexpected, rttMs, errorLog, stderr };
}

/** The q-quantile (0..1) of `values`, nearest rank; NaN when empty. */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank]!;
}

export type SippLoggedMessage = Readonly<{ direction: 'sent' | 'received'; text: string }>;

/** The SIP messages a SIPp run logged with `-trace_msg` (in `extra`), oldest first, read
 * from `<scenario>_<pid>_messages.log` in its directory; [] when there is no such log. */
export function sippMessageLog(dir: string, pid: number): SippLoggedMessage[] {
  const file = existsSync(dir) ? readdirSync(dir).find((f) => f.endsWith(`_${pid}_messages.log`)) : undefined;
  if (file === undefined) return [];
  const out: SippLoggedMessage[] = [];
  // Each entry: a dashed line with a timestamp, "<T> message sent|received ...", a blank
  // line, then the message.
  for (const block of readFileSync(join(dir, file), 'utf8').split(/^-{20,} .*$/m)) {
    const m = /^\s*\S+ message (sent|received)[^\n]*\n\n([\s\S]*)$/.exec(block);
    if (m !== null) out.push({ direction: m[1] as 'sent' | 'received', text: m[2]!.trimEnd() });
  }
  return out;
}
