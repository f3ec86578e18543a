// A small SIP user agent for the SIP node's tests: real SIP over a real UDP socket on
// 127.0.0.1, built on our own transport and transaction layers. As an agent phone it
// REGISTERs with digest auth and then answers INVITEs (200), rejects them (486) or lets
// them ring forever (180 only), recording every INVITE it receives and the most calls it
// ever had at once. As a caller it places INVITEs and sends ACK, BYE and CANCEL. Either
// side may send requests inside its dialog (re-INVITE, OPTIONS, ...); a re-INVITE it
// receives is answered 200 with SDP naming its current RTP port (offerPort as a caller,
// answerPort as an agent).

import { randomBytes } from 'node:crypto';
import {
  buildResponse, generateCallId, generateTag, getHeader, getHeaders, parseDigestParams, parseNameAddr,
} from '../../../sip/syntax/index.js';
import type { AuthHeader, SipHeader, SipRequest, SipResponse } from '../../../sip/syntax/index.js';
import { buildCancel, TransactionLayer, type ClientEvent, type ClientTransaction, type ServerTransaction } from '../../../sip/transaction/index.js';
import { SystemTimerService, UdpTransport, type SipTarget } from '../../../sip/transport/index.js';
import { ackFor2xx, type DialogLeg, inDialogRequest, uriOf } from '../../../sip/node/dialog.js';
import { digestAuthorization } from '../../../sip/node/digest.js';

export type UaMode = 'answer' | 'busy' | 'never';

export const testSdp = (port: number): string =>
  `v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio ${port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n`;

type Incoming = { tx: ServerTransaction; req: SipRequest; toTag: string; state: 'ringing' | 'answered' | 'ended'; leg: DialogLeg | null };

/** Options for a request sent inside a dialog. `ack: false` leaves a 2xx to a re-INVITE
 * unACKed; `ackBody` is SDP to put in the ACK (the answer when the 2xx carried the
 * offer); `onRetransmission` hears each 2xx retransmission that arrives. */
export type InDialogOptions = Readonly<{ ack?: boolean; ackBody?: Uint8Array; onRetransmission?: (res: SipResponse) => void }>;

export type OutgoingCall = {
  readonly tx: ClientTransaction;
  readonly provisionals: SipResponse[];
  readonly final: Promise<SipResponse>;
  /** Resolves when the node sends us a BYE for this call. */
  readonly byeReceived: Promise<SipRequest>;
  leg: DialogLeg | null;
};

export class TestUa {
  mode: UaMode = 'answer';
  /** RTP port named in the SDP of calls this UA places (and its re-INVITE answers). */
  offerPort = 40000;
  /** RTP port named in the SDP with which this UA answers calls (and their re-INVITEs). */
  answerPort = 41000;
  /** In 'answer' mode, awaited after the 180 and before the 200 (a test acts while the
   * phone rings). */
  beforeAnswer: ((invite: SipRequest) => Promise<void>) | null = null;
  readonly invites: SipRequest[] = [];
  readonly byes: SipRequest[] = [];
  /** re-INVITEs, INFOs and other requests received inside a dialog. */
  readonly inDialog: SipRequest[] = [];
  /** ACKs received (for 2xx responses this UA sent). */
  readonly acks: SipRequest[] = [];
  private readonly incoming = new Map<string, Incoming>();
  private active = 0;
  maxActive = 0;
  private readonly byeWaiters = new Map<string, (r: SipRequest) => void>();
  private regCallId = generateCallId('ua');
  private regCseq = 0;
  private readonly inviteWaiters: ((r: SipRequest) => void)[] = [];

  private constructor(readonly transport: UdpTransport, readonly layer: TransactionLayer) {}

  /** `host`: the loopback address to send from (127.0.0.2 and up are other sources). */
  static async start(mode: UaMode = 'answer', host = '127.0.0.1'): Promise<TestUa> {
    const transport = await UdpTransport.listen({ host, port: 0 });
    let ua: TestUa | undefined;
    const layer = new TransactionLayer({
      transports: [transport],
      timers: new SystemTimerService(),
      user: { onRequest: (tx, req) => ua!.onRequest(tx, req), onAck: (ack) => void ua!.acks.push(ack) },
    });
    ua = new TestUa(transport, layer);
    ua.mode = mode;
    return ua;
  }

  get port(): number {
    return this.transport.local.port;
  }

