// The SIP node's request dispatch: which transaction user takes which request. REGISTER
// goes to the registrar; INVITE and CANCEL to the B2BUA; any other request inside a
// dialog (a To tag) to the B2BUA, which answers 481 for a dialog it does not know. Out of
// a dialog, OPTIONS gets 200 with what we allow, a BYE 481, and anything else 405.
// ACKs for 2xx go to the B2BUA. The B2BUA is attached after the transaction layer is
// made, since it sends through that layer.

import assert from 'node:assert';
import { buildResponse, getHeader } from '../syntax/index.js';
import type { SipHeader, SipRequest } from '../syntax/index.js';
import type { ServerTransaction, TransactionUser } from '../transaction/index.js';
import type { B2bua } from './b2bua.js';
import { tagOf } from './dialog.js';
import type { Registrar } from './registrar.js';

/** The methods the node takes, as its Allow header says. */
export const nodeAllow = 'INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE, REGISTER';
const outOfDialogOptionsHeaders: readonly SipHeader[] = [
  { name: 'Allow', value: nodeAllow },
  { name: 'Accept', value: 'application/sdp' },
];

export type DispatchRegistrar = Pick<Registrar, 'handle'>;
export type DispatchB2bua = Pick<B2bua, 'onInvite' | 'onCancel' | 'onInDialog' | 'onAck'>;

export class SipNodeDispatch implements TransactionUser {
  private b2bua: DispatchB2bua | null = null;

  constructor(private readonly registrar: DispatchRegistrar) {}

  /** Gives the dispatch its B2BUA (once). */
  attach(b2bua: DispatchB2bua): void {
    assert(this.b2bua === null, 'B2BUA attached twice');
    this.b2bua = b2bua;
  }

  onRequest(tx: ServerTransaction, req: SipRequest): void {
    switch (req.method) {
      case 'REGISTER':
        return this.registrar.handle(tx, req);
      case 'INVITE':
        return this.bua().onInvite(tx, req);
      case 'CANCEL':
        return this.bua().onCancel(tx, req);
      case 'OPTIONS':
        if (inDialog(req)) return this.bua().onInDialog(tx, req);
        return void tx.respond(buildResponse(req, 200, 'OK', { headers: outOfDialogOptionsHeaders }));
      default:
        if (inDialog(req)) return this.bua().onInDialog(tx, req);
        return void tx.respond(buildResponse(req, req.method === 'BYE' ? 481 : 405, req.method === 'BYE' ? 'Call/Transaction Does Not Exist' : 'Method Not Allowed', {
          headers: [{ name: 'Allow', value: nodeAllow }],
        }));
    }
  }

  onAck(ack: SipRequest): void {
    this.b2bua?.onAck(ack);
  }

  /** The node attaches its B2BUA before its transports deliver anything. */
  private bua(): DispatchB2bua {
    assert(this.b2bua !== null, 'a request for the B2BUA before it was attached');
    return this.b2bua;
  }
}

function inDialog(req: SipRequest): boolean {
  return tagOf(getHeader(req, 'To') ?? '') !== undefined;
}
