// One agent phone's calls, as a user agent server (RFC 3261 §13.3, §15): a new INVITE
// rings (180) and, for a phone that answers, gets 200 with an SDP answer after a short
// ring; 2xx is retransmitted until the ACK; CANCEL ends a ringing call with 487; BYE ends
// a call; a re-INVITE is answered in the dialog. A second INVITE while a call is ringing
// or up is a "double offer" — the cluster broke exclusivity — recorded and refused 486.
// An answered call is probed with in-dialog OPTIONS (dialog-probe.ts) so a call whose SIP
// node died is ended here too, instead of being held forever.

import {
  buildResponse,
  generateTag,
  getHeader,
  getHeaders,
  parseNameAddr,
  type SipHeader,
  type SipRequest,
  type SipResponse,
} from '../syntax/index.js';
import type { ServerTransaction, TransactionLayer } from '../transaction/index.js';
import type { TimerHandle, TimerService } from '../transport/index.js';
import type { CallRecorder, EndReason } from './call-recorder.js';
import { DialogProbe } from './dialog-probe.js';
import { buildInDialogRequest, remoteTargetOf, type DialogRequest } from './dialog-request.js';
import { ackWaitMs, t1Ms, t2Ms } from './limits.js';
import type { Behaviour } from './phone-spec.js';
import type { RtpEcho } from './rtp-echo.js';
import { sdpAnswer } from './sdp-answer.js';

export type PhoneOptions = Readonly<{
  dn: string;
  behaviour: Behaviour;
  answerAfterMs: number;
  /** Our SIP address (host:port of the shared socket) for Contact and SDP. */
  host: string;
  port: number;
  layer: TransactionLayer;
  /** The clock for ring, 2xx retransmission, ACK wait and probe timers. */
  timers: TimerService;
  rtp: RtpEcho;
  recorder: CallRecorder;
  /** In-dialog OPTIONS interval on answered calls; 0 = never probe. */
  dialogProbeMs: number;
}>;

type CallState = 'ringing' | 'answered' | 'confirmed';

type Call = {
  readonly callId: string;
  readonly toTag: string;
  readonly invite: SipRequest;
  readonly inviteTx: ServerTransaction;
  state: CallState;
  ok: SipResponse | null;
  retransMs: number;
  timers: TimerHandle[];
  sdpVersion: number;
  /** The peer's Contact (updated by a re-INVITE); null if it sent none. */
  remoteTarget: string | null;
  /** Our CSeq in the dialog (RFC 3261 §12.2.1.1): each request we send takes the next. */
  localCseq: number;
  probe: DialogProbe | null;
};

const sdpBody = (text: string): Uint8Array => new TextEncoder().encode(text);

export class Phone {
  private readonly calls = new Map<string, Call>();
  readonly contactUri: string;
  /** In-dialog OPTIONS this phone has sent to probe its calls. */
  probesSent = 0;

  constructor(private readonly o: PhoneOptions) {
    this.contactUri = `sip:${o.dn}@${o.host.includes(':') ? `[${o.host}]` : o.host}:${o.port}`;
  }

  get dn(): string {
    return this.o.dn;
  }

  activeCalls(): number {
    return this.calls.size;
  }

  onRequest(tx: ServerTransaction, req: SipRequest): void {
    switch (req.method) {
      case 'INVITE':
        this.onInvite(tx, req);
        return;
      case 'BYE':
        this.onBye(tx, req);
        return;
      case 'CANCEL':
        this.onCancel(tx, req);
        return;
      case 'OPTIONS':
      case 'INFO':
      case 'UPDATE':
      case 'NOTIFY':
        tx.respond(buildResponse(req, 200, 'OK', { headers: [{ name: 'Allow', value: 'INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE' }] }));
        return;
      default:
        tx.respond(buildResponse(req, 405, 'Method Not Allowed', { headers: [{ name: 'Allow', value: 'INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE' }] }));
    }
  }

  onAck(ack: SipRequest): void {
    const call = this.calls.get(getHeader(ack, 'Call-ID') ?? '');
    if (call === undefined || call.state !== 'answered') return;
    call.state = 'confirmed';
    this.clearTimers(call);
    this.o.recorder.record({ ev: 'confirmed', dn: this.o.dn, callId: call.callId, atMs: Date.now() });
  }

  /** Ends every call (process shutdown): ringing ones get 480, answered ones a BYE. */
  hangUpAll(): void {
    for (const call of [...this.calls.values()]) {
      if (call.state === 'ringing') call.inviteTx.respond(this.response(call, 480, 'Temporarily Unavailable'));
      else this.sendBye(call);
      this.end(call, 'bye-sent');
    }
  }