  get contact(): string {
    return `sip:agent@${this.transport.local.host}:${this.port}`;
  }

  /** Calls in progress right now (ringing or answered). */
  get activeCalls(): number {
    return this.active;
  }

  nextInvite(): Promise<SipRequest> {
    return new Promise((resolve) => this.inviteWaiters.push(resolve));
  }

  close(): Promise<void> {
    this.layer.close();
    return this.transport.close();
  }

  /** Sends a request outside any dialog and resolves with the final response. */
  request(server: SipTarget, method: string, uri: string, headers: readonly SipHeader[], body = new Uint8Array(0)): Promise<SipResponse> {
    const req: SipRequest = { kind: 'request', method, uri, headers: [...headers, { name: 'Content-Length', value: String(body.length) }], body };
    return new Promise((resolve) => {
      this.layer.sendRequest(req, server, (ev) => {
        if (ev.type !== 'provisional') resolve(ev.response ?? ({ kind: 'response', status: 408, reason: 'Timeout', headers: [], body: new Uint8Array(0) } as SipResponse));
      });
    });
  }

  /** One REGISTER attempt for `dn` with the given extra headers; the Call-ID stays the
   * same for the UA's life and the CSeq goes up, as RFC 3261 §10.2 asks. */
  registerOnce(server: SipTarget, dn: string, extra: readonly SipHeader[], contacts: readonly string[] | null = null): Promise<SipResponse> {
    this.regCseq += 1;
    const aor = `sip:${dn}@ringfence`;
    const contactHeaders = (contacts ?? [`<${this.contact}>`]).map((value) => ({ name: 'Contact', value }));
    return this.request(server, 'REGISTER', 'sip:ringfence', [
      { name: 'Max-Forwards', value: '70' },
      { name: 'From', value: `<${aor}>;tag=${generateTag()}` },
      { name: 'To', value: `<${aor}>` },
      { name: 'Call-ID', value: this.regCallId },
      { name: 'CSeq', value: `${this.regCseq} REGISTER` },
      ...contactHeaders,
      ...extra,
    ]);
  }

  /** REGISTER answering the digest challenge, as a phone does. Returns the final response
   * and the Authorization it sent (so a test can replay it). */
  async register(server: SipTarget, dn: string, password: string, o: { expires?: number; contacts?: readonly string[] } = {}): Promise<{ response: SipResponse; authorization: string | null; challenge: AuthHeader | null }> {
    const extra: SipHeader[] = o.expires === undefined ? [] : [{ name: 'Expires', value: String(o.expires) }];
    const first = await this.registerOnce(server, dn, extra, o.contacts ?? null);
    if (first.status !== 401) return { response: first, authorization: null, challenge: null };
    const challenge = parseDigestParams(getHeaders(first, 'WWW-Authenticate')[0] ?? '');
    if (challenge === null) throw new Error('unparsable challenge');
    const authorization = digestAuthorization({ method: 'REGISTER', uri: 'sip:ringfence', username: dn, password, challenge, nc: 1, cnonce: randomBytes(8).toString('hex') });
    const response = await this.registerOnce(server, dn, [...extra, { name: 'Authorization', value: authorization }], o.contacts ?? null);
    return { response, authorization, challenge };
  }

