// Proves the transaction layer's behaviour at its edges, over the loop transport: a
// transport failure reaches the TU as a transport-error with a 503; a full transaction
// table answers new requests 503 statelessly; responses matching no transaction are
// dropped and counted (RFC 6026); a malformed request the parser can answer gets a 400
// with the parser's reason phrase, and one it cannot is dropped and counted by code;
// misuse of sendRequest throws typed errors; a request too big for UDP moves to TCP.

import t from 'tap';
import { buildResponse } from '../../../sip/syntax/index.js';
import { TX_ERR } from '../../../sip/transaction/errors.js';
import { TransactionLayer } from '../../../sip/transaction/transaction-layer.js';
import { FakeClock } from '../../../sip/transport/fake-clock.js';
import { LoopNetwork } from '../../../sip/transport/loop-transport.js';
import { makeRequest, makeResponse } from './fixtures.js';
import { harness, isStatus, UAC, UAS } from './harness.js';

t.test('a refused reliable connection → transport-error with a local 503', async (t) => {
  const h = harness({ protocol: 'TCP' });
  h.uac.sendRequest(makeRequest({ method: 'OPTIONS', via: null }), { protocol: 'TCP', host: '10.9.9.9', port: 5060 }, (e) =>
    h.events.push({ atMs: h.clock.now(), value: { ...e, method: 'OPTIONS' } }),
  );
  await new Promise((r) => setImmediate(r));
  t.equal(h.events.length, 1);
  const e = h.events[0]!.value;
  t.equal(e.type, 'transport-error');
  t.equal(e.type === 'transport-error' && e.code, 'SIP_ERR_TRANSPORT_CONNECT_FAILED');
  t.equal(e.type === 'transport-error' && e.response?.status, 503);
  t.equal(h.uac.transactionCount(), 0);
});

t.test('transactionsMax: a new request beyond it is answered 503 statelessly', async (t) => {
  const h = harness({ uasLimits: { transactionsMax: 1 } });
  h.send(makeRequest({ method: 'INVITE', via: null }));
  h.send(makeRequest({ method: 'INVITE', via: null }));
  h.clock.advance(100);
  t.equal(h.requests.length, 1, 'only the first reached the TU');
  t.same(h.times(UAS, isStatus(503)), [0]);
  t.same(h.events.map((e) => e.value.type === 'final' && e.value.response.status), [503]);
  t.equal(h.uas.counters().rejectedOverLimit, 1);
});

t.test('a response matching no client transaction is dropped and counted', async (t) => {
  const h = harness();
  const stray = makeResponse(makeRequest({ method: 'INVITE', via: `SIP/2.0/UDP ${UAC.host}:${UAC.port};branch=z9hG4bKnobody` }), 200, 'OK');
  await h.uasTransport.send(stray, { protocol: 'UDP', ...UAC });
  h.clock.flush();
  t.equal(h.uac.counters().strayResponses, 1);
  t.equal(h.events.length, 0);
});

t.test('malformed requests: 400 with the parser reason when answerable, else dropped by code', async (t) => {
  const h = harness();
  const good = makeRequest({ method: 'OPTIONS', via: `SIP/2.0/UDP ${UAC.host}:${UAC.port};branch=z9hG4bKbad1;rport` });
  // Break the Max-Forwards value: Via/CSeq/Call-ID/From/To are intact, so a 400 is possible.
  const broken = { ...good, headers: good.headers.map((x) => (x.name === 'Max-Forwards' ? { name: 'Max-Forwards', value: 'lots' } : x)) };
  await h.uacTransport.send(broken, h.uasTarget);
  h.clock.flush();
  const answers = h.net.sentFrom(UAS, isStatus(400));
  t.equal(answers.length, 1, 'a 400 was sent');
  t.equal(answers[0]!.to.port, UAC.port);
  t.match(answers[0]!.message.kind === 'response' && answers[0]!.message.reason, /Max-Forwards/i, "the parser's reason");
  t.equal(h.requests.length, 0, 'the TU never saw it');
  // No Call-ID: still answerable by its Via (RFC 4475 §3.1.2, issue #19 point 11).
  const noCallId = { ...good, headers: good.headers.filter((x) => x.name !== 'Call-ID') };
  await h.uacTransport.send(noCallId, h.uasTarget);
  h.clock.flush();
  const second = h.net.sentFrom(UAS, isStatus(400));
  t.equal(second.length, 2, 'a second 400');
  t.equal(second[1]!.message.kind === 'response' && second[1]!.message.reason, 'Missing Call-ID header', 'naming the missing header');
  // An unusable Via leaves nowhere to answer: dropped.
  const badVia = { ...good, headers: good.headers.map((x) => (x.name === 'Via' ? { name: 'Via', value: 'SIP/2.0/UDP' } : x)) };
  await h.uacTransport.send(badVia, h.uasTarget);
  h.clock.flush();
  t.equal(h.net.sentFrom(UAS).length, 2, 'nothing more sent');
  const c = h.uasTransport.counters();
  t.equal(c.badRequestsAnswered, 2);
  t.same(c.parseErrors, { SIP_ERR_BAD_MAX_FORWARDS: 1, SIP_ERR_MISSING_HEADER: 1, SIP_ERR_BAD_VIA: 1 }, 'all three counted by parser code');
  t.equal(c.dropped['SIP_ERR_TRANSPORT_UNANSWERABLE'], 1);
  t.equal(h.requests.length, 0, 'the TU saw none of them');
});

