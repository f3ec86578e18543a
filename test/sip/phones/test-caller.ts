// A minimal calling user agent for tests, built on the project's transaction layer: sends
// an INVITE with a PCMU/PCMA offer, reports provisional and final responses, ACKs a 2xx
// (RFC 3261 §13.2.2.4), and can CANCEL or BYE. Plus an RTP sender that counts echoes.
import dgram from 'node:dgram';
import { buildCancel, TransactionLayer, type ClientEvent, type ClientTransaction } from '../../../sip/transaction/index.js';
import { SystemTimerService, UdpTransport } from '../../../sip/transport/index.js';
import { generateBranch, generateCallId, generateTag, getHeader, parseNameAddr, parseUri, type SipRequest, type SipResponse } from '../../../sip/syntax/index.js';

export type Dialog = { callId: string; invite: ClientTransaction; final: SipResponse; provisional: number[] };

export class TestCaller {
  private constructor(private readonly transport: UdpTransport, readonly layer: TransactionLayer) {}

  static async start(): Promise<TestCaller> {
    const transport = await UdpTransport.listen({ host: '127.0.0.1', port: 0 });
    const layer = new TransactionLayer({ transports: [transport], timers: new SystemTimerService(), user: { onRequest: (tx, req) => tx.respond({ kind: 'response', status: 200, reason: 'OK', headers: req.headers.filter((h) => /^(via|from|to|call-id|cseq)$/i.test(h.name)).concat([{ name: 'Content-Length', value: '0' }]), body: new Uint8Array(0) }) } });
    return new TestCaller(transport, layer);
  }

  get port(): number {
    return this.transport.local.port;
  }

  invite(uri: string, target: { host: string; port: number }, opts: { onProvisional?: (status: number, tx: ClientTransaction) => void; callId?: string } = {}): Promise<Dialog> {
    const callId = opts.callId ?? generateCallId();
    const sdp = ['v=0', 'o=test 1 1 IN IP4 127.0.0.1', 's=-', 'c=IN IP4 127.0.0.1', 't=0 0', 'm=audio 40000 RTP/AVP 0 8 101', 'a=rtpmap:0 PCMU/8000', 'a=rtpmap:8 PCMA/8000', 'a=rtpmap:101 telephone-event/8000', 'a=sendrecv', ''].join('\r\n');
    const body = new TextEncoder().encode(sdp);
    const req: SipRequest = {
      kind: 'request',
      method: 'INVITE',
      uri,
      headers: [
        { name: 'Max-Forwards', value: '70' },
        { name: 'From', value: `<sip:caller@127.0.0.1:${this.port}>;tag=${generateTag()}` },
        { name: 'To', value: `<${uri}>` },
        { name: 'Call-ID', value: callId },
        { name: 'CSeq', value: '1 INVITE' },
        { name: 'Contact', value: `<sip:caller@127.0.0.1:${this.port}>` },
        { name: 'Content-Type', value: 'application/sdp' },
        { name: 'Content-Length', value: String(body.length) },
      ],
      body,
    };
    const provisional: number[] = [];
    return new Promise((resolve, reject) => {
      const tx = this.layer.sendRequest(req, { protocol: 'UDP', ...target }, (ev: ClientEvent, t) => {
        if (ev.type === 'provisional') {
          provisional.push(ev.response.status);
          opts.onProvisional?.(ev.response.status, t);
        } else if (ev.type === 'final') {
          if (ev.retransmission) return;
          if (ev.response.status < 300) void this.ack(t.request, ev.response);
          resolve({ callId, invite: t, final: ev.response, provisional });
        } else reject(new Error(`INVITE ${ev.type}`));
      });
      void tx;
    });
  }

  cancel(invite: ClientTransaction): Promise<number> {
    return new Promise((resolve, reject) => {
      this.layer.sendRequest(buildCancel(invite.request), invite.target, (ev) => {
        if (ev.type === 'final') resolve(ev.response.status);
        else if (ev.type !== 'provisional') reject(new Error(`CANCEL ${ev.type}`));
      });
    });
  }

  private inDialog(method: 'ACK' | 'BYE', invite: SipRequest, res: SipResponse, cseq: number): { req: SipRequest; target: { protocol: 'UDP'; host: string; port: number } } {
    const contact = parseUri(parseNameAddr(getHeader(res, 'Contact') ?? '')?.uri ?? '');
    if (contact === null) throw new Error('2xx without a Contact');
    const req: SipRequest = {
      kind: 'request',
      method,
      uri: parseNameAddr(getHeader(res, 'Contact')!)!.uri,
      headers: [
        ...(method === 'ACK' ? [{ name: 'Via', value: `SIP/2.0/UDP 127.0.0.1:${this.port};branch=${generateBranch()};rport` }] : []),
        { name: 'Max-Forwards', value: '70' },
        { name: 'From', value: getHeader(invite, 'From')! },
        { name: 'To', value: getHeader(res, 'To')! },
        { name: 'Call-ID', value: getHeader(invite, 'Call-ID')! },
        { name: 'CSeq', value: `${cseq} ${method}` },
        { name: 'Content-Length', value: '0' },
      ],
      body: new Uint8Array(0),
    };
    return { req, target: { protocol: 'UDP', host: contact.host, port: contact.port ?? 5060 } };
  }

  ack(invite: SipRequest, res: SipResponse): Promise<void> {
    const { req, target } = this.inDialog('ACK', invite, res, 1);
    return this.layer.sendStateless(req, target);
  }

  bye(d: Dialog): Promise<number> {
    const { req, target } = this.inDialog('BYE', d.invite.request, d.final, 2);
    return new Promise((resolve, reject) => {
      this.layer.sendRequest(req, target, (ev) => {
        if (ev.type === 'final') resolve(ev.response.status);
        else if (ev.type !== 'provisional') reject(new Error(`BYE ${ev.type}`));
      });
    });
  }

  async close(): Promise<void> {
    this.layer.close();
    await this.transport.close();
  }
}

/** The RTP port in an SDP body's first audio m= line. */
export function sdpAudioPort(body: Uint8Array): number {
  const m = /^m=audio (\d+) /m.exec(Buffer.from(body).toString('utf8'));
  if (m === null) throw new Error('no audio m= line');
  return Number(m[1]);
}

/** Sends `count` 172-byte RTP packets (PCMU) to host:port and counts what comes back. */
export async function rtpRoundTrip(host: string, port: number, count: number): Promise<number> {
  const sock = dgram.createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  let back = 0;
  sock.on('message', (buf) => {
    if (buf.length === 172 && buf[0] === 0x80) back++;
  });
  for (let seq = 0; seq < count; seq++) {
    const pkt = Buffer.alloc(172);
    pkt[0] = 0x80;
    pkt[1] = 0;
    pkt.writeUInt16BE(seq, 2);
    pkt.writeUInt32BE(seq * 160, 4);
    pkt.writeUInt32BE(0x1234, 8);
    sock.send(pkt, port, host);
    await new Promise((r) => setTimeout(r, 2));
  }
  await new Promise((r) => setTimeout(r, 200));
  sock.close();
  return back;
}