  /** Places a call to `number` at the node. */
  call(server: SipTarget, number: string): OutgoingCall {
    const callId = generateCallId('caller');
    const fromTag = generateTag();
    const body = Buffer.from(testSdp(this.offerPort));
    const req: SipRequest = {
      kind: 'request',
      method: 'INVITE',
      uri: `sip:${number}@127.0.0.1:${server.port}`,
      headers: [
        { name: 'Max-Forwards', value: '70' },
        { name: 'From', value: `"Caller" <sip:caller@127.0.0.1>;tag=${fromTag}` },
        { name: 'To', value: `<sip:${number}@127.0.0.1>` },
        { name: 'Call-ID', value: callId },
        { name: 'CSeq', value: '1 INVITE' },
        { name: 'Contact', value: `<sip:caller@127.0.0.1:${this.port}>` },
        { name: 'Content-Type', value: 'application/sdp' },
        { name: 'Content-Length', value: String(body.length) },
      ],
      body,
    };
    const provisionals: SipResponse[] = [];
    let resolveFinal!: (r: SipResponse) => void;
    const final = new Promise<SipResponse>((r) => (resolveFinal = r));
    let resolveBye!: (r: SipRequest) => void;
    const byeReceived = new Promise<SipRequest>((r) => (resolveBye = r));
    this.byeWaiters.set(callId, resolveBye);
    const out: { -readonly [K in keyof OutgoingCall]: OutgoingCall[K] } = { tx: undefined as unknown as ClientTransaction, provisionals, final, byeReceived, leg: null };
    out.tx = this.layer.sendRequest(req, server, (ev: ClientEvent) => {
      if (ev.type === 'provisional') {
        provisionals.push(ev.response);
        return;
      }
      const res = ev.response;
      if (res === undefined) return resolveFinal({ kind: 'response', status: 408, reason: 'Timeout', headers: [], body: new Uint8Array(0) });
      if (ev.type === 'final' && ev.retransmission) return;
      if (res.status >= 200 && res.status < 300) {
        out.leg = {
          callId,
          localTag: fromTag,
          localHeader: getHeader(req, 'From')!,
          remoteHeader: getHeader(res, 'To')!,
          remoteTarget: uriOf(getHeaders(res, 'Contact')[0] ?? '') ?? `sip:127.0.0.1:${server.port}`,
          routeSet: [],
          localCseq: 1,
        };
      }
      resolveFinal(res);
    });
    return out;
  }

  ack(call: OutgoingCall, server: SipTarget): Promise<void> {
    const ack = ackFor2xx(call.leg!, 1, { protocol: 'UDP', ...this.transport.sentBy });
    return this.layer.sendStateless(ack, server);
  }

  bye(call: OutgoingCall, server: SipTarget): Promise<SipResponse> {
    const req = inDialogRequest(call.leg!, 'BYE');
    return new Promise((resolve) => this.layer.sendRequest(req, server, (ev) => { if (ev.type !== 'provisional') resolve(ev.response!); }));
  }

  /** Sends a request inside an answered outgoing call's dialog (a 2xx to INVITE is ACKed). */
  inDialogRequest(call: OutgoingCall, server: SipTarget, method: string, body = new Uint8Array(0), headers: readonly SipHeader[] = [], o: InDialogOptions = {}): Promise<SipResponse> {
    return this.sendInDialog(call.leg!, server, method, body, headers, o);
  }

  /** Sends a request inside the answered incoming call's dialog, as the agent's phone. */
  incomingRequest(server: SipTarget, method: string, body = new Uint8Array(0), headers: readonly SipHeader[] = [], o: InDialogOptions = {}): Promise<SipResponse> {
    const inc = [...this.incoming.values()].find((c) => c.state === 'answered');
    if (inc === undefined) throw new Error('no answered call');
    return this.sendInDialog(this.legOf(inc), server, method, body, headers, o);
  }

  /** Sends a request inside the most recent incoming call's dialog, whatever its state
   * (a late request, as from a phone whose BYE crossed the node's). */
  lastIncomingRequest(server: SipTarget, method: string): Promise<SipResponse> {
    const inc = [...this.incoming.values()].at(-1);
    if (inc === undefined || inc.state === 'ringing') throw new Error('no answered or ended call');
    return this.sendInDialog(this.legOf(inc), server, method, new Uint8Array(0), [], {});
  }

  private sendInDialog(leg: DialogLeg, server: SipTarget, method: string, body: Uint8Array, headers: readonly SipHeader[], o: InDialogOptions): Promise<SipResponse> {
    const req = inDialogRequest(leg, method, { body, headers, ...(method === 'INVITE' ? { contact: `<sip:ua@127.0.0.1:${this.port}>` } : {}) });
    const seq = leg.localCseq;
    return new Promise((resolve) => this.layer.sendRequest(req, server, (ev) => {
      if (ev.type === 'provisional') return;
      if (ev.type === 'final' && ev.retransmission) return void o.onRetransmission?.(ev.response);
      const res = ev.response ?? ({ kind: 'response', status: 408, reason: 'Timeout', headers: [], body: new Uint8Array(0) } as SipResponse);
      if (method === 'INVITE' && res.status >= 200 && res.status < 300 && o.ack !== false) {
        let ack = ackFor2xx(leg, seq, { protocol: 'UDP', ...this.transport.sentBy });
        if (o.ackBody !== undefined) {
          const headers = ack.headers.filter((h) => h.name !== 'Content-Length');
          ack = { ...ack, headers: [...headers, { name: 'Content-Type', value: 'application/sdp' }, { name: 'Content-Length', value: String(o.ackBody.length) }], body: o.ackBody };
        }
        void this.layer.sendStateless(ack, server);
      }
      resolve(res);
    }));
  }

