// The vocabulary of the transaction state machines: plain data in (events), plain data
// out (actions). The machines never touch a socket or a clock; the layer does.

import type { SipRequest, SipResponse, SipMessage } from '../syntax/message.js';

export type TimerName = 'A' | 'B' | 'C' | 'D' | 'E' | 'F' | 'K' | 'G' | 'H' | 'I' | 'J' | 'L' | 'M' | 'Trying100';

export type TxKind = 'invite-client' | 'non-invite-client' | 'invite-server' | 'non-invite-server';

export type TxState =
  | 'calling'
  | 'trying'
  | 'proceeding'
  | 'completed'
  | 'confirmed'
  | 'accepted'
  | 'terminated';

export type TxEvent =
  | Readonly<{ type: 'start' }>
  /** A response from the network (client transactions). */
  | Readonly<{ type: 'response'; response: SipResponse }>
  /** A retransmitted request or an ACK from the network (server transactions). */
  | Readonly<{ type: 'request'; request: SipRequest }>
  /** A response the TU hands to a server transaction. */
  | Readonly<{ type: 'tu-response'; response: SipResponse }>
  | Readonly<{ type: 'timer'; timer: TimerName }>
  | Readonly<{ type: 'transport-error'; code: string }>;

/** What the transaction tells its user. `response` on timeout/transport-error is the
 * locally generated 408/503 the TU should treat as the final answer (RFC 3261 §8.1.3.1). */
export type TuNotice =
  | Readonly<{ type: 'provisional'; response: SipResponse }>
  /** `retransmission` marks 2xx retransmissions passed up in the Accepted state (RFC 6026). */
  | Readonly<{ type: 'final'; response: SipResponse; retransmission: boolean }>
  | Readonly<{ type: 'timeout'; timer: 'B' | 'C' | 'F' | 'H'; response?: SipResponse }>
  | Readonly<{ type: 'transport-error'; code: string; response?: SipResponse }>
  /** An ACK matched an INVITE server transaction in Accepted (RFC 6026 §7.1). */
  | Readonly<{ type: 'ack'; request: SipRequest }>;

export type TxAction =
  | Readonly<{ type: 'send'; message: SipMessage; retransmission: boolean }>
  | Readonly<{ type: 'start-timer'; timer: TimerName; delayMs: number }>
  | Readonly<{ type: 'stop-timer'; timer: TimerName }>
  | Readonly<{ type: 'notify'; notice: TuNotice }>
  /** A request retransmission or duplicate the machine swallowed (for counters). */
  | Readonly<{ type: 'absorbed' }>;

/** One transaction's state, owned and mutated only by the machine's handlers. */
export type TxRecord = {
  readonly kind: TxKind;
  state: TxState;
  /** The request as sent (client) or as received, Via stamped (server); cut down to the
   * headers that identify it once the transaction only waits out a timer (see
   * TransactionLayer's settle). */
  request: SipRequest;
  /** Server: the response it resends on a request retransmission or timer G (the latest
   * provisional, or the non-2xx final). Never a 2xx, which only the TU resends. */
  lastResponse: SipResponse | undefined;
  /** INVITE client: the ACK built for a non-2xx final, resent on its retransmissions. */
  ack: SipRequest | undefined;
  /** Current interval of the retransmission timer (A, E or G). */
  intervalMs: number;
  /** The transport guarantees delivery: no retransmission timers, zero wait timers. */
  readonly reliable: boolean;
};

export type TxConfig = Readonly<{
  t1Ms: number;
  t2Ms: number;
  t4Ms: number;
  timerDUnreliableMs: number;
  trying100DelayMs: number;
  timerCMs: number;
}>;

export type Handler<E extends TxEvent = TxEvent> = (tx: TxRecord, event: E, cfg: TxConfig, out: TxAction[]) => void;

/** For each state, a handler per event type; an event with no handler is ignored. */
export type StateTable = Readonly<Partial<Record<TxState, Readonly<Partial<{ [K in TxEvent['type']]: Handler<Extract<TxEvent, { type: K }>> }>>>>>;

export type EventOf<K extends TxEvent['type']> = Extract<TxEvent, { type: K }>;
