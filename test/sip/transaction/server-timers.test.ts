// Proves the server transactions over the loop transport with a fake clock: request
// retransmissions are absorbed (the TU sees each request once) and answered with the last
// response; 100 Trying goes out at 200 ms only if the TU is silent; timer G's schedule and
// H's timeout to the TU; ACK absorption in Completed/Confirmed and timer I; timer J; and
// RFC 6026 Accepted with timer L: INVITE retransmissions absorbed, ACKs passed to the TU.

import t from 'tap';
import { buildResponse } from '../../../sip/syntax/index.js';
import type { SipRequest } from '../../../sip/syntax/message.js';
import type { ServerTransaction } from '../../../sip/transaction/transaction-layer.js';
import { makeRequest } from './fixtures.js';
import { harness, isRequest, isStatus, UAC, UAS } from './harness.js';

t.test('INVITE retransmissions are absorbed: TU sees one request, 100 Trying resent', async (t) => {
  const h = harness();
  // Lose every response until 2 s, so the UAC retransmits at 500 and 1500.
  h.net.filter = (p) => (p.from.host === UAS.host && h.clock.now() < 2000 ? 'drop' : 'deliver');
  h.send(makeRequest({ method: 'INVITE', via: null }));
  h.clock.advance(199);
  t.same(h.times(UAS, isStatus(100)), [], 'no 100 before 200 ms');
  h.clock.advance(4000 - 199);
  t.equal(h.requests.length, 1, 'TU saw the INVITE once');
  t.same(h.times(UAC, isRequest('INVITE')), [0, 500, 1500, 3500], 'UAC retransmitted until a 100 got through');
  t.same(h.times(UAS, isStatus(100)), [200, 500, 1500, 3500], '100 Trying at 200 ms, then once per retransmission');
  t.same(h.events.map((e) => e.value.type), ['provisional']);
  t.ok(h.uas.counters().retransmissionsSent >= 3);
  h.clock.advance(10_000);
  t.equal(h.times(UAC, isRequest('INVITE')).length, 4, 'no retransmission after the provisional');
});

t.test('no 100 Trying when the TU answers within 200 ms', async (t) => {
  const h = harness();
  h.onRequest = (tx) => void tx.respond(buildResponse(tx.request, 180, 'Ringing'));
  h.send(makeRequest({ method: 'INVITE', via: null }));
  h.clock.advance(5000);
  t.same(h.times(UAS, isStatus(100)), []);
  t.same(h.times(UAS, isStatus(180)), [0]);
});

t.test('non-INVITE: retransmission answered with the last response, TU sees it once; J', async (t) => {
  const h = harness();
  h.onRequest = (tx) => void tx.respond(buildResponse(tx.request, 200, 'OK'));
  let first = true;
  h.net.filter = (p) => {
    if (p.from.host === UAS.host && first) {
      first = false;
      return 'drop';
    }
    return 'deliver';
  };
  const req = makeRequest({ method: 'REGISTER', via: null });
  const tx = h.send(req);
  h.clock.advance(1000);
  t.equal(h.requests.length, 1, 'TU saw the REGISTER once');
  t.same(h.times(UAS, isStatus(200)), [0, 500], 'the 200 was lost and resent from Completed');
  t.same(h.events.map((e) => `${e.value.type} ${e.atMs}`), ['final 500']);
  // Timer J keeps the server transaction 64*T1 to absorb retransmissions.
  h.clock.advance(32_000 - 1000 - 1);
  t.equal(h.uas.transactionCount(), 1);
  h.clock.advance(1);
  t.equal(h.uas.transactionCount(), 0, 'gone when J fires');
  // After J, the same request is a new transaction to the TU.
  await h.uacTransport.send(tx.request, h.uasTarget);
  h.clock.flush();
  t.equal(h.requests.length, 2);
});

t.test('non-INVITE over a reliable transport: J is zero', async (t) => {
  const h = harness({ protocol: 'TCP' });
  h.onRequest = (tx) => void tx.respond(buildResponse(tx.request, 200, 'OK'));
  h.send(makeRequest({ method: 'OPTIONS', via: null }));
  h.clock.flush();
  t.equal(h.uas.transactionCount(), 0);
  h.clock.flush();
  t.equal(h.uac.transactionCount(), 0, 'K is zero too');
  t.equal(h.events.length, 1);
});

t.test('timer G doubles to T2, H fires at 64*T1 and tells the TU when no ACK comes', async (t) => {
  const h = harness();
  h.onRequest = (tx) => void tx.respond(buildResponse(tx.request, 486, 'Busy Here'));
  h.net.filter = (p) => (isRequest('ACK')(p) ? 'drop' : 'deliver');
  h.send(makeRequest({ method: 'INVITE', via: null }));
  h.clock.advance(40_000);
  t.same(h.times(UAS, isStatus(486)), [0, 500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500]);
  t.same(h.serverErrors.map((e) => `${e.value.type} ${e.atMs}`), ['timeout H 32000']);
  t.equal(h.uas.transactionCount(), 0);
});

