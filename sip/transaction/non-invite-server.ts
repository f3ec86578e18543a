// Non-INVITE server transaction (RFC 3261 §17.2.2, Figure 8): Trying → Proceeding →
// Completed → Terminated. Request retransmissions are answered with the last response
// (absorbed if none yet); timer J lingers to do so (zero on reliable transports).

import { isProvisional, send, stopTimers, terminate, timeoutMs, waitThenTerminate } from './machine-helpers.js';
import type { EventOf, Handler, StateTable } from './types.js';

const onTuResponse: Handler<EventOf<'tu-response'>> = (tx, ev, cfg, out) => {
  const r = ev.response;
  tx.lastResponse = r;
  send(out, r);
  if (isProvisional(r)) {
    tx.state = 'proceeding';
    return;
  }
  tx.state = 'completed';
  waitThenTerminate(tx, out, 'J', tx.reliable ? 0 : timeoutMs(cfg));
};

const resendLast: Handler<EventOf<'request'>> = (tx, _ev, _cfg, out) => {
  if (tx.lastResponse !== undefined) send(out, tx.lastResponse, true);
  else out.push({ type: 'absorbed' });
};

const onTransportError: Handler<EventOf<'transport-error'>> = (tx, ev, _cfg, out) => {
  stopTimers(out, 'J');
  terminate(tx);
  out.push({ type: 'notify', notice: { type: 'transport-error', code: ev.code } });
};

export const NON_INVITE_SERVER_TABLE: StateTable = {
  trying: {
    request: resendLast,
    'tu-response': onTuResponse,
    'transport-error': onTransportError,
  },
  proceeding: {
    request: resendLast,
    'tu-response': onTuResponse,
    'transport-error': onTransportError,
  },
  completed: {
    request: resendLast,
    timer: (tx, ev) => {
      if (ev.timer === 'J') terminate(tx);
    },
  },
};
