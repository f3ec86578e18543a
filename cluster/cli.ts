// `ringfence <role>`: one binary for every process of the cluster. Each role lives in its
// own module and is imported only when asked for, so a role's start-up cost and failure
// modes never touch the others. Exit codes: common/last-resort.ts (README "Exit codes").
import { packageVersion, UsageError } from '../common/args.js';
import { ConfigError } from '../common/config.js';
import { createLogger } from '../common/logger.js';
import { exitCodes, installLastResort, type ExitCode } from '../common/last-resort.js';

type RoleMain = (argv: string[]) => Promise<void>;

const roles: Record<string, { summary: string; load: () => Promise<RoleMain> }> = {
  shard: { summary: 'one Raft replica of one DN shard', load: async () => (await import('./roles/shard.js')).main },
  store: { summary: 'a store: one replica of each of many DN shards, one log, one transport', load: async () => (await import('./roles/store.js')).main },
  sip: { summary: 'a SIP server node (registrar, B2BUA, router client)', load: async () => (await import('./roles/sip.js')).main },
  phones: { summary: 'demo agent phones: real SIP user agents that register, answer and echo RTP', load: async () => (await import('./roles/phones.js')).main },
  gateway: { summary: 'the media gateway (RTP/RTCP relay)', load: async () => (await import('./roles/gateway.js')).main },
  start: { summary: 'a whole local cluster, supervised', load: async () => (await import('./launcher.js')).main },
};

function usage(): string {
  const lines = Object.entries(roles).map(([name, r]) => `  ${name.padEnd(9)} ${r.summary}`);
  return `usage: ringfence <role> [flags]\n       ringfence --version\n\nroles:\n${lines.join('\n')}\n\nringfence <role> --help shows a role's flags.\nExit codes: 0 done, 1 start-up failed, 2 bad usage, 78 bad cluster file, 70 a bug, 74 storage failed.`;
}

/** How a role's start-up failure ends the process: a supervisor must not restart a bad
 * flag (2) or a bad cluster file (78) in a loop; anything else may heal on a retry (1). */
function exitCodeOf(err: unknown): ExitCode {
  if (err instanceof UsageError) return exitCodes.usage;
  if (err instanceof ConfigError) return exitCodes.config;
  return exitCodes.startFailed;
}

const [role, ...rest] = process.argv.slice(2);
if (role === '--version' || role === '-v') {
  process.stdout.write(`ringfence ${packageVersion()}\n`);
  process.exit(0);
}
if (!role || role === '--help' || role === '-h') {
  process.stdout.write(usage() + '\n');
  process.exit(role ? 0 : exitCodes.usage);
}
const entry = roles[role];
if (!entry) {
  process.stderr.write(`ringfence: unknown role ${JSON.stringify(role)}\n${usage()}\n`);
  process.exit(exitCodes.usage);
}
// Before the role's module loads: from here on, an exception nothing caught ends the
// process with one JSON log line and exit 70, never a half-working process.
installLastResort(createLogger({ role, pid: process.pid }));
let main: RoleMain;
try {
  main = await entry.load();
} catch (err) {
  if ((err as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND') {
    process.stderr.write(`ringfence: the ${role} role is not built yet (${(err as Error).message.split('\n')[0]})\n`);
    process.exit(exitCodes.notBuilt);
  }
  throw err;
}
try {
  await main(rest);
} catch (err) {
  const e = err as Error & { code?: string };
  process.stderr.write(`ringfence ${role}: ${e.code ? `${e.code}: ` : ''}${e.message}\n`);
  process.exit(exitCodeOf(err));
}