t.test('ACK absorbed in Completed → Confirmed; timer I absorbs ACK retransmissions for T4', async (t) => {
  const h = harness();
  h.onRequest = (tx) => void tx.respond(buildResponse(tx.request, 486, 'Busy Here'));
  h.send(makeRequest({ method: 'INVITE', via: null }));
  h.clock.flush();
  h.clock.flush();
  const server = h.requests[0]!.value;
  t.equal(server.state(), 'confirmed');
  t.same(h.acks, [], 'the ACK for a non-2xx never reaches the TU');
  const ack = h.net.sentFrom(UAC, isRequest('ACK'))[0]!.message as SipRequest;
  await h.uacTransport.send(ack, h.uasTarget);
  h.clock.flush();
  t.same(h.acks, [], 'a retransmitted ACK is absorbed');
  t.ok(h.uas.counters().retransmissionsAbsorbed >= 1);
  h.clock.advance(4_999);
  t.same(h.times(UAS, isStatus(486)), [0], 'no 486 retransmission after the ACK');
  t.equal(server.state(), 'confirmed');
  h.clock.advance(1);
  t.equal(server.state(), 'terminated', 'I fires at T4');
  t.equal(h.uas.transactionCount(), 0);
});

t.test('RFC 6026 Accepted: INVITE retransmissions absorbed, ACKs (same or new branch) go to the TU, L ends it', async (t) => {
  const h = harness();
  let server: ServerTransaction | undefined;
  h.onRequest = (tx) => {
    server = tx;
    tx.respond(buildResponse(tx.request, 200, 'OK'));
  };
  const client = h.send(makeRequest({ method: 'INVITE', via: null }));
  h.clock.flush();
  h.clock.flush();
  t.equal(server?.state(), 'accepted');
  // An INVITE retransmission crossing the 2xx: absorbed, no response, no new TU request.
  await h.uacTransport.send(client.request, h.uasTarget);
  h.clock.flush();
  t.equal(h.requests.length, 1);
  t.same(h.times(UAS, isStatus(200)), [0]);
  // The usual ACK for a 2xx has a new branch: it matches no transaction and goes to the TU.
  const ack2xx: SipRequest = {
    ...client.request,
    method: 'ACK',
    headers: client.request.headers.map((x) => (x.name === 'CSeq' ? { name: 'CSeq', value: '1 ACK' } : x)),
  };
  const newBranch = { ...ack2xx, headers: ack2xx.headers.map((x) => (x.name === 'Via' ? { name: 'Via', value: x.value.replace(/branch=[^;]+/, 'branch=z9hG4bKack2xx') } : x)) };
  await h.uac.sendStateless(newBranch, h.uasTarget);
  // An ACK that reuses the INVITE's branch matches the Accepted transaction: also to the TU.
  await h.uac.sendStateless(ack2xx, h.uasTarget);
  h.clock.flush();
  t.same(h.acks.map((a) => a.value.tx === undefined ? 'stray' : 'matched'), ['stray', 'matched']);
  t.equal(h.uas.counters().strayAcks, 1);
  h.clock.advance(32_000 - 1);
  t.equal(server?.state(), 'accepted');
  h.clock.advance(1);
  t.equal(server?.state(), 'terminated', 'L fires at 64*T1');
  t.equal(h.uas.transactionCount(), 0);
  t.equal(h.uac.transactionCount(), 0, 'M fired too');
});

// A transaction waiting out Timer L/M/J keeps only what identifies its request: at 300
// calls/s whole messages held for 32 s were most of a SIP node's heap.
t.test('a transaction that only waits keeps its request\'s identity, not its body', async (t) => {
  const h = harness();
  let server: ServerTransaction | undefined;
  let seenByTu: SipRequest | undefined;
  h.onRequest = (tx) => {
    server = tx;
    seenByTu = tx.request;
    tx.respond(buildResponse(tx.request, 200, 'OK'));
  };
  const sdp = new TextEncoder().encode('v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\n');
  const invite = makeRequest({ method: 'INVITE', via: null, extra: [{ name: 'Contact', value: '<sip:caller@10.0.0.1>' }, { name: 'Content-Type', value: 'application/sdp' }, { name: 'Content-Length', value: String(sdp.length) }] });
  const client = h.send({ ...invite, body: sdp });
  h.clock.flush();
  h.clock.flush();
  t.equal(server?.state(), 'accepted');
  t.equal(client.state(), 'accepted');
  t.equal(seenByTu?.body.length, sdp.length, 'the TU got the whole INVITE');
  for (const [side, req] of [['server', server!.request], ['client', client.request]] as const) {
    t.same(req.headers.map((x) => x.name), ['Via', 'From', 'To', 'Call-ID', 'CSeq'], `${side}: identity headers only`);
    t.equal(req.body.length, 0, `${side}: no body`);
    t.equal(req.headers.find((x) => x.name === 'Call-ID')?.value, invite.headers.find((x) => x.name === 'Call-ID')?.value, `${side}: same Call-ID`);
  }
  // It still does its job: the TU's 2xx retransmission goes out, an INVITE retransmission
  // is absorbed, and Timer L ends it.
  t.ok(server!.respond(buildResponse(seenByTu!, 200, 'OK')), 'a 2xx retransmission is taken');
  h.clock.flush();
  t.same(h.times(UAS, isStatus(200)), [0, 0]);
  await h.uacTransport.send({ ...invite, body: sdp }, h.uasTarget);
  h.clock.flush();
  t.equal(h.requests.length, 1, 'the retransmitted INVITE was absorbed');
  h.clock.advance(32_000);
  t.equal(server!.state(), 'terminated');
});