  private onInvite(tx: ServerTransaction, req: SipRequest): void {
    const callId = getHeader(req, 'Call-ID') ?? '';
    const toTag = parseNameAddr(getHeader(req, 'To') ?? '')?.params['tag'];
    if (toTag !== undefined && toTag !== null) {
      this.onReInvite(tx, req, callId);
      return;
    }
    const activeCallIds = [...this.calls.keys()];
    const doubleOffer = activeCallIds.length > 0;
    const now = Date.now();
    this.o.recorder.record({ ev: 'invite', dn: this.o.dn, callId, atMs: now, doubleOffer, activeCallIds, from: getHeader(req, 'From') ?? '' });
    const tag = generateTag();
    if (doubleOffer || this.o.behaviour === 'busy' || this.calls.has(callId)) {
      tx.respond(buildResponse(req, 486, 'Busy Here', { toTag: tag }));
      this.o.recorder.record({ ev: 'rejected', dn: this.o.dn, callId, atMs: now, status: 486 });
      return;
    }
    const call: Call = { callId, toTag: tag, invite: req, inviteTx: tx, state: 'ringing', ok: null, retransMs: t1Ms, timers: [], sdpVersion: 1, remoteTarget: remoteTargetOf(req), localCseq: 0, probe: null };
    this.calls.set(callId, call);
    if (this.o.behaviour === 'answer' && this.o.answerAfterMs === 0) {
      this.answer(call);
      return;
    }
    tx.respond(this.response(call, 180, 'Ringing'));
    this.o.recorder.record({ ev: 'ringing', dn: this.o.dn, callId, atMs: now });
    if (this.o.behaviour === 'answer') call.timers.push(this.o.timers.setTimer(this.o.answerAfterMs, () => this.answer(call)));
  }

  private answer(call: Call): void {
    if (this.calls.get(call.callId) !== call || call.state !== 'ringing') return;
    this.clearTimers(call);
    const offer = Buffer.from(call.invite.body).toString('utf8');
    const answer = sdpAnswer({ offer, host: this.o.host, rtpPort: this.o.rtp.port, sessionId: Date.now(), version: call.sdpVersion });
    if (answer === null) {
      call.inviteTx.respond(this.response(call, 488, 'Not Acceptable Here'));
      this.o.recorder.record({ ev: 'rejected', dn: this.o.dn, callId: call.callId, atMs: Date.now(), status: 488 });
      this.forget(call);
      return;
    }
    const ok = this.response(call, 200, 'OK', answer);
    call.ok = ok;
    call.state = 'answered';
    call.inviteTx.respond(ok);
    this.o.recorder.record({ ev: 'answered', dn: this.o.dn, callId: call.callId, atMs: Date.now() });
    this.o.rtp.setEchoing(true);
    call.timers.push(this.o.timers.setTimer(call.retransMs, () => this.retransmitOk(call)));
    call.timers.push(this.o.timers.setTimer(ackWaitMs, () => {
      // No ACK in 64*T1: RFC 3261 §13.3.1.4 says end the dialog with BYE.
      if (this.calls.get(call.callId) !== call || call.state !== 'answered') return;
      this.sendBye(call);
      this.end(call, 'no-ack');
    }));
    this.startProbe(call);
  }

  /** Probes the answered call; a lost dialog is ended with a best-effort BYE. */
  private startProbe(call: Call): void {
    if (this.o.dialogProbeMs <= 0 || call.remoteTarget === null) return;
    call.probe = new DialogProbe({
      layer: this.o.layer,
      timers: this.o.timers,
      intervalMs: this.o.dialogProbeMs,
      next: () => {
        this.probesSent++;
        return this.inDialog(call, 'OPTIONS');
      },
      onLost: (v) => {
        if (this.calls.get(call.callId) !== call) return;
        // The peer may be a restarted node that forgot us (481) or nobody: either way the
        // BYE is a courtesy and its outcome changes nothing.
        this.sendBye(call);
        this.end(call, 'dialog-lost', v.status);
      },
    });
    call.probe.start();
  }

  private retransmitOk(call: Call): void {
    if (this.calls.get(call.callId) !== call || call.state !== 'answered' || call.ok === null) return;
    call.inviteTx.respond(call.ok);
    call.retransMs = Math.min(call.retransMs * 2, t2Ms);
    call.timers.push(this.o.timers.setTimer(call.retransMs, () => this.retransmitOk(call)));
  }

