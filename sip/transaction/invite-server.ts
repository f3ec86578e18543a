// INVITE server transaction (RFC 3261 §17.2.1, Figure 7, as amended by RFC 6026 §7.1):
// Proceeding → Completed (non-2xx; G retransmits it, H gives up waiting for the ACK) →
// Confirmed (I absorbs ACK retransmissions) → Terminated; or Proceeding → Accepted (2xx;
// the TU retransmits it, ACKs go up to the TU, L ends it). Sends 100 Trying itself when
// the TU has not answered within trying100DelayMs.

import { buildResponse } from '../syntax/index.js';
import {
  backoffMs,
  isProvisional,
  isSuccess,
  send,
  startTimer,
  stopTimers,
  terminate,
  timeoutMs,
  waitThenTerminate,
} from './machine-helpers.js';
import type { EventOf, Handler, StateTable } from './types.js';

const isAck = (ev: EventOf<'request'>): boolean => ev.request.method === 'ACK';

const onTuResponse: Handler<EventOf<'tu-response'>> = (tx, ev, cfg, out) => {
  const r = ev.response;
  stopTimers(out, 'Trying100');
  send(out, r);
  if (isProvisional(r)) {
    tx.lastResponse = r;
    return;
  }
  if (isSuccess(r)) {
    // Only the TU resends a 2xx (RFC 6026): nothing here will need it again.
    tx.lastResponse = undefined;
    tx.state = 'accepted';
    startTimer(out, 'L', timeoutMs(cfg));
    return;
  }
  tx.lastResponse = r;
  tx.state = 'completed';
  if (!tx.reliable) {
    tx.intervalMs = cfg.t1Ms;
    startTimer(out, 'G', tx.intervalMs);
  }
  startTimer(out, 'H', timeoutMs(cfg));
};

const onTransportError: Handler<EventOf<'transport-error'>> = (tx, ev, _cfg, out) => {
  stopTimers(out, 'Trying100', 'G', 'H');
  terminate(tx);
  out.push({ type: 'notify', notice: { type: 'transport-error', code: ev.code } });
};

export const INVITE_SERVER_TABLE: StateTable = {
  proceeding: {
    start: (_tx, _ev, cfg, out) => {
      startTimer(out, 'Trying100', cfg.trying100DelayMs);
    },
    timer: (tx, ev, _cfg, out) => {
      if (ev.timer !== 'Trying100' || tx.lastResponse !== undefined) return;
      const trying = buildResponse(tx.request, 100, 'Trying');
      tx.lastResponse = trying;
      send(out, trying);
    },
    request: (tx, ev, _cfg, out) => {
      // A retransmitted INVITE gets the latest provisional again (RFC 3261 §17.2.1).
      if (!isAck(ev) && tx.lastResponse !== undefined) send(out, tx.lastResponse, true);
      else out.push({ type: 'absorbed' });
    },
    'tu-response': onTuResponse,
    'transport-error': onTransportError,
  },
  completed: {
    timer: (tx, ev, cfg, out) => {
      const last = tx.lastResponse;
      if (ev.timer === 'G' && last !== undefined) {
        send(out, last, true);
        tx.intervalMs = backoffMs(tx.intervalMs, cfg);
        startTimer(out, 'G', tx.intervalMs);
      } else if (ev.timer === 'H') {
        // The ACK never came: the TU learns the far end is gone.
        stopTimers(out, 'G');
        terminate(tx);
        out.push({ type: 'notify', notice: { type: 'timeout', timer: 'H' } });
      }
    },
    request: (tx, ev, cfg, out) => {
      if (isAck(ev)) {
        stopTimers(out, 'G', 'H');
        tx.state = 'confirmed';
        waitThenTerminate(tx, out, 'I', tx.reliable ? 0 : cfg.t4Ms);
      } else if (tx.lastResponse !== undefined) send(out, tx.lastResponse, true);
    },
    'transport-error': onTransportError,
  },
  confirmed: {
    request: (_tx, _ev, _cfg, out) => {
      out.push({ type: 'absorbed' });
    },
    timer: (tx, ev) => {
      if (ev.timer === 'I') terminate(tx);
    },
  },
  accepted: {
    request: (_tx, ev, _cfg, out) => {
      // RFC 6026 §7.1: INVITE retransmissions are absorbed; a matching ACK goes to the TU.
      if (isAck(ev)) out.push({ type: 'notify', notice: { type: 'ack', request: ev.request } });
      else out.push({ type: 'absorbed' });
    },
    'tu-response': (tx, ev, _cfg, out) => {
      // Only the TU retransmits a 2xx; the transaction just passes it down.
      if (!isSuccess(ev.response)) return;
      send(out, ev.response, true);
    },
    timer: (tx, ev) => {
      if (ev.timer === 'L') terminate(tx);
    },
    // RFC 6026 §7.1: a failed 2xx send leaves the transaction in Accepted; the TU is told.
    'transport-error': (_tx, ev, _cfg, out) => {
      out.push({ type: 'notify', notice: { type: 'transport-error', code: ev.code } });
    },
  },
};
