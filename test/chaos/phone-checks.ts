// What the agent phones saw, judged from their INVITE records (sip/phones/call-recorder):
// an INVITE that found its phone already on a call is a double offer. Replaying the record
// (invite opens a call, ended/rejected closes it) groups them into episodes: one per call
// a phone still held while more were offered, with who carried that call (the caller's
// port in From names the SIPp caller, hence the SIP node) so the run can tell a call
// orphaned by a SIP-node kill from a double offer on a healthy cluster.
import { existsSync, readFileSync } from 'node:fs';
import { parseRecord, type CallEvent } from '../../sip/phones/call-recorder.js';

export type OverlapEpisode = Readonly<{
  dn: string;
  /** The call the phone still held. */
  heldCallId: string;
  heldInviteAtMs: number;
  heldAnswered: boolean;
  /** The From port of the held call (the SIPp caller that placed it), if it parses. */
  heldCallerPort: number | null;
  firstOfferAtMs: number;
  offers: number;
}>;

export type PhoneFindings = Readonly<{
  invites: number;
  answered: number;
  /** INVITEs the phones themselves flagged as arriving during another call. */
  doubleOffersFlagged: number;
  episodes: readonly OverlapEpisode[];
}>;

type Open = { callId: string; atMs: number; answered: boolean; port: number | null };

export function checkPhoneRecord(path: string): PhoneFindings {
  const events: CallEvent[] = existsSync(path) ? parseRecord(readFileSync(path, 'utf8')) : [];
  const open = new Map<string, Map<string, Open>>();
  const episodes = new Map<string, { e: OverlapEpisode; offers: number }>();
  let invites = 0;
  let answered = 0;
  let flagged = 0;
  for (const e of events) {
    const calls = open.get(e.dn) ?? new Map<string, Open>();
    open.set(e.dn, calls);
    if (e.ev === 'invite') {
      invites++;
      if (e.doubleOffer) flagged++;
      if (calls.has(e.callId)) continue;
      for (const held of calls.values()) {
        const key = `${e.dn} ${held.callId}`;
        const ep = episodes.get(key);
        if (ep) ep.offers++;
        else episodes.set(key, { e: { dn: e.dn, heldCallId: held.callId, heldInviteAtMs: held.atMs, heldAnswered: held.answered, heldCallerPort: held.port, firstOfferAtMs: e.atMs, offers: 1 }, offers: 1 });
      }
      const port = /@[^:>;]+:(\d+)/.exec(e.from)?.[1];
      calls.set(e.callId, { callId: e.callId, atMs: e.atMs, answered: false, port: port === undefined ? null : Number(port) });
    } else if (e.ev === 'answered') {
      answered++;
      const c = calls.get(e.callId);
      if (c) c.answered = true;
    } else if (e.ev === 'ended' || e.ev === 'rejected') calls.delete(e.callId);
  }
  return { invites, answered, doubleOffersFlagged: flagged, episodes: [...episodes.values()].map(({ e, offers }) => ({ ...e, offers })) };
}
