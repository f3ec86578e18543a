// Reading an endpoint's media address out of its SDP and rewriting the SDP so the other
// side sends to the gateway instead. Only the first active audio (or, failing that, the
// first active) m= line is anchored; other m= lines are disabled with port 0, because each
// leg holds exactly one RTP/RTCP pair. ICE attributes are always dropped: candidates would
// name the endpoint's own addresses and let media bypass the anchor. Pure.

import sdpTransform from 'sdp-transform';
import type { SdpMedia, SdpSession } from 'sdp-transform';
import { GatewayError, GatewayErrorCode } from './errors.js';
import { sdpBytesMax } from './limits.js';

/** Where an endpoint says it receives media. `ip` is null for a hold/unknown address
 * (0.0.0.0 or absent): only latching can then learn it. */
export type SdpEndpoint = Readonly<{ ip: string | null; rtpPort: number; rtcpPort: number; clockRateHz: number; payloadTypes: readonly number[] }>;

export type RewriteOptions = Readonly<{
  /** Address advertised for the gateway's ports. */
  ip: string;
  /** Gateway RTP port the receiver of this SDP must send to; RTCP is +1. */
  rtpPort: number;
  /** rtpengine's `replace: [origin]`: put the gateway's address into o= as well. */
  replaceOrigin: boolean;
  /** Keep only this payload type (and telephone-event) on the anchored m= line (early
   * media: both sides are held to the codec the caller's early answer chose). */
  onlyPayloadType?: number;
}>;

export type RewriteResult = Readonly<{ sdp: string; endpoint: SdpEndpoint }>;

const DEFAULT_CLOCK_RATE_HZ = 8000;

export function rewriteSdp(sdp: string, opts: RewriteOptions): RewriteResult {
  if (sdp.length > sdpBytesMax) throw new GatewayError(GatewayErrorCode.SDP_INVALID, 'SDP too large');
  let session: SdpSession;
  try {
    session = sdpTransform.parse(sdp);
  } catch (e) {
    throw new GatewayError(GatewayErrorCode.SDP_INVALID, `SDP does not parse: ${(e as Error).message}`);
  }
  if (session.version !== 0 || !Array.isArray(session.media) || session.media.length === 0) {
    throw new GatewayError(GatewayErrorCode.SDP_INVALID, 'SDP has no v=0 or no m= line');
  }
  const anchored = pickMedia(session.media);
  if (anchored === undefined) throw new GatewayError(GatewayErrorCode.SDP_INVALID, 'SDP has no active m= line');
  const endpoint = endpointOf(session, anchored);

  session.connection = { version: 4, ip: opts.ip };
  if (opts.replaceOrigin && session.origin !== undefined) {
    session.origin.address = opts.ip;
    session.origin.ipVer = 4;
  }
  stripIce(session);
  for (const m of session.media) {
    stripIce(m);
    if (m !== anchored) {
      m.port = 0;
      continue;
    }
    m.port = opts.rtpPort;
    if (opts.onlyPayloadType !== undefined) keepOnly(m, opts.onlyPayloadType);
    m.connection = { version: 4, ip: opts.ip };
    m.rtcp = { port: opts.rtpPort + 1, netType: 'IN', ipVer: 4, address: opts.ip };
  }
  return { sdp: sdpTransform.write(session), endpoint };
}

function pickMedia(media: SdpMedia[]): SdpMedia | undefined {
  return media.find((m) => m.type === 'audio' && m.port > 0) ?? media.find((m) => m.port > 0);
}

function endpointOf(session: SdpSession, m: SdpMedia): SdpEndpoint {
  const c = m.connection ?? session.connection;
  let ip: string | null = c?.ip ?? null;
  if (ip !== null) ip = ip.split('/')[0]!; // multicast TTL suffix
  if (ip === '0.0.0.0' || ip === '') ip = null;
  if (!Number.isInteger(m.port) || m.port <= 0 || m.port > 65535) {
    throw new GatewayError(GatewayErrorCode.SDP_INVALID, `bad media port ${String(m.port)}`);
  }
  const rtcpPort = m.rtcp?.port !== undefined && m.rtcp.port > 0 ? m.rtcp.port : m.port + 1;
  const payloadTypes = String(m.payloads ?? '').split(' ').filter((x) => /^\d+$/.test(x)).map(Number);
  const first = String(m.payloads ?? '').split(' ')[0];
  const rtp = m.rtp?.find((r) => String(r.payload) === first);
  const clockRateHz = rtp?.rate !== undefined && rtp.rate > 0 ? rtp.rate : DEFAULT_CLOCK_RATE_HZ;
  return { ip, rtpPort: m.port, rtcpPort, clockRateHz, payloadTypes };
}

/** Keeps payload type `pt` and the 8 kHz telephone-event (RFC 4733 DTMF shares the audio
 * stream's SSRC and numbering, so it survives the gateway's rewriting). */
function keepOnly(m: SdpMedia, pt: number): void {
  const keep = new Set([pt]);
  for (const r of m.rtp ?? []) if (r.codec.toLowerCase() === 'telephone-event' && (r.rate ?? 8000) === 8000) keep.add(r.payload);
  m.payloads = String(m.payloads ?? '').split(' ').filter((x) => keep.has(Number(x))).join(' ');
  if (m.rtp !== undefined) m.rtp = m.rtp.filter((r) => keep.has(r.payload));
  if (m.fmtp !== undefined) m.fmtp = m.fmtp.filter((f) => keep.has(f.payload));
}

function stripIce(o: SdpSession | SdpMedia): void {
  delete o.candidates;
  delete o.iceUfrag;
  delete o.icePwd;
  delete o.iceOptions;
  delete o.endOfCandidates;
  delete o['remoteCandidates'];
}
