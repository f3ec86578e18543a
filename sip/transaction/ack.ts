// Requests the transaction layer builds itself: the ACK for a non-2xx final response
// (RFC 3261 §17.1.1.3) and the CANCEL for a pending INVITE (§9.1). Both reuse the
// INVITE's top Via, so they carry its branch, which is what ties them to it.

import { getHeader, getHeaders, parseCSeq } from '../syntax/index.js';
import type { SipHeader, SipRequest, SipResponse } from '../syntax/message.js';
import assert from 'node:assert';

function one(m: SipRequest | SipResponse, name: string): SipHeader {
  const value = getHeader(m, name);
  if (value === undefined) assert.fail(`${name} missing`);
  return { name, value };
}

function derived(invite: SipRequest, method: 'ACK' | 'CANCEL', to: SipHeader): SipRequest {
  if (invite.method !== 'INVITE') assert.fail(`${method} is only built for an INVITE`);
  const cseq = parseCSeq(getHeader(invite, 'CSeq') ?? '');
  assert(cseq !== null, 'INVITE without a valid CSeq');
  const topVia = getHeaders(invite, 'Via')[0];
  assert(topVia !== undefined, 'INVITE without a Via');
  const headers: SipHeader[] = [
    { name: 'Via', value: topVia },
    ...getHeaders(invite, 'Route').map((value) => ({ name: 'Route', value })),
    one(invite, 'From'),
    to,
    one(invite, 'Call-ID'),
    { name: 'CSeq', value: `${cseq.seq} ${method}` },
    { name: 'Max-Forwards', value: '70' },
  ];
  return { kind: 'request', method, uri: invite.uri, headers, body: new Uint8Array(0) };
}

/** ACK for a 300–699 response: To comes from the response (it carries the tag). */
export function buildNonSuccessAck(invite: SipRequest, response: SipResponse): SipRequest {
  assert(response.status >= 300, 'the ACK for a 2xx belongs to the TU');
  return derived(invite, 'ACK', one(response, 'To'));
}

/** CANCEL for `invite` (as it was sent, with our Via). Send it only after a provisional
 * response arrived (RFC 3261 §9.1). */
export function buildCancel(invite: SipRequest): SipRequest {
  return derived(invite, 'CANCEL', one(invite, 'To'));
}