  private onReInvite(tx: ServerTransaction, req: SipRequest, callId: string): void {
    const call = this.calls.get(callId);
    if (call === undefined) {
      tx.respond(buildResponse(req, 481, 'Call/Transaction Does Not Exist'));
      return;
    }
    this.o.recorder.record({ ev: 'reinvite', dn: this.o.dn, callId, atMs: Date.now() });
    // A re-INVITE is a target refresh (RFC 3261 §12.2.2): later requests go to its Contact.
    call.remoteTarget = remoteTargetOf(req) ?? call.remoteTarget;
    call.sdpVersion++;
    const offer = Buffer.from(req.body).toString('utf8');
    const answer = offer.trim() === '' ? null : sdpAnswer({ offer, host: this.o.host, rtpPort: this.o.rtp.port, sessionId: Date.now(), version: call.sdpVersion });
    if (offer.trim() !== '' && answer === null) {
      tx.respond(buildResponse(req, 488, 'Not Acceptable Here'));
      return;
    }
    const headers: SipHeader[] = [{ name: 'Contact', value: `<${this.contactUri}>` }];
    if (answer !== null) headers.push({ name: 'Content-Type', value: 'application/sdp' });
    tx.respond(buildResponse(req, 200, 'OK', { headers, ...(answer !== null ? { body: sdpBody(answer) } : {}) }));
  }

  private onCancel(tx: ServerTransaction, req: SipRequest): void {
    const inviteTx = this.o.layer.findInviteForCancel(req);
    const call = this.calls.get(getHeader(req, 'Call-ID') ?? '');
    if (inviteTx === undefined) {
      tx.respond(buildResponse(req, 481, 'Call/Transaction Does Not Exist'));
      return;
    }
    tx.respond(buildResponse(req, 200, 'OK', call === undefined ? {} : { toTag: call.toTag }));
    if (call === undefined || call.state !== 'ringing' || call.inviteTx !== inviteTx) return;
    inviteTx.respond(this.response(call, 487, 'Request Terminated'));
    this.end(call, 'cancel');
  }

  private onBye(tx: ServerTransaction, req: SipRequest): void {
    const call = this.calls.get(getHeader(req, 'Call-ID') ?? '');
    if (call === undefined) {
      tx.respond(buildResponse(req, 481, 'Call/Transaction Does Not Exist'));
      return;
    }
    tx.respond(buildResponse(req, 200, 'OK'));
    // A BYE before the INVITE got its final answer (RFC 3261 §15.1.2): finish the INVITE.
    if (call.state === 'ringing') call.inviteTx.respond(this.response(call, 487, 'Request Terminated'));
    this.end(call, 'bye');
  }

  private response(call: Call, status: number, reason: string, sdp?: string): SipResponse {
    const headers: SipHeader[] = [{ name: 'Contact', value: `<${this.contactUri}>` }];
    for (const rr of getHeaders(call.invite, 'Record-Route')) headers.push({ name: 'Record-Route', value: rr });
    if (sdp !== undefined) headers.push({ name: 'Content-Type', value: 'application/sdp' });
    return buildResponse(call.invite, status, reason, { toTag: call.toTag, headers, ...(sdp !== undefined ? { body: sdpBody(sdp) } : {}) });
  }

  /** The next request of ours in the call's dialog (fresh CSeq), or null if it has no target. */
  private inDialog(call: Call, method: 'BYE' | 'OPTIONS'): DialogRequest | null {
    if (call.remoteTarget === null) return null;
    call.localCseq++;
    return buildInDialogRequest({ invite: call.invite, localTag: call.toTag, remoteTarget: call.remoteTarget }, method, call.localCseq);
  }

  /** A BYE of our own, in the dialog the INVITE created (we are its UAS). */
  private sendBye(call: Call): void {
    const bye = this.inDialog(call, 'BYE');
    if (bye === null) return;
    try {
      this.o.layer.sendRequest(bye.request, bye.target, () => undefined);
    } catch {
      // The layer is closing or full; the peer's own timers end its side.
    }
  }

  private end(call: Call, reason: EndReason, status?: number): void {
    this.o.recorder.record({ ev: 'ended', dn: this.o.dn, callId: call.callId, atMs: Date.now(), reason, ...(status !== undefined ? { status } : {}) });
    this.forget(call);
  }

  private forget(call: Call): void {
    this.clearTimers(call);
    call.probe?.stop();
    call.probe = null;
    if (this.calls.get(call.callId) === call) this.calls.delete(call.callId);
    // The RTP socket is the phone's, not the call's: echo only while a call is up.
    this.o.rtp.setEchoing([...this.calls.values()].some((c) => c.state !== 'ringing'));
  }

  private clearTimers(call: Call): void {
    for (const t of call.timers) this.o.timers.clearTimer(t);
    call.timers = [];
  }
}
