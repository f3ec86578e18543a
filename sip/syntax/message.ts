// The parsed form of a SIP message (RFC 3261 §7), shared by every SIP layer. Plain
// readonly data: the transport layer produces it, transactions and the transaction user
// read it, and the serializer turns it back into bytes.

/** A header field as received. `name` is the canonical long form in its usual casing
 * ("Via", "Call-ID", "CSeq", "Content-Length"; compact forms such as "v" or "i" are
 * expanded). A comma-separated header that RFC 3261 §7.3.1 allows to be split (Via,
 * Contact, Route, Record-Route, Allow, Supported, ...) appears as one entry per value,
 * in order; all others keep their value whole. Values are trimmed, with line folding
 * already replaced by a single space. */
export type SipHeader = Readonly<{ name: string; value: string }>;

export type SipRequest = Readonly<{
  kind: 'request';
  method: string;
  /** The Request-URI as written (parse it with the syntax module's URI parser). */
  uri: string;
  headers: readonly SipHeader[];
  body: Uint8Array;
}>;

export type SipResponse = Readonly<{
  kind: 'response';
  status: number;
  reason: string;
  headers: readonly SipHeader[];
  body: Uint8Array;
}>;

export type SipMessage = SipRequest | SipResponse;
