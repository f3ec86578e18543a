// Entry point of the media gateway process:
//   node --import tsx gateway/gateway-process.ts --control 127.0.0.1:0 --ports 30000-40000
// Prints one JSON line per event on stdout: {"event":"listening","control":<port>,...}
// once the control socket is bound, {"event":"timed-out","callId":...} when a call's media
// times out, {"event":"stopped"} after SIGTERM/SIGINT closed every socket. Bad flags print
// usage on stderr and exit 2.

import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, USAGE, type ProcessOptions } from './cli-args.js';
import { ControlServer } from './control-server.js';
import { Gateway } from './gateway.js';

function emit(event: Record<string, unknown>): void {
  process.stdout.write(JSON.stringify(event) + '\n');
}

/** Runs the gateway with command-line flags; `ready` adds fields to the listening event
 * (the cluster CLI adds its id and the `ready` event its supervisor waits for). */
export async function runGateway(argv: string[], ready: Record<string, unknown> = {}): Promise<void> {
  let opts: ProcessOptions;
  try {
    opts = parseArgs(argv);
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n${USAGE}\n`);
    process.exit(2);
  }
  const gateway = new Gateway(opts.gateway);
  const control = new ControlServer(gateway);
  const port = await control.listen(opts.controlHost, opts.controlPort);
  gateway.start((callId) => emit({ event: 'timed-out', callId }));
  const stop = () => {
    control.close();
    gateway.close();
    emit({ event: 'stopped' });
    process.exit(0);
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  emit({
    event: 'listening',
    control: port,
    pid: process.pid,
    ports: `${gateway.ports.min}-${gateway.ports.max}`,
    latching: opts.gateway.latchMode,
  });
  if (Object.keys(ready).length > 0) emit({ event: 'ready', role: 'gateway', pid: process.pid, control: port, ...ready });
}

// Run directly (node gateway/gateway-process.ts ...), not when imported by the cluster CLI.
if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) void runGateway(process.argv.slice(2));
