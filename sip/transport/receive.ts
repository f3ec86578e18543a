// The step every transport shares after parsing: classify, count, and either hand the
// message up, answer it with a 400, or drop it; or, for a source over its rate, answer 503.

import { buildResponse } from '../syntax/index.js';
import type { SipResponse } from '../syntax/message.js';
import { countInto, type TransportCounters } from './counters.js';
import { TRANSPORT_ERR } from './errors.js';
import { classifyInbound, type InboundOutcome, type ParseOutcome } from './inbound.js';
import { responseTarget } from './response-routing.js';
import { stampTopVia, topViaValue } from './via-stamp.js';
import type { InboundListener, SipSource, SipTarget } from './transport.js';

export type ReceiveDeps = Readonly<{
  counters: TransportCounters;
  listener: InboundListener | undefined;
  defaultPort: number;
  answer: (response: SipResponse, target: SipTarget) => void;
}>;

export function receiveParsed(result: ParseOutcome, source: SipSource, deps: ReceiveDeps): InboundOutcome {
  const outcome = classifyInbound(result, source, deps.defaultPort);
  const c = deps.counters;
  switch (outcome.type) {
    case 'deliver':
      c.messagesReceived++;
      deps.listener?.({ message: outcome.message, source });
      break;
    case 'answer':
      countInto(c.parseErrors, outcome.parseErrorCode);
      c.badRequestsAnswered++;
      deps.answer(outcome.response, outcome.target);
      break;
    case 'drop':
      if (outcome.parseErrorCode !== undefined) countInto(c.parseErrors, outcome.parseErrorCode);
      countInto(c.dropped, outcome.code);
      break;
  }
  return outcome;
}

/** RFC 5626 keep-alives (bare CRLFs) are not messages and not errors. */
export function isKeepAlive(bytes: Uint8Array): boolean {
  for (const b of bytes) if (b !== 0x0d && b !== 0x0a) return false;
  return true;
}

/** A message from a source over its rate (source-gate.ts): a request other than ACK whose
 * Via we can route gets a stateless 503 with Retry-After (RFC 3261 §21.5.4), anything else
 * is dropped. Counted as RATE_LIMITED either way; nothing goes up to the transaction layer. */
export function rejectParsed(result: ParseOutcome, source: SipSource, deps: ReceiveDeps, retryAfterSeconds: number): void {
  countInto(deps.counters.dropped, TRANSPORT_ERR.RATE_LIMITED);
  if (!result.ok || result.message.kind !== 'request' || result.message.method === 'ACK') return;
  const stamped = stampTopVia(result.message, source);
  const via = stamped === null ? undefined : topViaValue(stamped);
  const target = via === undefined ? null : responseTarget(via, source, deps.defaultPort);
  if (stamped === null || target === null) return;
  try {
    deps.answer(buildResponse(stamped, 503, 'Service Unavailable', { headers: [{ name: 'Retry-After', value: String(retryAfterSeconds) }] }), target);
  } catch {
    // A request lacking what a response needs: silence, as for any unanswerable input.
  }
}
