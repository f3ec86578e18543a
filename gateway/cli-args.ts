// Command-line flags of the gateway process, parsed into a GatewayConfig through the one
// flag parser every role uses (common/args.ts).

import net from 'node:net';
import { parseFlags, UsageError, type FlagSpec, type FlagValues } from '../common/args.js';
import type { GatewayConfig } from './gateway.js';
import { defaultPromptsDir } from './prompts.js';
import { LATCH_MODES, type LatchMode } from './latching.js';
import {
  mediaSocketBufferBytes,
  mediaTimeoutMsDefault,
  sessionPacketBurstMaxDefault,
  sessionPacketRateMaxDefault,
  sessionsMaxDefault,
  sweepIntervalMsMax,
  sweepIntervalMsMin,
} from './limits.js';

/** The gateway's flags, one table for the standalone process and `ringfence gateway`
 * (which takes --control and --ports from the cluster file instead). */
export const gatewayFlags = {
  control: { type: 'string', help: 'ng control socket HOST:PORT (port 0 = any)', default: '127.0.0.1:2223' },
  ports: { type: 'string', help: 'RTP/RTCP port range MIN-MAX', default: '30000-40000' },
  interface: { type: 'string', help: 'address media sockets bind to', default: '127.0.0.1' },
  advertise: { type: 'string', help: 'address written into SDP (default: --interface)' },
  latching: { type: 'string', help: 'source learning: strict (the SDP\'s address first, then only the latched source) or latch-any (for NATed peers)', default: 'strict' },
  'ng-key-file': { type: 'string', help: 'ng control key: a file (not world-readable) holding the hex key; required unless --ng-auth off' },
  'ng-auth': { type: 'string', help: 'on|off; off serves unsigned ng commands (rtpengine-style deployments behind a firewall only)', default: 'on' },
  'ng-allow': { type: 'string', help: 'IP[,IP...]: also drop ng commands from any other source address' },
  'max-sessions': { type: 'string', help: 'concurrent calls', default: String(sessionsMaxDefault) },
  'max-pps': { type: 'string', help: 'packets/s per call, 0 = unlimited', default: String(sessionPacketRateMaxDefault) },
  burst: { type: 'string', help: 'token-bucket depth per call', default: String(sessionPacketBurstMaxDefault) },
  'media-timeout-s': { type: 'string', help: 'flag calls without media for this many seconds', default: String(mediaTimeoutMsDefault / 1000) },
  'socket-buffer-bytes': { type: 'string', help: 'kernel buffer per media socket', default: String(mediaSocketBufferBytes) },
  'prompts-dir': { type: 'string', help: 'directory of <name>.wav prompts (8 kHz mono) that play media can name', default: defaultPromptsDir },
} as const satisfies FlagSpec;

export type GatewayFlagValues = FlagValues<typeof gatewayFlags>;

export const USAGE = 'usage: gateway-process [flags]   (--help lists them)';

export type ProcessOptions = Readonly<{
  controlHost: string;
  controlPort: number;
  gateway: GatewayConfig;
  /** Where the hex ng key is read from; null with ngAuth off, or when the caller (the
   * cluster role) passes the key itself. */
  ngKeyFile: string | null;
  ngAuth: boolean;
  /** null: any source (the key decides). */
  ngAllow: readonly string[] | null;
  /** Loaded at start; a bad file stops the gateway (gateway-process.ts). */
  promptsDir: string;
}>;

/** Parses the standalone process's command line (RINGFENCE_<FLAG> fills what it leaves out). */
export function parseArgs(argv: string[]): ProcessOptions {
  return gatewayOptions(parseFlags(argv, gatewayFlags, 'usage: node --import tsx gateway/gateway-process.ts [flags]'));
}

/** Checks parsed flag values and turns them into the process's options; every error is a
 * UsageError naming its flag. */
