// Small pure steps shared by the four state tables: emit a send, arm or stop a timer,
// end the transaction, and derive timer durations from T1/T2/T4 and reliability; and the
// steps the two client tables take alike (start, give up, lose the transport).

import { buildResponse } from '../syntax/index.js';
import type { SipMessage, SipRequest, SipResponse } from '../syntax/message.js';
import type { EventOf, Handler, TimerName, TxAction, TxConfig, TxRecord } from './types.js';

export function send(out: TxAction[], message: SipMessage, retransmission = false): void {
  out.push({ type: 'send', message, retransmission });
}

export function startTimer(out: TxAction[], timer: TimerName, delayMs: number): void {
  out.push({ type: 'start-timer', timer, delayMs });
}

export function stopTimers(out: TxAction[], ...timers: TimerName[]): void {
  for (const timer of timers) out.push({ type: 'stop-timer', timer });
}

export function terminate(tx: TxRecord): void {
  tx.state = 'terminated';
}

/** Timers D, I, J, K are zero on reliable transports (RFC 3261 §17): then the
 * transaction ends at once instead of arming a timer that fires immediately. */
export function waitThenTerminate(tx: TxRecord, out: TxAction[], timer: TimerName, delayMs: number): void {
  if (delayMs === 0) terminate(tx);
  else startTimer(out, timer, delayMs);
}

export const timeoutMs = (cfg: TxConfig): number => 64 * cfg.t1Ms;

/** Next interval of a capped retransmission timer (E, G): doubles up to T2. */
export const backoffMs = (intervalMs: number, cfg: TxConfig): number => Math.min(2 * intervalMs, cfg.t2Ms);

/** The final answer a TU sees when the far end never answered (408) or could not be
 * reached (503), per RFC 3261 §8.1.3.1. */
function localResponse(request: SipRequest, status: 408 | 503, reason: string): SipResponse {
  return buildResponse(request, status, reason);
}

/** A client transaction's first step (RFC 3261 §17.1.1.2, §17.1.2.2): send the request,
 * arm `retransmit` at T1 on an unreliable transport only, and `giveUp` at 64·T1. */
export function startClient(tx: TxRecord, cfg: TxConfig, out: TxAction[], retransmit: 'A' | 'E', giveUp: 'B' | 'F'): void {
  send(out, tx.request);
  if (!tx.reliable) {
    tx.intervalMs = cfg.t1Ms;
    startTimer(out, retransmit, tx.intervalMs);
  }
  startTimer(out, giveUp, timeoutMs(cfg));
}

/** A client transaction gives up when `timer` fires: it ends, and its TU gets a 408. */
export function clientTimedOut(tx: TxRecord, out: TxAction[], timer: 'B' | 'C' | 'F'): void {
  terminate(tx);
  out.push({ type: 'notify', notice: { type: 'timeout', timer, response: localResponse(tx.request, 408, 'Request Timeout') } });
}

/** A client transaction whose transport failed (§17.1.4) stops `timers`, ends, and hands
 * its TU a 503. */
export function clientTransportError(...timers: TimerName[]): Handler<EventOf<'transport-error'>> {
  return (tx, ev, _cfg, out) => {
    stopTimers(out, ...timers);
    terminate(tx);
    out.push({ type: 'notify', notice: { type: 'transport-error', code: ev.code, response: localResponse(tx.request, 503, 'Service Unavailable') } });
  };
}

export const isProvisional = (r: SipResponse): boolean => r.status >= 100 && r.status < 200;
export const isSuccess = (r: SipResponse): boolean => r.status >= 200 && r.status < 300;
export const isFinal = (r: SipResponse): boolean => r.status >= 200 && r.status < 700;
