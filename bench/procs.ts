// Child processes for benchmarks: spawn, wait for a "ready" line, keep a short tail of the
// output for error messages, and make sure every process started here dies with the
// bench — on normal exit, on SIGINT/SIGTERM, and through explicit stop() in finally blocks.
// Also CPU time of a pid from /proc and the machine's CPU shares. Free ports come from
// cluster/local-cluster.ts's freePorts, which the local clusters and the tests use too.

import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, readFileSync, type WriteStream } from 'node:fs';
import { createInterface } from 'node:readline';

/** Lines of output kept per process for diagnostics. */
const TAIL_LINES_MAX = 60;
/** Clock ticks per second of /proc/<pid>/stat times (USER_HZ; 100 on every Linux ABI we run on). */
const CLOCK_TICKS_PER_SECOND = 100;
const READY_TIMEOUT_MS_DEFAULT = 20_000;
const STOP_GRACE_MS_DEFAULT = 3_000;

export type ExitStatus = Readonly<{ code: number | null; signal: NodeJS.Signals | null }>;

export type SpawnOptions = Readonly<{
  /** Short label used in errors and progress lines. */
  name: string;
  command: string;
  args: readonly string[];
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Which stream carries the ready line (etcd logs on stderr). Default stdout. */
  readyStream?: 'stdout' | 'stderr';
  /** Ready predicate over one output line; without it the process counts as ready at once. */
  isReady?: (line: string) => boolean;
  readyTimeoutMs?: number;
  /** Append all output to this file as well (useful for etcd logs). */
  logFile?: string;
  /** Called for every stdout line after spawn (e.g. to parse JSON events). */
  onStdoutLine?: (line: string) => void;
}>;

/** A started child. `stop()` is idempotent and always safe to call from finally blocks. */
export class ManagedProcess {
  readonly name: string;
  readonly child: ChildProcess;
  readonly pid: number;
  private readonly tailLines: string[] = [];
  private exitStatus: ExitStatus | null = null;
  private readonly exitPromise: Promise<ExitStatus>;

  constructor(name: string, child: ChildProcess) {
    if (child.pid === undefined) throw new Error(`spawn of ${name} failed (no pid)`);
    this.name = name;
    this.child = child;
    this.pid = child.pid;
    this.exitPromise = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.exitStatus = { code, signal };
        live.delete(this);
        resolve(this.exitStatus);
      });
    });
  }

  get exited(): ExitStatus | null {
    return this.exitStatus;
  }

  /** The last lines this process printed (stdout and stderr interleaved). */
  tail(): readonly string[] {
    return this.tailLines;
  }

  /** @internal */
  remember(line: string): void {
    this.tailLines.push(line);
    if (this.tailLines.length > TAIL_LINES_MAX) this.tailLines.shift();
  }

  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    if (this.exitStatus === null) this.child.kill(signal);
  }

  waitExit(): Promise<ExitStatus> {
    return this.exitPromise;
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves once the process is gone. */
  async stop(graceMs = STOP_GRACE_MS_DEFAULT): Promise<ExitStatus> {
    if (this.exitStatus !== null) return this.exitStatus;
    this.kill('SIGTERM');
    const timer = setTimeout(() => this.kill('SIGKILL'), graceMs);
    try {
      return await this.exitPromise;
    } finally {
      clearTimeout(timer);
    }
  }
}

const live = new Set<ManagedProcess>();
const exitCleanups = new Set<() => void>();
let handlersInstalled = false;

/** Registers a synchronous cleanup (e.g. removing a temp dir) to run when this process
 * exits or is interrupted, after every child was killed. Returns the unregister function. */
export function onExitCleanup(fn: () => void): () => void {
  installExitHandlers();
  exitCleanups.add(fn);
  return () => exitCleanups.delete(fn);
}

/** Kills every process started through this module that is still running. Synchronous, so
 * it works from an 'exit' handler. */
export function killAll(signal: NodeJS.Signals = 'SIGKILL'): void {
  for (const p of live) p.kill(signal);
}

function installExitHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.on('exit', () => {
    killAll('SIGKILL');
    for (const fn of exitCleanups) {
      try {
        fn();
      } catch {
        // best effort: the process is going away
      }
    }
  });
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(sig, () => {
      killAll('SIGKILL');
      process.exit(sig === 'SIGINT' ? 130 : 143);
    });
  }
}

/** Spawns a child and resolves once its ready line appeared (or at once without
 * `isReady`). Rejects with the output tail if it exits or times out first; the child is
 * killed in that case. */
