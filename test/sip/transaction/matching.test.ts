// Proves transaction matching against a table (RFC 3261 §17.1.3, §17.2.3, §9.2): which
// pairs of messages share a transaction key and which do not — ACK joins its INVITE,
// CANCEL has its own transaction but targets the INVITE's, sent-by and method separate
// transactions with the same branch, responses match by branch + CSeq method, and RFC
// 2543 requests (no magic cookie) fall back to the older header-based key.

import t from 'tap';
import {
  cancelTargetKey,
  clientKeyOfRequest,
  clientKeyOfResponse,
  serverKeyOfRequest,
} from '../../../sip/transaction/matching.js';
import { buildCancel } from '../../../sip/transaction/ack.js';
import type { SipRequest } from '../../../sip/syntax/message.js';
import { makeRequest, makeResponse } from './fixtures.js';

const via = (sentBy: string, branch: string) => `SIP/2.0/UDP ${sentBy};branch=${branch}`;
const invite = makeRequest({ method: 'INVITE', via: via('10.0.0.1:5060', 'z9hG4bKm1'), callId: 'c1', cseq: 5 });
const as = (req: SipRequest, method: string): SipRequest => ({
  ...req,
  method,
  headers: req.headers.map((h) => (h.name === 'CSeq' ? { name: 'CSeq', value: `5 ${method}` } : h)),
});

const rows: ReadonlyArray<readonly [name: string, a: string | null, b: string | null, same: boolean]> = [
  ['ACK for a non-2xx joins its INVITE', serverKeyOfRequest(invite), serverKeyOfRequest(as(invite, 'ACK')), true],
  ['a retransmitted INVITE (stamped differently) is the same transaction', serverKeyOfRequest(invite), serverKeyOfRequest({ ...invite, headers: invite.headers.map((h) => (h.name === 'Via' ? { ...h, value: `${h.value};received=1.2.3.4` } : h)) }), true],
  ['CANCEL is its own transaction', serverKeyOfRequest(invite), serverKeyOfRequest(buildCancel(invite)), false],
  ['CANCEL targets the INVITE', serverKeyOfRequest(invite), cancelTargetKey(buildCancel(invite)), true],
  ['same branch, other sent-by: different', serverKeyOfRequest(invite), serverKeyOfRequest(makeRequest({ method: 'INVITE', via: via('10.0.0.9:5060', 'z9hG4bKm1') })), false],
  ['same branch, other method: different', serverKeyOfRequest(makeRequest({ method: 'OPTIONS', via: via('10.0.0.1:5060', 'z9hG4bKm1') })), serverKeyOfRequest(invite), false],
  ['client: a response matches by branch and CSeq method', clientKeyOfRequest(invite), clientKeyOfResponse(makeResponse(invite, 180, 'Ringing')), true],
  ['client: a CANCEL response does not match the INVITE', clientKeyOfRequest(invite), clientKeyOfResponse(makeResponse(buildCancel(invite), 200, 'OK')), false],
  [
    'RFC 2543: ACK joins INVITE by Call-ID/From tag/CSeq/Via/URI',
    serverKeyOfRequest(makeRequest({ method: 'INVITE', via: via('10.0.0.1', '1234'), callId: 'old', fromTag: 'f', cseq: 3 })),
    serverKeyOfRequest(makeRequest({ method: 'ACK', via: via('10.0.0.1', '1234'), callId: 'old', fromTag: 'f', cseq: 3, toTag: 'x' })),
    true,
  ],
  [
    'RFC 2543: another Call-ID is another transaction',
    serverKeyOfRequest(makeRequest({ method: 'INVITE', via: via('10.0.0.1', '1234'), callId: 'old', fromTag: 'f' })),
    serverKeyOfRequest(makeRequest({ method: 'INVITE', via: via('10.0.0.1', '1234'), callId: 'other', fromTag: 'f' })),
    false,
  ],
];

for (const [name, a, b, same] of rows) {
  t.test(name, async (t) => {
    t.not(a, null);
    t.not(b, null);
    t.equal(a === b, same, `${a} vs ${b}`);
  });
}

t.test('no Via, no key', async (t) => {
  t.equal(serverKeyOfRequest(makeRequest({ via: null })), null);
  t.equal(clientKeyOfRequest(makeRequest({ via: null })), null);
});
