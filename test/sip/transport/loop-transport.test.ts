// Proves the in-memory twin behaves like a datagram/stream network under the test's
// control: packets arrive only when the fake clock moves, in order, after the delay the
// filter chose, or never when it drops them; every send is logged with its time; a
// datagram to nobody vanishes while a stream to nobody is refused; a closed endpoint
// rejects sends. Also proves FakeClock fires timers in due order, ties in set order.

import t from 'tap';
import { FakeClock } from '../../../sip/transport/fake-clock.js';
import { LoopNetwork } from '../../../sip/transport/loop-transport.js';
import { makeRequest } from '../transaction/fixtures.js';
import { collect } from './wait.js';

t.test('FakeClock: due order, ties in set order, timers set while firing', async (t) => {
  const clock = new FakeClock();
  const fired: string[] = [];
  clock.setTimer(30, () => fired.push('c30'));
  clock.setTimer(10, () => fired.push('a10'));
  clock.setTimer(10, () => fired.push('b10'));
  const h = clock.setTimer(20, () => fired.push('cleared'));
  clock.setTimer(15, () => clock.setTimer(5, () => fired.push(`nested@${clock.now()}`)));
  clock.clearTimer(h);
  t.equal(clock.advance(25), 4);
  t.same(fired, ['a10', 'b10', 'nested@20']);
  t.equal(clock.now(), 25);
  clock.advance(5);
  t.same(fired, ['a10', 'b10', 'nested@20', 'c30']);
  t.equal(clock.pendingCount(), 0);
});

t.test('delivery waits for the clock, honours per-packet delay and loss', async (t) => {
  const clock = new FakeClock();
  const net = new LoopNetwork({ clock });
  const a = net.attach({ host: '10.0.0.1', port: 5060 });
  const b = net.attach({ host: '10.0.0.2', port: 5060 });
  const got = collect(b);
  let n = 0;
  net.filter = () => {
    n++;
    return n === 2 ? 'drop' : n === 3 ? { delayMs: 100 } : 'deliver';
  };
  const to = { protocol: 'UDP', host: '10.0.0.2', port: 5060 } as const;
  for (const method of ['OPTIONS', 'INFO', 'MESSAGE', 'NOTIFY']) await a.send(makeRequest({ method, via: 'SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKl' + method }), to);
  t.equal(got.length, 0, 'nothing before the clock moves');
  clock.flush();
  t.same(got.map((m) => m.message.kind === 'request' && m.message.method), ['OPTIONS', 'NOTIFY']);
  clock.advance(100);
  t.same(got.map((m) => m.message.kind === 'request' && m.message.method), ['OPTIONS', 'NOTIFY', 'MESSAGE'], 'delayed one arrives late');
  t.equal(net.lost, 1);
  t.equal(net.log.length, 4, 'every send is logged, lost or not');
  t.same(got[0]!.source, { protocol: 'UDP', host: '10.0.0.1', port: 5060, local: { host: '10.0.0.2', port: 5060 } });
});

t.test('unreachable: datagram vanishes, stream is refused; closed endpoint rejects', async (t) => {
  const clock = new FakeClock();
  const net = new LoopNetwork({ clock });
  const u = net.attach({ host: '10.0.0.1', port: 5060, protocol: 'UDP' });
  const s = net.attach({ host: '10.0.0.1', port: 5060, protocol: 'TCP' });
  await u.send(makeRequest(), { protocol: 'UDP', host: '10.0.0.9', port: 5060 });
  await t.rejects(s.send(makeRequest(), { protocol: 'TCP', host: '10.0.0.9', port: 5060 }), { code: 'SIP_ERR_TRANSPORT_CONNECT_FAILED' });
  t.equal(s.reliable, true);
  t.equal(u.reliable, false);
  await u.close();
  await t.rejects(u.send(makeRequest(), { protocol: 'UDP', host: '10.0.0.9', port: 5060 }), { code: 'SIP_ERR_TRANSPORT_CLOSED' });
});
