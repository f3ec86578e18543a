// Proves the client transactions' timers over the loop transport with a fake clock:
// the exact retransmission schedule of timers A (INVITE, doubling with no cap) and E
// (non-INVITE, doubling to T2), timeouts B and F reaching the TU as a 408, no
// retransmissions on a reliable transport, and the linger timers D, K and M (RFC 6026
// Accepted, passing 2xx retransmissions to the TU). Each row loses every packet to the
// UAS (or none), advances the clock, and reads the packet log's timestamps.

import t from 'tap';
import { buildResponse } from '../../../sip/syntax/index.js';
import type { TransportProtocol } from '../../../sip/transport/transport.js';
import { makeRequest } from './fixtures.js';
import { harness, isRequest, isStatus, UAC, UAS } from './harness.js';

type ScheduleRow = Readonly<{
  name: string;
  method: string;
  protocol: TransportProtocol;
  sendTimesMs: readonly number[];
  timeoutAtMs: number;
  timer: 'B' | 'F';
}>;

const schedules: readonly ScheduleRow[] = [
  {
    name: 'timer A doubles from T1 with no cap; B fires at 64*T1',
    method: 'INVITE',
    protocol: 'UDP',
    sendTimesMs: [0, 500, 1500, 3500, 7500, 15500, 31500],
    timeoutAtMs: 32000,
    timer: 'B',
  },
  {
    name: 'timer E doubles from T1 up to T2; F fires at 64*T1',
    method: 'OPTIONS',
    protocol: 'UDP',
    sendTimesMs: [0, 500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500],
    timeoutAtMs: 32000,
    timer: 'F',
  },
  { name: 'reliable transport: no A, B still fires', method: 'INVITE', protocol: 'TCP', sendTimesMs: [0], timeoutAtMs: 32000, timer: 'B' },
  { name: 'reliable transport: no E, F still fires', method: 'REGISTER', protocol: 'TCP', sendTimesMs: [0], timeoutAtMs: 32000, timer: 'F' },
];

for (const row of schedules) {
  t.test(row.name, async (t) => {
    const h = harness({ protocol: row.protocol });
    h.net.filter = (p) => (p.to.host === UAS.host ? 'drop' : 'deliver');
    h.send(makeRequest({ method: row.method, via: null }));
    h.clock.advance(row.timeoutAtMs - 1);
    t.equal(h.events.length, 0, 'nothing reaches the TU before the timeout');
    h.clock.advance(1);
    h.clock.advance(60_000);
    t.same(h.times(UAC, isRequest(row.method)), row.sendTimesMs, 'send times');
    t.equal(h.events.length, 1);
    const e = h.events[0]!;
    t.equal(e.atMs, row.timeoutAtMs);
    t.equal(e.value.type, 'timeout');
    t.equal(e.value.type === 'timeout' && e.value.timer, row.timer);
    t.equal(e.value.type === 'timeout' && e.value.response?.status, 408, 'the TU sees a 408');
    t.equal(h.uac.transactionCount(), 0, 'transaction gone');
    t.equal(h.uac.counters().timeouts, 1);
  });
}

t.test('timer E retransmits every T2 once a provisional arrived', async (t) => {
  const h = harness();
  // The UAS answers 100 right away and never a final; its 100 Trying reaches the UAC.
  h.onRequest = (tx) => void tx.respond(buildResponse(tx.request, 100, 'Trying'));
  h.send(makeRequest({ method: 'OPTIONS', via: null }));
  h.clock.advance(20_000);
  // In Proceeding, E fires at T2 intervals from the first firing after the 100.
  t.same(h.times(UAC, isRequest('OPTIONS')), [0, 500, 4500, 8500, 12500, 16500]);
  // Each retransmission is answered with the 100 again; each goes up as a provisional.
  t.ok(h.events.length > 0 && h.events.every((e) => e.value.type === 'provisional'), 'only provisionals');
});

t.test('timer K: non-INVITE client lingers T4 after the final, absorbing retransmissions', async (t) => {
  const h = harness();
  h.onRequest = (tx) => void tx.respond(buildResponse(tx.request, 200, 'OK'));
  const tx = h.send(makeRequest({ method: 'OPTIONS', via: null }));
  h.clock.flush();
  h.clock.flush();
  t.same(h.events.map((e) => `${e.value.type} ${e.atMs}`), ['final 0']);
  t.equal(tx.state(), 'completed');
  // A duplicate 200 in Completed is absorbed, not shown to the TU again.
  const final = h.net.sentFrom(UAS, isStatus(200))[0]!.message;
  await h.uasTransport.send(final, { protocol: 'UDP', ...UAC });
  h.clock.flush();
  t.equal(h.events.length, 1, 'duplicate final absorbed');
  h.clock.advance(4_999);
  t.equal(h.uac.transactionCount(), 1);
  h.clock.advance(1);
  t.equal(h.uac.transactionCount(), 0, 'gone at T4');
});

t.test('timer D: INVITE client ACKs each retransmitted non-2xx for 32 s', async (t) => {
  const h = harness();
  h.onRequest = (tx) => void tx.respond(buildResponse(tx.request, 486, 'Busy Here'));
  // Lose every ACK so the UAS keeps retransmitting its 486 (timer G).
  h.net.filter = (p) => (isRequest('ACK')(p) ? 'drop' : 'deliver');
  const tx = h.send(makeRequest({ method: 'INVITE', via: null }));
  h.clock.advance(31_999);
  t.equal(tx.state(), 'completed');
  t.same(h.events.map((e) => `${e.value.type} ${e.value.type === 'final' ? e.value.response.status : ''}`), ['final 486'], 'TU sees the 486 once');
  const acks = h.times(UAC, isRequest('ACK'));
  const finals = h.times(UAS, isStatus(486));
  t.same(acks, finals, 'one ACK per 486 received, sent at once');
  t.ok(acks.length >= 10, `ACKs re-sent on retransmissions (${acks.length})`);
  h.clock.advance(1);
  t.equal(h.uac.transactionCount(), 0, 'gone when D fires at 32 s');
});

t.test('timer M (RFC 6026 Accepted): 2xx retransmissions reach the TU until M fires', async (t) => {
  const h = harness();
  let server: import('../../../sip/transaction/transaction-layer.js').ServerTransaction | undefined;
  h.onRequest = (tx) => {
    server = tx;
    tx.respond(buildResponse(tx.request, 200, 'OK'));
  };
  const tx = h.send(makeRequest({ method: 'INVITE', via: null }));
  h.clock.flush();
  h.clock.flush();
  t.equal(tx.state(), 'accepted');
  // The UAS core retransmits its 2xx (RFC 3261 §13.3.1.4); the UAC transaction passes each up.
  h.clock.advance(500);
  t.ok(server?.respond(buildResponse(server.request, 200, 'OK')), 'Accepted takes a 2xx retransmission');
  h.clock.advance(1000);
  t.ok(server?.respond(buildResponse(server.request, 200, 'OK')));
  h.clock.flush();
  t.same(
    h.events.map((e) => (e.value.type === 'final' ? `${e.value.response.status}${e.value.retransmission ? ' again' : ''}` : e.value.type)),
    ['200', '200 again', '200 again'],
  );
  t.equal(h.times(UAC, isRequest('ACK')).length, 0, 'the transaction never ACKs a 2xx');
  h.clock.advance(32_000 - 1_500 - 1);
  t.equal(h.uac.transactionCount(), 1);
  h.clock.advance(1);
  t.equal(h.uac.transactionCount(), 0, 'gone when M fires at 64*T1');
});
