// `ringfence gateway --config cluster.yaml --id gw1 [gateway flags]`: the media gateway
// configured from the cluster file (control address, port range); any other gateway flag
// (--latching, --max-sessions, --media-timeout-s, --ng-allow, ...) passes through. The ng
// control key is derived from the cluster file's secret; `--ng-allow sip-nodes` allows
// only the cluster file's SIP node addresses on top of it.
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
  // `--ng-allow sip-nodes`: the allow-list is the SIP nodes' addresses from the cluster file
  // (their UDP host, the address their ng commands leave from on a single-homed host).
  const allowAt = rest.indexOf('--ng-allow');
  if (allowAt >= 0 && rest[allowAt + 1] === 'sip-nodes') {
    const hosts = [...new Set(config.sip.map((n) => n.udp.host))];
    if (hosts.length === 0 || hosts.some((h) => h === '0.0.0.0' || h === '::')) {
      throw new UsageError('--ng-allow sip-nodes: every sip[].udp host in the cluster file must be a specific address');
    }
    rest[allowAt + 1] = hosts.join(',');
  }
  // The ng key comes from the cluster's root secret, as on every SIP node; --ng-auth off
  // (passed through) still turns authentication off.
  // A gateway the cluster file marks `ngAuth: false` is run so, or the SIP nodes' plain
  // commands would go unanswered.
  const ngKey = deriveKey(config.secret, 'ng-control');
  const authOff = gw.ngAuth ? [] : ['--ng-auth', 'off'];
  // The admin REST (/metrics, /v1/status, /healthz, /readyz) on `gateways[].admin`, when set.
  const admin = gw.admin === null ? {} : { admin: { id: gw.id, address: gw.admin, tokens: config.tokens } };
  await runGateway(['--control', `${gw.control.host}:${gw.control.port}`, '--ports', `${gw.portMin}-${gw.portMax}`, ...authOff, ...rest], { ready: { id: gw.id }, ngKey, ...admin });
}
