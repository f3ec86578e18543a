// INVITE client transaction (RFC 3261 §17.1.1, Figure 5, as amended by RFC 6026 §7.2):
// Calling → Proceeding → Completed (non-2xx, ACK sent here) or Accepted (2xx, which the
// TU acknowledges itself) → Terminated. Timers A (retransmit), B (give up), D (linger
// for response retransmissions), M (linger for 2xx retransmissions), and C: our bound on
// Proceeding (see limits.ts timerCMs), restarted by each provisional.

import { buildNonSuccessAck } from './ack.js';
import {
  clientTimedOut,
  clientTransportError,
  isProvisional,
  isSuccess,
  send,
  startClient,
  startTimer,
  stopTimers,
  terminate,
  timeoutMs,
  waitThenTerminate,
} from './machine-helpers.js';
import type { EventOf, Handler, StateTable } from './types.js';

const onResponse: Handler<EventOf<'response'>> = (tx, ev, cfg, out) => {
  const r = ev.response;
  if (isProvisional(r)) {
    stopTimers(out, 'A', 'B');
    tx.state = 'proceeding';
    startTimer(out, 'C', cfg.timerCMs);
    out.push({ type: 'notify', notice: { type: 'provisional', response: r } });
    return;
  }
  stopTimers(out, 'A', 'B', 'C');
  if (isSuccess(r)) {
    tx.state = 'accepted';
    startTimer(out, 'M', timeoutMs(cfg));
    out.push({ type: 'notify', notice: { type: 'final', response: r, retransmission: false } });
    return;
  }
  tx.state = 'completed';
  tx.ack = buildNonSuccessAck(tx.request, r);
  send(out, tx.ack);
  out.push({ type: 'notify', notice: { type: 'final', response: r, retransmission: false } });
  waitThenTerminate(tx, out, 'D', tx.reliable ? 0 : cfg.timerDUnreliableMs);
};

const onTransportError = clientTransportError('A', 'B', 'C');

export const INVITE_CLIENT_TABLE: StateTable = {
  calling: {
    start: (tx, _ev, cfg, out) => startClient(tx, cfg, out, 'A', 'B'),
    timer: (tx, ev, _cfg, out) => {
      if (ev.timer === 'A') {
        // INVITE retransmissions double without the T2 cap (RFC 3261 §17.1.1.2).
        send(out, tx.request, true);
        tx.intervalMs *= 2;
        startTimer(out, 'A', tx.intervalMs);
      } else if (ev.timer === 'B') {
        stopTimers(out, 'A');
        clientTimedOut(tx, out, 'B');
      }
    },
    response: onResponse,
    'transport-error': onTransportError,
  },
  proceeding: {
    response: onResponse,
    timer: (tx, ev, _cfg, out) => {
      if (ev.timer === 'C') clientTimedOut(tx, out, 'C');
    },
    'transport-error': onTransportError,
  },
  completed: {
    response: (tx, ev, _cfg, out) => {
      // A retransmitted non-2xx final means our ACK was lost: send it again.
      if (ev.response.status >= 300 && tx.ack !== undefined) send(out, tx.ack, true);
      else out.push({ type: 'absorbed' });
    },
    timer: (tx, ev) => {
      if (ev.timer === 'D') terminate(tx);
    },
    'transport-error': onTransportError,
  },
  accepted: {
    response: (_tx, ev, _cfg, out) => {
      // RFC 6026: every 2xx in Accepted goes up so the TU can ACK each (forked) 2xx.
      if (isSuccess(ev.response)) {
        out.push({ type: 'notify', notice: { type: 'final', response: ev.response, retransmission: true } });
      } else out.push({ type: 'absorbed' });
    },
    timer: (tx, ev) => {
      if (ev.timer === 'M') terminate(tx);
    },
  },
};
