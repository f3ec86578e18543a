// The last-resort handler of every role process, and the exit codes a supervisor (systemd,
// the launcher, a test) sees. An exception that escapes every handler, or a promise
// rejected with nobody listening, means the process is in a state nobody planned for: it
// may hold half-updated tables or a socket nobody reads. Carrying on risks serving wrong
// answers or wedging; Node's default ends it with a bare stack on stderr and exit 1, the
// same code as a failed start. Instead it logs one JSON line (with the stack) and exits
// with a code of its own, so the supervisor restarts it cleanly and an operator can tell
// a bug from a bad flag. Raft and the replicated state recover the rest on restart.
import type { Logger } from './logger.js';

/** Exit codes of `ringfence <role>` (README "Exit codes"); sysexits.h numbering where one fits. */
export const exitCodes = Object.freeze({
  /** Start-up failed for a reason outside the flags and the cluster file (a port in
   * use, a replica's data directory locked), reported on stderr: may heal on a retry. */
  startFailed: 1,
  /** Bad usage: unknown role, unknown or malformed flag, a flag naming what is not there.
   * A restart cannot fix it (RestartPreventExitStatus). */
  usage: 2,
  /** The role's module is not built. */
  notBuilt: 3,
  /** EX_SOFTWARE: an uncaught exception or unhandled rejection (a bug); restart me. */
  software: 70,
  /** EX_IOERR: storage failed (disk full, I/O error); nothing more was acknowledged. */
  storage: 74,
  /** EX_CONFIG: the cluster file is unreadable, not YAML, or has a bad or unknown field.
   * A restart cannot fix it (RestartPreventExitStatus). */
  config: 78,
});

export type ExitCode = (typeof exitCodes)[keyof typeof exitCodes];

let installed = false;
let exiting = false;

/** Logs `msg` with the error and its stack, then ends the process with `code`. Logging
 * is synchronous (stderr is a file or a pipe), so the line is out before the exit; a
 * second fatal error while exiting does not log over the first. */
export function exitFatal(log: Logger, msg: string, err: unknown, code: ExitCode): never {
  if (!exiting) {
    exiting = true;
    try {
      log.error(msg, { ...errorFields(err), exitCode: code });
    } catch {
      // a logger that throws must not keep the process alive
    }
  }
  process.exit(code);
}

/** Installs the process-wide handlers once (the CLI, before a role starts). */
export function installLastResort(log: Logger): void {
  if (installed) return;
  installed = true;
  process.on('uncaughtException', (err) => exitFatal(log, 'uncaught exception', err, exitCodes.software));
  process.on('unhandledRejection', (reason) => exitFatal(log, 'unhandled rejection', reason, exitCodes.software));
}

export function errorFields(err: unknown): Record<string, unknown> {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return { err: err.message, name: err.name, ...(code !== undefined ? { code: String(code) } : {}), stack: err.stack ?? null };
  }
  let text: string;
  try {
    text = typeof err === 'string' ? err : JSON.stringify(err) ?? String(err);
  } catch {
    text = String(err);
  }
  return { err: text, stack: null };
}
