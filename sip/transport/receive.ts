// The step every transport shares after parsing: classify, count, and either hand the
// message up, answer it with a 400, or drop it.

import type { SipResponse } from '../syntax/message.js';
import { countInto, type TransportCounters } from './counters.js';
import { classifyInbound, type InboundOutcome, type ParseOutcome } from './inbound.js';
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
