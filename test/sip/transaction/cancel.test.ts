// Proves CANCEL of a pending INVITE end to end over the loop transport (RFC 3261 §9):
// the UAC builds the CANCEL from the INVITE as sent (same branch), the UAS finds the
// INVITE's server transaction with findInviteForCancel (§9.2 matching), answers 200 to
// the CANCEL and 487 to the INVITE; the UAC's INVITE transaction ACKs the 487 itself and
// the UAS transaction absorbs that ACK. Also: a CANCEL matching nothing finds nothing.

import t from 'tap';
import { buildResponse } from '../../../sip/syntax/index.js';
import { buildCancel } from '../../../sip/transaction/ack.js';
import type { ServerTransaction } from '../../../sip/transaction/transaction-layer.js';
import { makeRequest } from './fixtures.js';
import { harness, isRequest, isStatus, UAC, UAS } from './harness.js';

t.test('CANCEL of a pending INVITE: 200 to the CANCEL, 487 to the INVITE, ACK absorbed', async (t) => {
  const h = harness();
  let invite: ServerTransaction | undefined;
  let matched: ServerTransaction | undefined;
  h.onRequest = (tx, req) => {
    if (req.method === 'INVITE') {
      invite = tx;
      tx.respond(buildResponse(req, 180, 'Ringing', { toTag: 'uas-tag' }));
      return;
    }
    if (req.method === 'CANCEL') {
      matched = h.uas.findInviteForCancel(req);
      tx.respond(buildResponse(req, 200, 'OK'));
      matched?.respond(buildResponse(matched.request, 487, 'Request Terminated', { toTag: 'uas-tag' }));
    }
  };
  const inviteTx = h.send(makeRequest({ method: 'INVITE', via: null }), (e, tx) => {
    // RFC 3261 §9.1: CANCEL only once a provisional arrived.
    if (e.type === 'provisional') h.send(buildCancel(tx.request));
  });
  h.clock.advance(1000);
  t.ok(invite !== undefined && matched === invite, 'the CANCEL found the INVITE server transaction');
  t.same(
    h.events.map((e) => `${e.value.method} ${e.value.type} ${e.value.type === 'final' || e.value.type === 'provisional' ? e.value.response.status : ''}`),
    ['INVITE provisional 180', 'CANCEL final 200', 'INVITE final 487'],
  );
  t.same(h.times(UAC, isRequest('ACK')), [0], 'the INVITE client transaction ACKed the 487');
  t.equal(invite?.state(), 'confirmed', 'the UAS absorbed the ACK');
  t.same(h.acks, [], 'that ACK never reached the TU');
  t.same(h.times(UAS, isStatus(487)), [0], 'no 487 retransmission');
  t.equal(inviteTx.state(), 'completed');
  const cancel = h.net.sentFrom(UAC, isRequest('CANCEL'))[0]!.message;
  t.equal(cancel.headers.find((x) => x.name === 'Via')?.value, inviteTx.request.headers[0]!.value, 'same top Via as the INVITE');
});

t.test('a CANCEL for an unknown INVITE matches nothing', async (t) => {
  const h = harness();
  let found: ServerTransaction | undefined | 'unset' = 'unset';
  h.onRequest = (tx, req) => {
    found = h.uas.findInviteForCancel(req);
    tx.respond(buildResponse(req, 481, 'Call/Transaction Does Not Exist'));
  };
  h.send(makeRequest({ method: 'CANCEL', via: null }));
  h.clock.advance(100);
  t.equal(found, undefined);
  t.same(h.events.map((e) => e.value.type === 'final' && e.value.response.status), [481]);
});