export async function spawnProcess(opts: SpawnOptions): Promise<{ proc: ManagedProcess; readyLine: string | null }> {
  installExitHandlers();
  // stdin stays a pipe: children written for benches exit when it closes (parent gone).
  const child = spawn(opts.command, [...opts.args], {
    cwd: opts.cwd,
    env: opts.env ?? process.env,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const proc = new ManagedProcess(opts.name, child);
  live.add(proc);
  const log: WriteStream | null = opts.logFile ? createWriteStream(opts.logFile, { flags: 'a' }) : null;
  void proc.waitExit().then(() => log?.end());

  let onReady: ((line: string) => void) | null = null;
  const watch = (stream: 'stdout' | 'stderr'): void => {
    const rl = createInterface({ input: child[stream]!, crlfDelay: Infinity });
    rl.on('line', (line) => {
      proc.remember(line);
      log?.write(line + '\n');
      if (stream === 'stdout') opts.onStdoutLine?.(line);
      if (onReady && stream === (opts.readyStream ?? 'stdout') && opts.isReady?.(line)) onReady(line);
    });
  };
  watch('stdout');
  watch('stderr');

  if (!opts.isReady) return { proc, readyLine: null };
  const timeoutMs = opts.readyTimeoutMs ?? READY_TIMEOUT_MS_DEFAULT;
  try {
    const readyLine = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(failure(proc, `not ready after ${timeoutMs} ms`)), timeoutMs);
      onReady = (line) => {
        clearTimeout(timer);
        resolve(line);
      };
      child.once('error', (err) => {
        clearTimeout(timer);
        reject(failure(proc, `spawn error: ${err.message}`));
      });
      void proc.waitExit().then((st) => {
        clearTimeout(timer);
        reject(failure(proc, `exited before ready (code ${st.code}, signal ${st.signal})`));
      });
    });
    onReady = null;
    return { proc, readyLine };
  } catch (err) {
    proc.kill('SIGKILL');
    throw err;
  }
}

function failure(proc: ManagedProcess, what: string): Error {
  return new Error(`${proc.name} (pid ${proc.pid}) ${what}; last output:\n  ${proc.tail().slice(-12).join('\n  ')}`);
}

/** `node --import tsx <file> ...args` with the current Node binary (how benches start
 * TypeScript children). Extra node flags (e.g. --cpu-prof) go in `nodeFlags`. */
export function nodeTsCommand(
  file: string,
  args: readonly string[],
  nodeFlags: readonly string[] = [],
): { command: string; args: string[] } {
  return { command: process.execPath, args: [...nodeFlags, '--import', 'tsx', file, ...args] };
}

/** CPU ms from two clock-tick fields of /proc/<pid>/stat (or /proc/self/stat), counted
 * from field 1; null if the file cannot be read (the process is gone). */
function statTicksMs(path: string, fieldA: number, fieldB: number): number | null {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return null;
  }
  // The command name (field 2) may contain spaces and parentheses: parse after the last ')',
  // where rest[0] is field 3 (state).
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(rest[fieldA - 3]) + Number(rest[fieldB - 3]);
  return Number.isFinite(ticks) ? (ticks * 1000) / CLOCK_TICKS_PER_SECOND : null;
}

/** User + system CPU time of a live process in milliseconds (utime and stime, fields 14
 * and 15 of /proc/<pid>/stat); null if the process is gone. */
export function cpuTimeMs(pid: number): number | null {
  return statTicksMs(`/proc/${pid}/stat`, 14, 15);
}

/** CPU time (user + system, ms) of this process's children that have exited and been
 * reaped (cutime and cstime, fields 16 and 17 of /proc/self/stat): the kernel adds a
 * child's time there when its parent waits for it, so a process that is gone by the time
 * anyone reads it (a SIPp that exits at the end of a step) is still accounted. Null if
 * /proc cannot be read. */
export function reapedChildrenCpuMs(): number | null {
  return statTicksMs('/proc/self/stat', 16, 17);
}

/** Read and write system calls a live process made so far (/proc/<pid>/io: every
 * socket write, pipe write and file write counts); null if unavailable. */
export function ioSyscalls(pid: number): { reads: number; writes: number } | null {
  try {
    const text = readFileSync(`/proc/${pid}/io`, 'utf8');
    const reads = Number(/^syscr:\s*(\d+)/m.exec(text)?.[1]);
    const writes = Number(/^syscw:\s*(\d+)/m.exec(text)?.[1]);
    return Number.isFinite(reads) && Number.isFinite(writes) ? { reads, writes } : null;
  } catch {
    return null;
  }
}

/** The machine's cumulative CPU time by kind, in clock ticks summed over all CPUs (the
 * first line of /proc/stat), and how many CPUs it has (its cpuN lines). `steal` is time
 * the hypervisor gave another guest while this one had work: a shared VM's noisy
 * neighbours show up there. */
export type HostCpuTicks = { busy: number; idle: number; steal: number; cpus: number };

/** HostCpuTicks taken at `atMs` (a monotonic clock, ms). */
export type HostCpuSample = HostCpuTicks & { atMs: number };

/** Parses the aggregate `cpu` line of /proc/stat (user nice system idle iowait irq
 * softirq steal …) and counts the per-CPU lines; null when it is missing or malformed. */
