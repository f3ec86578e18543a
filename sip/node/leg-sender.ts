// Sending on a call's legs: BYE and CANCEL through the transaction layer, ACKs for 2xx
// statelessly, and our Contact per leg. A send that fails is logged and dropped: the
// callers carry on as they would after a lost packet (timers and the other side's
// retransmissions cover it).

import type { Logger } from '../../common/logger.js';
import type { SipRequest } from '../syntax/index.js';
import { buildCancel, type TransactionLayer } from '../transaction/index.js';
import type { SipTarget, SipTransport } from '../transport/index.js';
import type { Attempt } from './call.js';
import { ackFor2xx, inDialogRequest, legTarget, type DialogLeg } from './dialog.js';
import { contactOn, legTransport, transportFor, withAnswer } from './leg-messages.js';

export type LegSenderOptions = Readonly<{
  layer: Pick<TransactionLayer, 'sendRequest' | 'sendStateless'>;
  transports: readonly SipTransport[];
  log: Logger;
}>;

export class LegSender {
  constructor(private readonly o: LegSenderOptions) {}

  transportFor(target: SipTarget): SipTransport {
    return transportFor(this.o.transports, target);
  }

  /** Our Contact for a leg: the transport that leg uses. */
  contactFor(leg: DialogLeg): string {
    return contactOn(legTransport(this.o.transports, leg));
  }

  sendBye(leg: DialogLeg): void {
    const target = legTarget(leg);
    if (target === null) return;
    try {
      this.o.layer.sendRequest(inDialogRequest(leg, 'BYE'), target, () => undefined);
    } catch (err) {
      this.o.log.warn('BYE not sent', { callId: leg.callId, error: (err as Error).message });
    }
  }

  /** CANCELs the agent's INVITE, once (the caller waits for a provisional first, as
   * RFC 3261 §9.1 asks). */
  sendCancel(at: Attempt): void {
    if (at.tx === null || at.cancelSent) return;
    at.cancelSent = true;
    try {
      this.o.layer.sendRequest(buildCancel(at.tx.request), at.target, () => undefined);
    } catch (err) {
      this.o.log.warn('CANCEL not sent', { dn: at.dn, error: (err as Error).message });
    }
  }

  /** The ACK for a leg's 2xx to our INVITE numbered `cseq`, with an SDP answer when
   * the 2xx carried the offer. */
  ackFor(leg: DialogLeg, cseq: number, answer?: Uint8Array): SipRequest {
    const t = legTransport(this.o.transports, leg);
    return withAnswer(ackFor2xx(leg, cseq, { protocol: t.protocol, ...t.sentBy }), answer);
  }

  sendStateless(msg: SipRequest, target: SipTarget | null): void {
    if (target === null) return;
    this.o.layer.sendStateless(msg, target).catch(() => undefined);
  }
}
