// The phone's SDP answer to an offer (RFC 3264): the first audio stream, the first G.711
// codec the offer lists (PCMU or PCMA), telephone-event if offered, and our own RTP
// address. Pure: text in, text (or null when nothing can be agreed) out.

import { parse } from 'sdp-transform';

export type AnswerInput = Readonly<{ offer: string; host: string; rtpPort: number; sessionId: number; version: number }>;

const G711: Readonly<Record<number, string>> = { 0: 'PCMU', 8: 'PCMA' };

const mirrored: Readonly<Record<string, string>> = { sendrecv: 'sendrecv', sendonly: 'recvonly', recvonly: 'sendonly', inactive: 'inactive' };

/** The answer, or null when the offer has no audio stream with PCMU or PCMA (→ 488). */
export function sdpAnswer(i: AnswerInput): string | null {
  let session;
  try {
    session = parse(i.offer);
  } catch {
    return null;
  }
  const audio = session.media.find((m) => m.type === 'audio' && m.port !== 0);
  if (audio === undefined) return null;
  const payloads = String(audio.payloads ?? '').split(/\s+/).filter((p) => p !== '').map(Number);
  const codecOf = (pt: number): string | undefined => audio.rtp?.find((r) => r.payload === pt)?.codec ?? G711[pt];
  const chosen = payloads.find((pt) => {
    const c = codecOf(pt)?.toUpperCase();
    return c === 'PCMU' || c === 'PCMA';
  });
  if (chosen === undefined) return null;
  const dtmf = payloads.find((pt) => codecOf(pt)?.toLowerCase() === 'telephone-event');
  const pts = dtmf === undefined ? [chosen] : [chosen, dtmf];
  const ipVer = i.host.includes(':') ? 6 : 4;
  const lines = [
    'v=0',
    `o=ringfence-phone ${i.sessionId} ${i.version} IN IP${ipVer} ${i.host}`,
    's=-',
    `c=IN IP${ipVer} ${i.host}`,
    't=0 0',
    `m=audio ${i.rtpPort} RTP/AVP ${pts.join(' ')}`,
    `a=rtpmap:${chosen} ${codecOf(chosen)!.toUpperCase()}/8000`,
  ];
  if (dtmf !== undefined) lines.push(`a=rtpmap:${dtmf} telephone-event/8000`, `a=fmtp:${dtmf} 0-15`);
  lines.push(`a=${mirrored[String(audio.direction ?? 'sendrecv')] ?? 'sendrecv'}`);
  return lines.join('\r\n') + '\r\n';
}
