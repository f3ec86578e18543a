// Test rig for one agent phone on the in-memory LoopNetwork with a FakeClock: the phone
// (sip/phones/phone.ts) behind its own transaction layer, and a peer standing where the
// SIP node's B2BUA would be — it places an INVITE, ACKs the 2xx, can BYE, and answers the
// phone's in-dialog requests 200, 481, 405 or not at all, as the test sets `mode`.
import { CallRecorder } from '../../../sip/phones/call-recorder.js';
import { Phone } from '../../../sip/phones/phone.js';
import { RtpEcho } from '../../../sip/phones/rtp-echo.js';
import { buildResponse, generateBranch, generateCallId, generateTag, getHeader, parseNameAddr, type SipRequest, type SipResponse } from '../../../sip/syntax/index.js';
import { TransactionLayer } from '../../../sip/transaction/index.js';
import { FakeClock, LoopNetwork, type LoopPacket } from '../../../sip/transport/index.js';

export const PHONE = { host: '10.0.0.2', port: 5060 } as const;
export const PEER = { host: '10.0.0.1', port: 5060 } as const;

export type PeerMode = 'ok' | 'gone' | 'not-allowed' | 'silent';

export type LoopRig = Readonly<{
  clock: FakeClock;
  network: LoopNetwork;
  phone: Phone;
  recorder: CallRecorder;
  rtp: RtpEcho;
  peer: LoopPeer;
  /** Requests the phone sent, in order. */
  sentByPhone: (method: string) => SipRequest[];
  close: () => Promise<void>;
}>;

export class LoopPeer {
  mode: PeerMode = 'ok';
  readonly received: SipRequest[] = [];
  private cseq = 1;

  constructor(readonly layer: TransactionLayer) {}

  onRequest(tx: { respond: (r: SipResponse) => boolean }, req: SipRequest): void {
    this.received.push(req);
    if (this.mode === 'silent') return;
    if (req.method === 'BYE') return void tx.respond(buildResponse(req, 200, 'OK'));
    const [status, reason] = this.mode === 'ok' ? [200, 'OK'] : this.mode === 'gone' ? [481, 'Call/Transaction Does Not Exist'] : [405, 'Method Not Allowed'];
    tx.respond(buildResponse(req, status, reason));
  }

  /** Sends an INVITE for `dn`; `onFinal` gets the final response (the 2xx is ACKed). */
  invite(dn: string, onFinal: (res: SipResponse) => void): { callId: string } {
    const callId = generateCallId();
    const sdp = ['v=0', 'o=peer 1 1 IN IP4 10.0.0.1', 's=-', 'c=IN IP4 10.0.0.1', 't=0 0', 'm=audio 40000 RTP/AVP 0', 'a=rtpmap:0 PCMU/8000', ''].join('\r\n');
    const body = new TextEncoder().encode(sdp);
    const uri = `sip:${dn}@${PHONE.host}:${PHONE.port}`;
    const req: SipRequest = {
      kind: 'request', method: 'INVITE', uri, body,
      headers: [
        { name: 'Max-Forwards', value: '70' },
        { name: 'From', value: `<sip:5000@${PEER.host}>;tag=${generateTag()}` },
        { name: 'To', value: `<${uri}>` },
        { name: 'Call-ID', value: callId },
        { name: 'CSeq', value: `${this.cseq++} INVITE` },
        { name: 'Contact', value: `<sip:b2bua@${PEER.host}:${PEER.port}>` },
        { name: 'Content-Type', value: 'application/sdp' },
        { name: 'Content-Length', value: String(body.length) },
      ],
    };
    this.layer.sendRequest(req, { protocol: 'UDP', ...PHONE }, (ev, tx) => {
      if (ev.type !== 'final' || ev.retransmission) return;
      if (ev.response.status < 300) void this.layer.sendStateless(this.inDialog('ACK', tx.request, ev.response, 1), { protocol: 'UDP', ...PHONE });
      onFinal(ev.response);
    });
    return { callId };
  }

  /** Sends BYE in the dialog of `invite` answered by `ok`. */
  bye(invite: SipRequest, ok: SipResponse, onFinal: (status: number) => void): void {
    this.layer.sendRequest(this.inDialog('BYE', invite, ok, 2), { protocol: 'UDP', ...PHONE }, (ev) => {
      if (ev.type === 'final') onFinal(ev.response.status);
    });
  }

  private inDialog(method: 'ACK' | 'BYE', invite: SipRequest, ok: SipResponse, cseq: number): SipRequest {
    return {
      kind: 'request', method, uri: parseNameAddr(getHeader(ok, 'Contact')!)!.uri, body: new Uint8Array(0),
      headers: [
        ...(method === 'ACK' ? [{ name: 'Via', value: `SIP/2.0/UDP ${PEER.host}:${PEER.port};branch=${generateBranch()}` }] : []),
        { name: 'Max-Forwards', value: '70' },
        { name: 'From', value: getHeader(invite, 'From')! },
        { name: 'To', value: getHeader(ok, 'To')! },
        { name: 'Call-ID', value: getHeader(invite, 'Call-ID')! },
        { name: 'CSeq', value: `${cseq} ${method}` },
        { name: 'Content-Length', value: '0' },
      ],
    };
  }
}

export async function startLoopRig(o: { dialogProbeMs: number; recordPath?: string }): Promise<LoopRig> {
  const clock = new FakeClock(0);
  const network = new LoopNetwork({ clock });
  const recorder = new CallRecorder(o.recordPath);
  const rtp = await RtpEcho.open('127.0.0.1');
  let phone: Phone | null = null;
  const phoneLayer = new TransactionLayer({
    transports: [network.attach(PHONE)],
    timers: clock,
    user: { onRequest: (tx, req) => phone!.onRequest(tx, req), onAck: (ack) => phone!.onAck(ack) },
  });
  phone = new Phone({ dn: '1001', behaviour: 'answer', answerAfterMs: 0, host: PHONE.host, port: PHONE.port, layer: phoneLayer, timers: clock, rtp, recorder, dialogProbeMs: o.dialogProbeMs });
  let peer: LoopPeer | null = null;
  const peerLayer = new TransactionLayer({ transports: [network.attach(PEER)], timers: clock, user: { onRequest: (tx, req) => peer!.onRequest(tx, req) } });
  peer = new LoopPeer(peerLayer);
  const isRequest = (p: LoopPacket, method: string): boolean => p.message.kind === 'request' && p.message.method === method;
  return {
    clock, network, phone, recorder, rtp, peer,
    sentByPhone: (method) => network.sentFrom(PHONE, (p) => isRequest(p, method)).map((p) => p.message as SipRequest),
    close: async () => {
      phoneLayer.close();
      peerLayer.close();
      recorder.close();
      await rtp.close();
    },
  };
}
