// What a transport does with one parse result, decided without touching a socket: hand a
// good message up (stamping received/rport on requests), answer a malformed request the
// parser can still respond to with a 400 carrying the parser's reason, or drop it.

import type { SipMessage, SipResponse } from '../syntax/message.js';
import { buildResponse, reasonPhraseForError, statusForError, type parseMessage } from '../syntax/index.js';
import { TRANSPORT_ERR } from './errors.js';
import { responseTarget } from './response-routing.js';
import type { SipSource, SipTarget } from './transport.js';
import { stampTopVia, topViaValue } from './via-stamp.js';

export type ParseOutcome = ReturnType<typeof parseMessage>;

export type InboundOutcome =
  | Readonly<{ type: 'deliver'; message: SipMessage }>
  | Readonly<{ type: 'answer'; response: SipResponse; target: SipTarget; parseErrorCode: string }>
  | Readonly<{ type: 'drop'; code: string; parseErrorCode?: string }>;

export function classifyInbound(result: ParseOutcome, source: SipSource, defaultPort: number): InboundOutcome {
  if (result.ok) {
    const message = result.message;
    if (message.kind === 'response') return { type: 'deliver', message };
    const stamped = stampTopVia(message, source);
    if (stamped === null) return { type: 'drop', code: TRANSPORT_ERR.BAD_VIA };
    return { type: 'deliver', message: stamped };
  }
  const error = result.error;
  const parseErrorCode = String(error.code);
  const unanswerable = { type: 'drop', code: TRANSPORT_ERR.UNANSWERABLE, parseErrorCode } as const;
  const partial = error.partial;
  if (!error.canRespond || partial === undefined) return unanswerable;
  // RFC 3261 §17.1.1.3: an ACK is never answered.
  if (partial.method.toUpperCase() === 'ACK') return unanswerable;
  const stamped = stampTopVia(partial, source);
  const via = stamped === null ? undefined : topViaValue(stamped);
  if (stamped === null || via === undefined) return unanswerable;
  const target = responseTarget(via, source, defaultPort);
  if (target === null) return unanswerable;
  try {
    // 400 with the parser's reason (505/513 for version and size, as the parser maps them).
    const response = buildResponse(stamped, statusForError(error.code), reasonPhraseForError(error));
    return { type: 'answer', response, target, parseErrorCode };
  } catch {
    // A partial request may lack what a response needs (From, Call-ID...): drop it.
    return unanswerable;
  }
}