  /** The agent side of an incoming call as a dialog we can send in. */
  private legOf(inc: Incoming): DialogLeg {
    inc.leg ??= {
      callId: getHeader(inc.req, 'Call-ID')!,
      localTag: inc.toTag,
      localHeader: `${getHeader(inc.req, 'To')!};tag=${inc.toTag}`,
      remoteHeader: getHeader(inc.req, 'From')!,
      remoteTarget: uriOf(getHeaders(inc.req, 'Contact')[0] ?? '')!,
      routeSet: [],
      localCseq: 100,
    };
    return inc.leg;
  }

  cancel(call: OutgoingCall, server: SipTarget): void {
    this.layer.sendRequest(buildCancel(call.tx.request), server, () => undefined);
  }

  /** Hangs up an answered incoming call from the agent's side. */
  hangUpIncoming(server: SipTarget): Promise<SipResponse> {
    const inc = [...this.incoming.values()].find((c) => c.state === 'answered');
    if (inc === undefined) throw new Error('no answered call');
    const leg = this.legOf(inc);
    this.end(inc);
    const req = inDialogRequest(leg, 'BYE');
    return new Promise((resolve) => this.layer.sendRequest(req, server, (ev) => { if (ev.type !== 'provisional') resolve(ev.response!); }));
  }

  private onRequest(tx: ServerTransaction, req: SipRequest): void {
    const callId = getHeader(req, 'Call-ID') ?? '';
    switch (req.method) {
      case 'INVITE': {
        if (parseNameAddr(getHeader(req, 'To') ?? '')?.params['tag'] !== undefined) {
          this.inDialog.push(req);
          const port = this.incoming.has(callId) ? this.answerPort : this.offerPort;
          tx.respond(buildResponse(req, 200, 'OK', {
            headers: [{ name: 'Contact', value: `<${this.contact}>` }, { name: 'Content-Type', value: 'application/sdp' }],
            body: Buffer.from(testSdp(port)),
          }));
          return;
        }
        this.invites.push(req);
        for (const w of this.inviteWaiters.splice(0)) w(req);
        const inc: Incoming = { tx, req, toTag: generateTag(), state: 'ringing', leg: null };
        this.incoming.set(callId, inc);
        this.active++;
        this.maxActive = Math.max(this.maxActive, this.active);
        if (this.mode === 'busy') {
          this.end(inc);
          tx.respond(buildResponse(req, 486, 'Busy Here', { toTag: inc.toTag }));
          return;
        }
        tx.respond(buildResponse(req, 180, 'Ringing', { toTag: inc.toTag }));
        if (this.mode !== 'answer') return;
        const answer = (): void => {
          if (inc.state !== 'ringing') return;
          inc.state = 'answered';
          const body = Buffer.from(testSdp(this.answerPort));
          tx.respond(buildResponse(req, 200, 'OK', {
            toTag: inc.toTag,
            headers: [{ name: 'Contact', value: `<${this.contact}>` }, { name: 'Content-Type', value: 'application/sdp' }],
            body,
          }));
        };
        if (this.beforeAnswer === null) answer();
        else void this.beforeAnswer(req).then(answer);
        return;
      }
      case 'CANCEL': {
        tx.respond(buildResponse(req, 200, 'OK'));
        const inc = this.incoming.get(callId);
        if (inc !== undefined && inc.state === 'ringing') {
          this.end(inc);
          inc.tx.respond(buildResponse(inc.req, 487, 'Request Terminated', { toTag: inc.toTag }));
        }
        return;
      }
      case 'BYE': {
        this.byes.push(req);
        tx.respond(buildResponse(req, 200, 'OK'));
        const inc = this.incoming.get(callId);
        if (inc !== undefined) this.end(inc);
        this.byeWaiters.get(callId)?.(req);
        return;
      }
      default:
        this.inDialog.push(req);
        tx.respond(buildResponse(req, 200, 'OK'));
    }
  }

  private end(inc: Incoming): void {
    if (inc.state === 'ended') return;
    inc.state = 'ended';
    this.active--;
  }
}
