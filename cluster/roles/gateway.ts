// `ringfence gateway --config cluster.yaml --id gw1 [gateway flags]`: the media gateway
// configured from the cluster file (control address, port range); any other gateway flag
// (--latching, --max-sessions, --media-timeout-s, --ng-allow, ...) passes through. The ng
// control key is derived from the cluster file's secret.
import { parseArgs as parseNodeArgs } from 'node:util';
import { UsageError } from '../../common/args.js';
import { loadClusterConfig } from '../../common/config.js';
import { deriveKey } from '../../common/keys.js';
import { runGateway } from '../../gateway/gateway-process.js';

export async function main(argv: string[]): Promise<void> {
  const { values, tokens } = parseNodeArgs({ args: argv, options: { config: { type: 'string' }, id: { type: 'string' } }, strict: false, tokens: true });
  if (typeof values.config !== 'string' || typeof values.id !== 'string') throw new UsageError('usage: ringfence gateway --config cluster.yaml --id <gateway> [gateway flags]');
  const config = loadClusterConfig(values.config);
  const gw = config.gateways.find((g) => g.id === values.id);
  if (!gw) throw new UsageError(`--id: no gateway ${JSON.stringify(values.id)} in the cluster file`);
  const own = new Set(['config', 'id']);
  const rest: string[] = [];
  for (const t of tokens ?? []) {
    if (t.kind === 'option' && !own.has(t.name)) rest.push(t.rawName, ...(t.value !== undefined ? [t.value] : []));
    else if (t.kind === 'positional') rest.push(t.value);
  }
  // The ng key comes from the cluster's root secret, as on every SIP node; --ng-auth off
  // (passed through) still turns authentication off.
  const ngKey = deriveKey(config.secret, 'ng-control');
  await runGateway(['--control', `${gw.control.host}:${gw.control.port}`, '--ports', `${gw.portMin}-${gw.portMax}`, ...rest], { ready: { id: gw.id }, ngKey });
}
