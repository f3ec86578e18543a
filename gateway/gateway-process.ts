// Entry point of the media gateway process:
//   node --import tsx gateway/gateway-process.ts --control 127.0.0.1:0 --ports 30000-40000
// Prints one JSON line per event on stdout: {"event":"listening","control":<port>,...}
// once the control socket is bound, {"event":"timed-out","callId":...} when a call's media
// times out, {"event":"stopped"} after SIGTERM/SIGINT closed every socket. Bad flags (or a
// missing, malformed or world-readable --ng-key-file, or a --prompts-dir file that is not
// an 8 kHz mono WAV) print the reason (naming the file) and usage on stderr and exit 2.

import { readFileSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import type { HostPort } from '../common/config.js';
import { startGatewayAdmin } from './admin.js';
import { parseArgs, USAGE, type ProcessOptions } from './cli-args.js';
import { ControlServer } from './control-server.js';
import { Gateway } from './gateway.js';
import { GatewayMetrics } from './metrics.js';
import { PromptLibrary } from './prompts.js';

function emit(event: Record<string, unknown>): void {
  process.stdout.write(JSON.stringify(event) + '\n');
}

/** The ng key from a file holding 64 hex digits. A file other users may read is refused:
 * whoever reads the key controls every call's media. */
export function readNgKeyFile(path: string): Buffer {
  let mode: number;
  let text: string;
  try {
    mode = statSync(path).mode;
    text = readFileSync(path, 'utf8').trim();
  } catch (e) {
    throw new Error(`--ng-key-file: cannot read ${path}: ${(e as Error).message}`);
  }
  if ((mode & 0o007) !== 0) throw new Error(`--ng-key-file: ${path} is accessible to every user (mode ${(mode & 0o777).toString(8)}); chmod 600 it`);
  if (!/^[0-9a-fA-F]{64}$/.test(text)) throw new Error(`--ng-key-file: ${path} must hold a 32-byte key as 64 hex digits`);
  return Buffer.from(text, 'hex');
}

export type RunGatewayOptions = Readonly<{
  /** Fields added to the listening event (the cluster CLI adds its id and the `ready`
   * event its supervisor waits for). */
  ready?: Record<string, unknown>;
  /** The ng key, when the caller derived it (cluster/roles/gateway.ts); otherwise it comes
   * from --ng-key-file. */
  ngKey?: Buffer;
  /** The admin REST (/metrics, /v1/status, /healthz, /readyz) and its tokens: the cluster
   * file's `gateways[].admin` and `tokens` (cluster/roles/gateway.ts). None when absent. */
  admin?: Readonly<{ id: string; address: HostPort; tokens: Readonly<{ read: string; admin: string }> }>;
}>;

/** Runs the gateway with command-line flags, or with options a caller parsed already
 * (`ringfence gateway`, whose flags are a superset). */
export async function runGateway(argv: string[] | ProcessOptions, o: RunGatewayOptions = {}): Promise<void> {
  let opts: ProcessOptions;
  let key: Buffer | null;
  let prompts: PromptLibrary;
  try {
    opts = Array.isArray(argv) ? parseArgs(argv) : argv;
    if (!opts.ngAuth) key = null;
    else if (o.ngKey !== undefined) key = o.ngKey;
    else if (opts.ngKeyFile !== null) key = readNgKeyFile(opts.ngKeyFile);
    else throw new Error('--ng-key-file PATH is required (or --ng-auth off, for a gateway behind a firewall)');
    prompts = PromptLibrary.load(opts.promptsDir);
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n${USAGE}\n`);
    process.exit(2);
  }
  // Last resort: every input path handles its own errors, so an exception reaching here
  // is a bug. Log it and exit non-zero so the supervisor restarts a clean process.
  process.on('uncaughtException', (err) => {
    process.stderr.write(`gateway: uncaught exception, exiting: ${err.stack ?? String(err)}\n`);
    process.exit(70);
  });
  const gateway = new Gateway(opts.gateway, Date.now, prompts);
  const control = new ControlServer(gateway, { key, allowFrom: opts.ngAllow === null ? null : new Set(opts.ngAllow) });
  // Before the control socket takes commands, so its observer counts the first one.
  const metrics = o.admin === undefined ? null : new GatewayMetrics({ gateway, control, id: o.admin.id });
  const port = await control.listen(opts.controlHost, opts.controlPort);
  gateway.start((callId) => emit({ event: 'timed-out', callId }));
  let admin: FastifyInstance | null = null;
  if (o.admin !== undefined && metrics !== null) {
    admin = await startGatewayAdmin({ id: o.admin.id, host: o.admin.address.host, port: o.admin.address.port, tokens: o.admin.tokens, gateway, metrics, controlPort: () => port });
  }
  const adminAddress = admin?.server.address();
  const adminPort = typeof adminAddress === 'object' && adminAddress !== null ? adminAddress.port : null;
  const stop = () => {
    control.close();
    gateway.close();
    void admin?.close();
    emit({ event: 'stopped' });
    process.exit(0);
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  const ready = o.ready ?? {};
  emit({
    event: 'listening',
    control: port,
    pid: process.pid,
    ports: `${gateway.ports.min}-${gateway.ports.max}`,
    latching: opts.gateway.latchMode,
    ngAuth: key === null ? 'off' : 'on',
    ngAllow: opts.ngAllow,
    prompts: prompts.size,
    ...(adminPort !== null ? { admin: adminPort } : {}),
  });
  if (Object.keys(ready).length > 0) emit({ event: 'ready', role: 'gateway', pid: process.pid, control: port, ...(adminPort !== null ? { admin: adminPort } : {}), ...ready });
}

// Run directly (node gateway/gateway-process.ts ...), not when imported by the cluster CLI.
if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) void runGateway(process.argv.slice(2));