t.test('sendRequest refuses an ACK and a Via without an RFC 3261 branch', async (t) => {
  const h = harness();
  t.throws(() => h.send(makeRequest({ method: 'ACK', via: null })), { code: TX_ERR.BAD_REQUEST });
  t.throws(() => h.send(makeRequest({ method: 'OPTIONS', via: 'SIP/2.0/UDP 10.0.0.1:5060;branch=old2543' })), { code: TX_ERR.BAD_REQUEST });
  t.throws(() => h.uac.sendRequest(makeRequest({ via: null }), { protocol: 'TCP', ...UAS }, () => undefined), { code: TX_ERR.NO_TRANSPORT });
  t.equal(h.uac.transactionCount(), 0);
});

t.test('the server transaction answers where the Via says: received + rport', async (t) => {
  const h = harness();
  h.onRequest = (tx) => void tx.respond(buildResponse(tx.request, 200, 'OK'));
  // Claim a sent-by port the UAC does not listen on; rport makes the UAS answer 5060.
  h.send(makeRequest({ method: 'OPTIONS', via: `SIP/2.0/UDP client.invalid:7777;branch=z9hG4bKrport1;rport` }));
  h.clock.advance(10);
  const via = h.requests[0]!.value.request.headers.find((x) => x.name === 'Via')!.value;
  t.match(via, /;received=10\.0\.0\.1/);
  t.match(via, /;rport=5060/);
  t.equal(h.net.sentFrom(UAS, isStatus(200))[0]?.to.port, 5060);
  t.same(h.events.map((e) => e.value.type), ['final']);
});

t.test('a request too big for UDP goes over TCP when the layer has both (RFC 3261 §18.1.1)', async (t) => {
  const clock = new FakeClock();
  const net = new LoopNetwork({ clock });
  const uac = new TransactionLayer({
    transports: [net.attach({ ...UAC, protocol: 'UDP' }), net.attach({ ...UAC, protocol: 'TCP' })],
    timers: clock,
    user: { onRequest: () => undefined },
  });
  const seen: string[] = [];
  new TransactionLayer({
    transports: [net.attach({ ...UAS, protocol: 'UDP' }), net.attach({ ...UAS, protocol: 'TCP' })],
    timers: clock,
    user: {
      onRequest: (tx, req) => {
        seen.push(`${tx.source.protocol} ${req.body.length}`);
        tx.respond(buildResponse(req, 200, 'OK'));
      },
    },
  });
  const finals: number[] = [];
  const small = makeRequest({ method: 'MESSAGE', via: null });
  const big = { ...small, body: new Uint8Array(1400).fill(0x61), headers: [...small.headers, { name: 'Content-Type', value: 'text/plain' }] };
  const onEvent = (e: { type: string; response?: { status: number } }) => void (e.type === 'final' && finals.push(e.response!.status));
  const a = uac.sendRequest(small, { protocol: 'UDP', ...UAS }, onEvent);
  const b = uac.sendRequest({ ...big, headers: big.headers.map((x) => (x.name === 'Call-ID' ? { ...x, value: 'big' } : x)) }, { protocol: 'UDP', ...UAS }, onEvent);
  clock.advance(10);
  t.equal(a.target.protocol, 'UDP');
  t.equal(b.target.protocol, 'TCP');
  t.match(b.request.headers[0]!.value, /^SIP\/2\.0\/TCP /);
  t.same(seen, ['UDP 0', 'TCP 1400']);
  t.same(finals, [200, 200]);
  t.equal(uac.counters().movedToTcp, 1);
});
