// The SIP syntax error catalogue (STYLE.md §10): every way a message can be rejected has
// a stable code, and the transport can map each to a response status without string
// matching. Codes are data; the human `reason` carries the specifics.

import type { SipRequest } from './message.js';

export const SipErrorCodes = {
  SIP_ERR_EMPTY_MESSAGE: 'nothing but CRLFs',
  SIP_ERR_MESSAGE_TOO_LARGE: 'message exceeds messageBytesMax',
  SIP_ERR_HEADERS_INCOMPLETE: 'no empty line ends the header section',
  SIP_ERR_BAD_LINE_ENDING: 'bare CR or LF inside the header section',
  SIP_ERR_LINE_TOO_LONG: 'a line or unfolded header value exceeds lineBytesMax',
  SIP_ERR_BAD_ENCODING: 'header section is not valid UTF-8',
  SIP_ERR_BAD_START_LINE: 'malformed Request-Line or Status-Line',
  SIP_ERR_BAD_METHOD: 'method is not a token',
  SIP_ERR_BAD_REQUEST_URI: 'malformed Request-URI',
  SIP_ERR_VERSION_NOT_SUPPORTED: 'SIP version other than 2.0',
  SIP_ERR_BAD_STATUS_CODE: 'status code is not 100-699',
  SIP_ERR_BAD_REASON_PHRASE: 'control character in the reason phrase',
  SIP_ERR_BAD_HEADER_LINE: 'header line without a name and colon, or a stray continuation',
  SIP_ERR_TOO_MANY_HEADERS: 'more than headerCountMax header fields',
  SIP_ERR_TOO_MANY_PARAMS: 'more than paramCountMax parameters',
  SIP_ERR_MISSING_HEADER: 'a mandatory header field is absent',
  SIP_ERR_DUPLICATE_HEADER: 'a single-valued header field appears more than once',
  SIP_ERR_BAD_HEADER_VALUE: 'a header value does not match its grammar',
  SIP_ERR_BAD_VIA: 'malformed Via',
  SIP_ERR_BAD_CSEQ: 'malformed CSeq',
  SIP_ERR_CSEQ_METHOD_MISMATCH: 'CSeq method differs from the request method',
  SIP_ERR_BAD_CALL_ID: 'malformed Call-ID',
  SIP_ERR_BAD_NAME_ADDR: 'malformed From, To, Contact, Route or Record-Route',
  SIP_ERR_BAD_MAX_FORWARDS: 'Max-Forwards is not 0-255',
  SIP_ERR_BAD_DATE: 'Date is not an RFC 1123 date in GMT',
  SIP_ERR_BAD_CONTENT_LENGTH: 'Content-Length is not a decimal integer',
  SIP_ERR_MISSING_CONTENT_LENGTH: 'Content-Length absent on a stream transport',
  SIP_ERR_BODY_TRUNCATED: 'fewer body bytes than Content-Length',
  SIP_ERR_BODY_TOO_LARGE: 'Content-Length exceeds contentLengthMax',
  SIP_ERR_INTERNAL: 'parser bug caught at the API boundary',
} as const;

export type SipErrorCode = keyof typeof SipErrorCodes;

/** Why a message was rejected. `canRespond` is true for a request (not ACK) with a start
 * line we could read and a parseable top Via: enough for buildResponse(partial,
 * statusForError(code), reasonPhraseForError(error)) to address a reply (RFC 3261
 * §18.2.2). `partial` then holds the Vias and the first From, To, Call-ID and CSeq as
 * received (any of them may be missing or malformed: that can be the very problem the
 * reply names, RFC 4475 §3.1.2). */
export type SipSyntaxError = Readonly<{
  code: SipErrorCode;
  reason: string;
  canRespond: boolean;
  partial?: SipRequest;
}>;

/** The response status a UAS/proxy should send for a rejected request. */
export function statusForError(code: SipErrorCode): number {
  switch (code) {
    case 'SIP_ERR_VERSION_NOT_SUPPORTED': return 505;
    case 'SIP_ERR_MESSAGE_TOO_LARGE':
    case 'SIP_ERR_BODY_TOO_LARGE': return 513;
    default: return 400;
  }
}

/** A short reason phrase for that response, naming the problem (e.g. "Missing Call-ID header"). */
export function reasonPhraseForError(err: SipSyntaxError): string {
  if (err.code === 'SIP_ERR_VERSION_NOT_SUPPORTED') return 'Version Not Supported';
  if (statusForError(err.code) === 513) return 'Message Too Large';
  // Reason-Phrase may not carry CR/LF; our reasons never do, but keep it bounded.
  return err.reason.slice(0, 120);
}
