// Non-INVITE client transaction (RFC 3261 §17.1.2, Figure 6): Trying → Proceeding →
// Completed → Terminated. Timer E retransmits (doubling to T2, then every T2 once a
// provisional arrived), F gives up with a 408 to the TU, K lingers to absorb response
// retransmissions (zero on reliable transports).

import {
  backoffMs,
  clientTimedOut,
  clientTransportError,
  isProvisional,
  send,
  startClient,
  startTimer,
  stopTimers,
  terminate,
  waitThenTerminate,
} from './machine-helpers.js';
import type { EventOf, Handler, StateTable } from './types.js';

const onResponse: Handler<EventOf<'response'>> = (tx, ev, cfg, out) => {
  const r = ev.response;
  if (isProvisional(r)) {
    tx.state = 'proceeding';
    out.push({ type: 'notify', notice: { type: 'provisional', response: r } });
    return;
  }
  stopTimers(out, 'E', 'F');
  tx.state = 'completed';
  out.push({ type: 'notify', notice: { type: 'final', response: r, retransmission: false } });
  waitThenTerminate(tx, out, 'K', tx.reliable ? 0 : cfg.t4Ms);
};

const onTimer: Handler<EventOf<'timer'>> = (tx, ev, cfg, out) => {
  if (ev.timer === 'E') {
    send(out, tx.request, true);
    tx.intervalMs = tx.state === 'proceeding' ? cfg.t2Ms : backoffMs(tx.intervalMs, cfg);
    startTimer(out, 'E', tx.intervalMs);
  } else if (ev.timer === 'F') {
    stopTimers(out, 'E');
    clientTimedOut(tx, out, 'F');
  }
};

const onTransportError = clientTransportError('E', 'F');

export const NON_INVITE_CLIENT_TABLE: StateTable = {
  trying: {
    start: (tx, _ev, cfg, out) => startClient(tx, cfg, out, 'E', 'F'),
    timer: onTimer,
    response: onResponse,
    'transport-error': onTransportError,
  },
  proceeding: {
    timer: onTimer,
    response: onResponse,
    'transport-error': onTransportError,
  },
  completed: {
    response: (_tx, _ev, _cfg, out) => {
      out.push({ type: 'absorbed' });
    },
    timer: (tx, ev) => {
      if (ev.timer === 'K') terminate(tx);
    },
  },
};
