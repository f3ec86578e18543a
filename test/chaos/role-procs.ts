// Every process of a chaos cluster behind one start/kill/restart-by-id interface. Shard
// replicas and the gateway run through common/local-cluster's ProcessSet (`ringfence
// <role>`); the SIP node and phone roles do too once common/cli.ts lists them, and until
// then through test/sipp/run-role.ts, the same main() behind a different entry script.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, readFileSync, type WriteStream } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ProcessSet, type ProcRole } from '../../common/local-cluster.js';

const cliSource = readFileSync(fileURLToPath(new URL('../../common/cli.ts', import.meta.url)), 'utf8');
const runRolePath = fileURLToPath(new URL('../sipp/run-role.ts', import.meta.url));

export function cliHasRole(role: string): boolean {
  return new RegExp(`^\\s+${role}: \\{`, 'm').test(cliSource);
}

/** True when the role's code is in the tree at all (through the CLI or run-role.ts). */
export function roleAvailable(role: 'sip' | 'phones'): boolean {
  if (cliHasRole(role)) return true;
  const main = fileURLToPath(new URL(role === 'sip' ? '../../sip/node/main.ts' : '../../sip/phones/main.ts', import.meta.url));
  return existsSync(main) && existsSync(runRolePath);
}

type Own = { role: ProcRole; child: ChildProcess | null; ready: Record<string, unknown> | null };

export class RoleProcs {
  readonly set: ProcessSet;
  readonly #own = new Map<string, Own>();
  readonly #log: WriteStream;
  #closed = false;

  constructor(readonly configPath: string, readonly logPath: string) {
    this.set = new ProcessSet(configPath, { logFile: logPath });
    this.#log = createWriteStream(`${logPath}.roles`, { flags: 'a' });
  }

  #viaSet(role: ProcRole): boolean {
    return role === 'shard' || role === 'gateway' || cliHasRole(role);
  }

  /** Starts the role and resolves with its ready line (rejects if it dies first). */
  start(role: ProcRole, id: string, extra: readonly string[] = [], timeoutMs = 120_000): Promise<Record<string, unknown>> {
    if (this.#viaSet(role)) return this.set.start(role, id, extra, timeoutMs);
    if (this.#closed) return Promise.reject(new Error('process set closed'));
    const p: Own = this.#own.get(id) ?? { role, child: null, ready: null };
    this.#own.set(id, p);
    const child = spawn(process.execPath, ['--import', 'tsx', runRolePath, role, '--config', this.configPath, '--id', id, ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
    p.child = child;
    p.ready = null;
    child.stderr!.on('data', (d: Buffer) => this.#log.write(d));
    return new Promise((resolve, reject) => {
      let buf = '';
      const timer = setTimeout(() => reject(new Error(`${role} ${id} not ready within ${timeoutMs} ms`)), timeoutMs);
      child.stdout!.on('data', (d: Buffer) => {
        buf += d.toString('utf8');
        for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          this.#log.write(`[${id} stdout] ${line}\n`);
          try {
            const ev = JSON.parse(line) as Record<string, unknown>;
            if (ev.event === 'ready' && p.ready === null) {
              p.ready = ev;
              clearTimeout(timer);
              resolve(ev);
            }
          } catch {
            // plain output
          }
        }
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        if (p.ready === null) reject(new Error(`${role} ${id} exited (${signal ?? code}) before it was ready; see ${this.logPath}.roles`));
      });
    });
  }

  /** Every process ever started, with its role. */
  all(): { id: string; role: ProcRole }[] {
    return [
      ...[...this.set.procs.values()].map((p) => ({ id: p.id, role: p.role })),
      ...[...this.#own.entries()].map(([id, p]) => ({ id, role: p.role })),
    ];
  }

  #child(id: string): ChildProcess | null {
    return this.#own.get(id)?.child ?? this.set.procs.get(id)?.child ?? null;
  }

  pid(id: string): number | null {
    const c = this.#child(id);
    return c && c.exitCode === null && c.signalCode === null ? c.pid ?? null : null;
  }

  isRunning(id: string): boolean {
    return this.pid(id) !== null;
  }

  /** SIGKILL by pid; resolves once the process is gone. */
  async kill(id: string): Promise<void> {
    if (!this.#own.has(id)) return this.set.kill(id, 'SIGKILL');
    const c = this.#child(id);
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const gone = new Promise<void>((r) => c.once('exit', () => r()));
    process.kill(c.pid!, 'SIGKILL');
    await gone;
  }

  async stopAll(graceMs = 3000): Promise<void> {
    this.#closed = true;
    await Promise.all([...this.#own.values()].map(async (p) => {
      const c = p.child;
      if (!c || c.exitCode !== null || c.signalCode !== null) return;
      const gone = new Promise<void>((r) => c.once('exit', () => r()));
      c.kill('SIGTERM');
      const t = setTimeout(() => c.kill('SIGKILL'), graceMs);
      await gone;
      clearTimeout(t);
    }));
    await this.set.stopAll(graceMs);
    this.#log.end();
  }

  killAllNow(): void {
    this.set.killAllNow();
    for (const p of this.#own.values()) if (p.child && p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
  }
}