export function gatewayOptions(f: GatewayFlagValues): ProcessOptions {
  const [controlHost, controlPortText] = splitHostPort(f.control ?? gatewayFlags.control.default);
  const [minText, maxText] = (f.ports ?? gatewayFlags.ports.default).split('-');
  const bindIp = f.interface ?? gatewayFlags.interface.default;
  const advertiseIp = f.advertise ?? bindIp;
  // Media sockets are udp4 (relay.ts): an IPv6 or a host name would fail at the first call.
  if (!net.isIPv4(bindIp)) throw new UsageError(`--interface: expected an IPv4 address, got ${JSON.stringify(bindIp)}`);
  if (!net.isIPv4(advertiseIp)) throw new UsageError(`--advertise: expected an IPv4 address, got ${JSON.stringify(advertiseIp)}`);
  if (advertiseIp === '0.0.0.0') throw new UsageError('--advertise IP is required when --interface is 0.0.0.0');
  // The control socket listens on one configured interface: a wildcard would expose it
  // on every network the host is on.
  if (controlHost === '0.0.0.0' || controlHost === '::' || controlHost === '[::]') {
    throw new UsageError(`--control: bind the ng control socket to one interface address, not ${controlHost}`);
  }
  const ngAuthText = f['ng-auth'] ?? 'on';
  if (ngAuthText !== 'on' && ngAuthText !== 'off') throw new UsageError(`--ng-auth must be on or off, got ${ngAuthText}`);
  const ngAuth = ngAuthText === 'on';
  const ngKeyFile = f['ng-key-file'] ?? null;
  if (!ngAuth && ngKeyFile !== null) throw new UsageError('--ng-key-file and --ng-auth off contradict each other');
  const allowText = f['ng-allow'];
  const ngAllow = allowText === undefined ? null : allowText.split(',').map((a) => a.trim());
  if (ngAllow !== null && ngAllow.some((a) => net.isIP(a) === 0)) throw new UsageError(`--ng-allow: expected IP[,IP...], got ${allowText}`);
  const latching = f.latching ?? 'strict';
  if (!LATCH_MODES.includes(latching as LatchMode)) throw new UsageError(`--latching must be one of ${LATCH_MODES.join(', ')}`);
  const mediaTimeoutMs = num(f['media-timeout-s'], mediaTimeoutMsDefault / 1000, 'media-timeout-s') * 1000;
  return {
    controlHost,
    controlPort: int(controlPortText, 'control port'),
    ngKeyFile,
    ngAuth,
    ngAllow,
    promptsDir: f['prompts-dir'] ?? defaultPromptsDir,
    gateway: {
      bindIp,
      advertiseIp,
      ports: { min: int(minText, 'ports'), max: int(maxText, 'ports') },
      latchMode: latching as LatchMode,
      callsMax: int(f['max-sessions'] ?? String(sessionsMaxDefault), 'max-sessions'),
      packetRateMax: int(f['max-pps'] ?? String(sessionPacketRateMaxDefault), 'max-pps'),
      packetBurstMax: int(f.burst ?? String(sessionPacketBurstMaxDefault), 'burst'),
      mediaTimeoutMs,
      sweepIntervalMs: Math.max(sweepIntervalMsMin, Math.min(sweepIntervalMsMax, Math.floor(mediaTimeoutMs / 4))),
      socketBufferBytes: int(f['socket-buffer-bytes'] ?? String(mediaSocketBufferBytes), 'socket-buffer-bytes'),
    },
  };
}

function splitHostPort(s: string): [string, string] {
  const i = s.lastIndexOf(':');
  if (i <= 0) throw new UsageError(`--control: expected HOST:PORT, got ${s}`);
  return [s.slice(0, i), s.slice(i + 1)];
}

function int(s: string | undefined, what: string): number {
  const n = Number(s);
  if (s === undefined || !Number.isInteger(n) || n < 0) throw new UsageError(`--${what}: not a non-negative integer: ${s}`);
  return n;
}

function num(s: string | undefined, dflt: number, what: string): number {
  if (s === undefined) return dflt;
  const n = Number(s);
  if (!Number.isFinite(n) || n <= 0) throw new UsageError(`--${what}: not a positive number: ${s}`);
  return n;
}
