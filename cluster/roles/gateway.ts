// `ringfence gateway --config cluster.yaml --id gw1 [gateway flags]`: the media gateway
// configured from the cluster file (control address, port range). Its other flags are
// the standalone gateway's (gateway/cli-args.ts), in the same table, so --help lists them
// all. The ng control key is derived from the cluster file's secret; `--ng-allow
// sip-nodes` allows only the cluster file's SIP node addresses.
import { parseFlags, requireFlag, UsageError } from '../../common/args.js';
import { loadClusterConfig } from '../../common/config.js';
import { deriveKey } from '../../common/keys.js';
import { gatewayFlags, gatewayOptions } from '../../gateway/cli-args.js';
import { runGateway } from '../../gateway/gateway-process.js';

// --control and --ports come from the cluster file; the key from its secret.
const { control: _control, ports: _ports, 'ng-key-file': _keyFile, ...passed } = gatewayFlags;

export const flags = {
  config: { type: 'string', help: 'cluster file (YAML)' },
  id: { type: 'string', help: 'this gateway\'s id, as named in the cluster file' },
  ...passed,
  'ng-allow': { type: 'string', help: 'IP[,IP...] or sip-nodes (the cluster file\'s sip[].udp hosts): drop ng commands from any other source' },
  'ng-auth': { type: 'string', help: 'on|off; off serves unsigned ng commands (default: the cluster file\'s gateways[].ngAuth)' },
} as const;

export async function main(argv: string[]): Promise<void> {
  const f = parseFlags(argv, flags, 'usage: ringfence gateway --config cluster.yaml --id <gateway> [flags]');
  const config = loadClusterConfig(requireFlag(f.config, 'config'));
  const id = requireFlag(f.id, 'id');
  const gw = config.gateways.find((g) => g.id === id);
  if (!gw) throw new UsageError(`--id: no gateway ${JSON.stringify(id)} in the cluster file`);
  let ngAllow = f['ng-allow'];
  // `--ng-allow sip-nodes`: the allow-list is the SIP nodes' addresses from the cluster file
  // (their UDP host, the address their ng commands leave from on a single-homed host).
  if (ngAllow === 'sip-nodes') {
    const hosts = [...new Set(config.sip.map((n) => n.udp.host))];
    if (hosts.length === 0 || hosts.some((h) => h === '0.0.0.0' || h === '::')) {
      throw new UsageError('--ng-allow sip-nodes: every sip[].udp host in the cluster file must be a specific address');
    }
    ngAllow = hosts.join(',');
  }
  // A gateway the cluster file marks `ngAuth: false` is run so, or the SIP nodes' plain
  // commands would go unanswered; --ng-auth off still turns authentication off.
  const ngAuth = f['ng-auth'] ?? (gw.ngAuth ? 'on' : 'off');
  const opts = gatewayOptions({
    ...f,
    control: `${gw.control.host}:${gw.control.port}`,
    ports: `${gw.portMin}-${gw.portMax}`,
    'ng-key-file': undefined,
    'ng-auth': ngAuth,
    'ng-allow': ngAllow,
  });
  // The admin REST (/metrics, /v1/status, /healthz, /readyz) on `gateways[].admin`, when set.
  const admin = gw.admin === null ? {} : { admin: { id: gw.id, address: gw.admin, tokens: config.tokens } };
  await runGateway(opts, { ready: { id: gw.id }, ngKey: deriveKey(config.secret, 'ng-control'), ...admin });
}
