// A set of agent phones sharing one SIP socket: each phone has its own DN, contact
// (sip:<dn>@host:port), registration, RTP echo socket and call state; inbound requests are
// dispatched to a phone by the Request-URI user (the contact the registrar handed out),
// falling back to the To user.

import { buildResponse, getHeader, parseNameAddr, parseUri, type SipRequest } from '../syntax/index.js';
import { TransactionLayer, type ServerTransaction } from '../transaction/index.js';
import { SystemTimerService, UdpTransport, type SipTarget } from '../transport/index.js';
import { CallRecorder, type RecorderCounters } from './call-recorder.js';
import type { DigestAlgorithm } from './digest-client.js';
import type { PhonesError } from './errors.js';
import { dialogProbeMsDefault, unregisterTimeoutMs } from './limits.js';
import { Phone } from './phone.js';
import type { Behaviour } from './phone-spec.js';
import { Registration } from './registration.js';
import { RtpEcho } from './rtp-echo.js';

export type PhonesUaOptions = Readonly<{
  host: string;
  /** 0 picks a free port. */
  port?: number;
  phones: readonly Readonly<{ dn: string; behaviour: Behaviour; password: string; registrar: SipTarget; domain: string }>[];
  answerAfterMs: number;
  expiresS: number;
  prefer: DigestAlgorithm;
  recordPath?: string;
  /** In-dialog OPTIONS interval on answered calls (0 = off); dialogProbeMsDefault if unset. */
  dialogProbeMs?: number;
  onError?: (dn: string, err: PhonesError) => void;
}>;

export type PhonesStatus = RecorderCounters & Readonly<{
  phones: number;
  registered: number;
  activeCalls: number;
  /** In-dialog OPTIONS sent to probe answered calls. */
  dialogProbes: number;
  rtpReceived: number;
  rtpEchoed: number;
}>;

export class PhonesUa {
  private readonly byDn = new Map<string, { phone: Phone; reg: Registration; rtp: RtpEcho }>();
  private registeredWaiters: (() => void)[] = [];

  private constructor(
    private readonly transport: UdpTransport,
    private readonly layer: TransactionLayer,
    readonly recorder: CallRecorder,
  ) {}

  get port(): number {
    return this.transport.local.port;
  }

  static async start(o: PhonesUaOptions): Promise<PhonesUa> {
    const transport = await UdpTransport.listen({ host: o.host, port: o.port ?? 0 });
    const recorder = new CallRecorder(o.recordPath);
    const timers = new SystemTimerService();
    let ua: PhonesUa | null = null;
    const layer = new TransactionLayer({
      transports: [transport],
      timers,
      user: {
        onRequest: (tx, req) => ua!.onRequest(tx, req),
        onAck: (ack) => ua!.phoneFor(ack)?.onAck(ack),
      },
    });
    ua = new PhonesUa(transport, layer, recorder);
    for (const p of o.phones) {
      const rtp = await RtpEcho.open(o.host);
      const phone = new Phone({
        dn: p.dn, behaviour: p.behaviour, answerAfterMs: o.answerAfterMs, host: o.host, port: transport.local.port,
        layer, timers, rtp, recorder, dialogProbeMs: o.dialogProbeMs ?? dialogProbeMsDefault,
      });
      const reg = new Registration({
        layer,
        registrar: p.registrar,
        domain: p.domain,
        dn: p.dn,
        password: p.password,
        contactUri: phone.contactUri,
        expiresS: o.expiresS,
        prefer: o.prefer,
        onRegistered: () => ua!.checkRegistered(),
        onError: (err) => o.onError?.(p.dn, err),
      });
      ua.byDn.set(p.dn, { phone, reg, rtp });
    }
    for (const { reg } of ua.byDn.values()) reg.start();
    return ua;
  }

  /** Resolves once every phone holds a binding. */
  allRegistered(): Promise<void> {
    if (this.registeredCount() === this.byDn.size) return Promise.resolve();
    return new Promise((resolve) => this.registeredWaiters.push(resolve));
  }

  registeredCount(): number {
    let n = 0;
    for (const { reg } of this.byDn.values()) if (reg.registered) n++;
    return n;
  }

  phone(dn: string): Phone | undefined {
    return this.byDn.get(dn)?.phone;
  }

  rtpPort(dn: string): number | undefined {
    return this.byDn.get(dn)?.rtp.port;
  }

  status(): PhonesStatus {
    let activeCalls = 0;
    let dialogProbes = 0;
    let rtpReceived = 0;
    let rtpEchoed = 0;
    for (const { phone, rtp } of this.byDn.values()) {
      activeCalls += phone.activeCalls();
      dialogProbes += phone.probesSent;
      const c = rtp.counters();
      rtpReceived += c.received;
      rtpEchoed += c.echoed;
    }
    return { ...this.recorder.counters(), phones: this.byDn.size, registered: this.registeredCount(), activeCalls, dialogProbes, rtpReceived, rtpEchoed };
  }

  /** Hangs up, optionally unregisters (Expires: 0), and closes every socket. */
  async stop(opts: { unregister: boolean }): Promise<void> {
    for (const { phone } of this.byDn.values()) phone.hangUpAll();
    await Promise.all([...this.byDn.values()].map(({ reg }) => withTimeout(reg.stop(opts.unregister), unregisterTimeoutMs)));
    this.layer.close();
    await this.transport.close();
    await Promise.all([...this.byDn.values()].map(({ rtp }) => rtp.close()));
    this.recorder.close();
  }

  private checkRegistered(): void {
    if (this.registeredCount() !== this.byDn.size) return;
    const waiters = this.registeredWaiters;
    this.registeredWaiters = [];
    for (const w of waiters) w();
  }

  private phoneFor(req: SipRequest): Phone | undefined {
    const byUri = parseUri(req.uri)?.user;
    if (byUri !== undefined && this.byDn.has(byUri)) return this.byDn.get(byUri)!.phone;
    const byTo = parseUri(parseNameAddr(getHeader(req, 'To') ?? '')?.uri ?? '')?.user;
    return byTo === undefined ? undefined : this.byDn.get(byTo)?.phone;
  }

  private onRequest(tx: ServerTransaction, req: SipRequest): void {
    const phone = this.phoneFor(req);
    if (phone !== undefined) {
      phone.onRequest(tx, req);
      return;
    }
    if (req.method === 'OPTIONS') tx.respond(buildResponse(req, 200, 'OK'));
    else tx.respond(buildResponse(req, 404, 'Not Found'));
  }
}

function withTimeout(p: Promise<void>, ms: number): Promise<void> {
  return Promise.race([p, new Promise<void>((r) => setTimeout(r, ms).unref())]);
}
