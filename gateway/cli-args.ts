// Command-line flags of the gateway process, parsed into a GatewayConfig. Pure.

import net from 'node:net';
import type { GatewayConfig } from './gateway.js';
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

export const USAGE = `usage: gateway-process [options]
  --control HOST:PORT        ng control socket (default 127.0.0.1:2223; port 0 = any)
  --ports MIN-MAX            RTP/RTCP port range (default 30000-40000)
  --interface IP             address media sockets bind to (default 127.0.0.1)
  --advertise IP             address written into SDP (default: --interface)
  --latching strict|latch-any  source learning (default strict: the SDP's address first,
                             then only the latched source; latch-any for NATed peers)
  --ng-key-file PATH         ng control key: a file (not world-readable) holding the hex
                             key; required unless --ng-auth off
  --ng-auth on|off           off serves unsigned ng commands (rtpengine-style deployments
                             behind a firewall only; default on)
  --ng-allow IP[,IP...]      also drop ng commands from any other source address
  --max-sessions N           concurrent calls (default ${sessionsMaxDefault})
  --max-pps N                packets/s per call, 0 = unlimited (default ${sessionPacketRateMaxDefault})
  --burst N                  token-bucket depth per call (default ${sessionPacketBurstMaxDefault})
  --media-timeout-s S        flag calls without media for S seconds (default ${mediaTimeoutMsDefault / 1000})
  --socket-buffer-bytes N    kernel buffer per media socket (default ${mediaSocketBufferBytes})`;

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
}>;

export function parseArgs(argv: readonly string[]): ProcessOptions {
  const opts = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('--')) throw new Error(`unexpected argument ${a}`);
    const eq = a.indexOf('=');
    if (eq > 0) opts.set(a.slice(2, eq), a.slice(eq + 1));
    else {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      opts.set(a.slice(2), v);
    }
  }
  const known = ['control', 'ports', 'interface', 'advertise', 'latching', 'max-sessions', 'max-pps', 'burst', 'media-timeout-s', 'socket-buffer-bytes', 'ng-key-file', 'ng-auth', 'ng-allow'];
  for (const k of opts.keys()) if (!known.includes(k)) throw new Error(`unknown option --${k}`);
  const [controlHost, controlPortText] = splitHostPort(opts.get('control') ?? '127.0.0.1:2223');
  const [minText, maxText] = (opts.get('ports') ?? '30000-40000').split('-');
  const bindIp = opts.get('interface') ?? '127.0.0.1';
  const advertiseIp = opts.get('advertise') ?? bindIp;
  if (advertiseIp === '0.0.0.0') throw new Error('--advertise IP is required when --interface is 0.0.0.0');
  // The control socket listens on one configured interface: a wildcard would expose it
  // on every network the host is on.
  if (controlHost === '0.0.0.0' || controlHost === '::' || controlHost === '[::]') {
    throw new Error(`--control: bind the ng control socket to one interface address, not ${controlHost}`);
  }
  const ngAuthText = opts.get('ng-auth') ?? 'on';
  if (ngAuthText !== 'on' && ngAuthText !== 'off') throw new Error(`--ng-auth must be on or off, got ${ngAuthText}`);
  const ngAuth = ngAuthText === 'on';
  const ngKeyFile = opts.get('ng-key-file') ?? null;
  if (!ngAuth && ngKeyFile !== null) throw new Error('--ng-key-file and --ng-auth off contradict each other');
  const allowText = opts.get('ng-allow');
  const ngAllow = allowText === undefined ? null : allowText.split(',').map((a) => a.trim());
  if (ngAllow !== null && ngAllow.some((a) => net.isIP(a) === 0)) throw new Error(`--ng-allow: expected IP[,IP...], got ${allowText}`);
  const latching = opts.get('latching') ?? 'strict';
  if (!LATCH_MODES.includes(latching as LatchMode)) throw new Error(`--latching must be one of ${LATCH_MODES.join(', ')}`);
  const mediaTimeoutMs = num(opts.get('media-timeout-s'), mediaTimeoutMsDefault / 1000, 'media-timeout-s') * 1000;
  return {
    controlHost,
    controlPort: int(controlPortText, 'control port'),
    ngKeyFile,
    ngAuth,
    ngAllow,
    gateway: {
      bindIp,
      advertiseIp,
      ports: { min: int(minText, 'ports'), max: int(maxText, 'ports') },
      latchMode: latching as LatchMode,
      callsMax: int(opts.get('max-sessions') ?? String(sessionsMaxDefault), 'max-sessions'),
      packetRateMax: int(opts.get('max-pps') ?? String(sessionPacketRateMaxDefault), 'max-pps'),
      packetBurstMax: int(opts.get('burst') ?? String(sessionPacketBurstMaxDefault), 'burst'),
      mediaTimeoutMs,
      sweepIntervalMs: Math.max(sweepIntervalMsMin, Math.min(sweepIntervalMsMax, Math.floor(mediaTimeoutMs / 4))),
      socketBufferBytes: int(opts.get('socket-buffer-bytes') ?? String(mediaSocketBufferBytes), 'socket-buffer-bytes'),
    },
  };
}

function splitHostPort(s: string): [string, string] {
  const i = s.lastIndexOf(':');
  if (i <= 0) throw new Error(`expected HOST:PORT, got ${s}`);
  return [s.slice(0, i), s.slice(i + 1)];
}

function int(s: string | undefined, what: string): number {
  const n = Number(s);
  if (s === undefined || !Number.isInteger(n) || n < 0) throw new Error(`--${what}: not a non-negative integer: ${s}`);
  return n;
}

function num(s: string | undefined, dflt: number, what: string): number {
  if (s === undefined) return dflt;
  const n = Number(s);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`--${what}: not a positive number: ${s}`);
  return n;
}