export function parseHostCpu(procStat: string): HostCpuTicks | null {
  const line = /^cpu\s+(.*)$/m.exec(procStat)?.[1];
  if (line === undefined) return null;
  const f = line.trim().split(/\s+/).map(Number);
  if (f.length < 8 || f.slice(0, 8).some((n) => !Number.isFinite(n))) return null;
  const [user, nice, system, idle, iowait, irq, softirq, steal] = f as [number, number, number, number, number, number, number, number];
  const cpus = procStat.match(/^cpu\d+\s/gm)?.length ?? 0;
  if (cpus === 0) return null;
  return { busy: user + nice + system + irq + softirq, idle: idle + iowait, steal, cpus };
}

export function hostCpuTicks(): HostCpuSample | null {
  try {
    const ticks = parseHostCpu(readFileSync('/proc/stat', 'utf8'));
    return ticks === null ? null : { ...ticks, atMs: performance.now() };
  } catch {
    return null;
  }
}

/** The machine's CPU time between two samples, in ms summed over all CPUs: elapsed,
 * stolen, and busy. Busy is the time neither idle nor stolen. /proc/stat's busy fields
 * come from sampling at the scheduler tick, which a CPU that sleeps between ticks (NO_HZ)
 * does not take, so bursts shorter than a tick go unsampled. With SIPp at 2,000 calls/s
 * on 2 CPUs, a second held 5 busy ticks, 158 idle and 0 stolen: 37 of 200 were in no
 * field, while the answering SIPp alone ran for 18–21 (/proc/<pid>/stat, whose totals
 * come from the scheduler's exact runtime). Idle time is measured exactly too, so elapsed
 * minus idle minus steal counts those bursts; the sampled busy time is a floor. Null
 * without a usable pair. */
function hostCpuTimes(before: HostCpuSample | null, after: HostCpuSample | null): { totalMs: number; busyMs: number; stealMs: number } | null {
  if (before === null || after === null || after.cpus !== before.cpus) return null;
  const toMs = (ticks: number): number => (ticks * 1000) / CLOCK_TICKS_PER_SECOND;
  const totalMs = (after.atMs - before.atMs) * after.cpus;
  const idleMs = toMs(after.idle - before.idle);
  const stealMs = toMs(after.steal - before.steal);
  const sampledBusyMs = toMs(after.busy - before.busy);
  if (!(totalMs > 0) || idleMs < 0 || stealMs < 0 || sampledBusyMs < 0) return null;
  const busyMs = Math.min(Math.max(totalMs - idleMs - stealMs, sampledBusyMs), Math.max(totalMs - stealMs, 0));
  return { totalMs, busyMs, stealMs };
}

/** Shares of the machine's CPU time between two samples, in percent: busy (this guest's
 * work, all processes) and stolen (by the hypervisor). Null without a usable pair. */
export function hostCpuShare(before: HostCpuSample | null, after: HostCpuSample | null): { busyPct: number; stealPct: number } | null {
  const t = hostCpuTimes(before, after);
  if (t === null) return null;
  const pct = (ms: number): number => Math.round((1000 * ms) / t.totalMs) / 10;
  return { busyPct: Math.min(pct(t.busyMs), 100), stealPct: Math.min(pct(t.stealMs), 100) };
}

/** Busy CPU time of the whole machine between two samples, in ms summed over all CPUs
 * (every process, the kernel's softirq work included); null without a usable pair. */
export function hostBusyMs(before: HostCpuSample | null, after: HostCpuSample | null): number | null {
  const t = hostCpuTimes(before, after);
  return t === null ? null : Math.round(t.busyMs);
}

/** CPU time (ms) of named groups of processes, each the sum over its pids; null for a
 * group with a pid that is gone, whose time /proc no longer holds. */
export function groupCpuMs(groups: Readonly<Record<string, readonly number[]>>): Record<string, number | null> {
  const out: Record<string, number | null> = {};
  for (const [name, pids] of Object.entries(groups)) {
    let sum = 0;
    for (const pid of pids) {
      const ms = cpuTimeMs(pid);
      if (ms === null) {
        sum = Number.NaN;
        break;
      }
      sum += ms;
    }
    out[name] = Number.isNaN(sum) ? null : sum;
  }
  return out;
}

/** The change per unit of each named running total between two samples (the CPU ms of
 * groupCpuMs per call, a store's messages per cycle), rounded to 0.01; a total missing
 * from either sample (a group whose processes died), or that went back, is left out. */
export function deltaPerUnit(before: Record<string, number | null>, after: Record<string, number | null>, units: number): Record<string, number> {
  const out: Record<string, number> = {};
  if (!(units > 0)) return out;
  for (const [name, a] of Object.entries(after)) {
    const b = before[name];
    if (a === null || b === null || b === undefined || a < b) continue;
    out[name] = Math.round((100 * (a - b)) / units) / 100;
  }
  return out;
}

/** CPU time of this process (user + system) in milliseconds. */
export function selfCpuTimeMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}
