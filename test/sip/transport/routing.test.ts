// Proves the pure halves of the transport layer against tables: how a server stamps the
// top Via of an incoming request (RFC 3261 §18.2.1 received, RFC 3581 rport), and where a
// response goes for a given top Via and request source (RFC 3261 §18.2.2, RFC 3581 §4).

import t from 'tap';
import { responseTarget } from '../../../sip/transport/response-routing.js';
import { stampTopVia } from '../../../sip/transport/via-stamp.js';
import type { SipSource } from '../../../sip/transport/transport.js';
import { makeRequest } from '../transaction/fixtures.js';

const local = { host: '192.0.2.1', port: 5060 };
const udpFrom = (host: string, port: number): SipSource => ({ protocol: 'UDP', host, port, local });

const stampRows: ReadonlyArray<readonly [via: string, from: SipSource, expected: string]> = [
  ['SIP/2.0/UDP 10.1.1.1:5060;branch=z9hG4bK1', udpFrom('10.1.1.1', 5060), 'SIP/2.0/UDP 10.1.1.1:5060;branch=z9hG4bK1'],
  ['SIP/2.0/UDP 10.1.1.1:5060;branch=z9hG4bK1', udpFrom('203.0.113.9', 5060), 'SIP/2.0/UDP 10.1.1.1:5060;branch=z9hG4bK1;received=203.0.113.9'],
  ['SIP/2.0/UDP pc.example.com;branch=z9hG4bK1', udpFrom('10.1.1.1', 5060), 'SIP/2.0/UDP pc.example.com;branch=z9hG4bK1;received=10.1.1.1'],
  // rport asked: received is added even when the IP matches (RFC 3581 §4).
  ['SIP/2.0/UDP 10.1.1.1:5060;rport;branch=z9hG4bK1', udpFrom('10.1.1.1', 40123), 'SIP/2.0/UDP 10.1.1.1:5060;rport=40123;branch=z9hG4bK1;received=10.1.1.1'],
  ['SIP/2.0/UDP 10.1.1.1;branch=z9hG4bK1;rport', udpFrom('198.51.100.7', 1024), 'SIP/2.0/UDP 10.1.1.1;branch=z9hG4bK1;rport=1024;received=198.51.100.7'],
  // A stale received from a spoofing sender is overwritten with the real source.
  ['SIP/2.0/UDP 10.1.1.1;branch=z9hG4bK1;received=1.1.1.1', udpFrom('10.1.1.2', 5060), 'SIP/2.0/UDP 10.1.1.1;branch=z9hG4bK1;received=10.1.1.2'],
];

t.test('stampTopVia', async (t) => {
  for (const [via, from, expected] of stampRows) {
    const req = makeRequest({ via: `${via}` , extra: [{ name: 'Via', value: 'SIP/2.0/UDP second.example.com;branch=z9hG4bK2' }] });
    const stamped = stampTopVia(req, from);
    const vias = stamped?.headers.filter((h) => h.name === 'Via').map((h) => h.value);
    t.same(vias, [expected, 'SIP/2.0/UDP second.example.com;branch=z9hG4bK2'], `${via} from ${from.host}:${from.port}`);
  }
  t.equal(stampTopVia(makeRequest({ via: null }), udpFrom('10.1.1.1', 5060)), null, 'no Via → null');
  t.equal(stampTopVia(makeRequest({ via: 'garbage' }), udpFrom('10.1.1.1', 5060)), null, 'bad Via → null');
});

const tcpSource: SipSource = { protocol: 'TCP', host: '203.0.113.9', port: 50000, connectionId: 'tcp-7', local };

const routeRows: ReadonlyArray<readonly [via: string, source: SipSource | undefined, expected: object | null]> = [
  ['SIP/2.0/UDP 10.1.1.1:5070;branch=z9hG4bK1', undefined, { protocol: 'UDP', host: '10.1.1.1', port: 5070 }],
  ['SIP/2.0/UDP 10.1.1.1;branch=z9hG4bK1', undefined, { protocol: 'UDP', host: '10.1.1.1', port: 5060 }],
  ['SIP/2.0/UDP 10.1.1.1:5070;branch=z9hG4bK1;received=203.0.113.9', undefined, { protocol: 'UDP', host: '203.0.113.9', port: 5070 }],
  ['SIP/2.0/UDP 10.1.1.1:5070;branch=z9hG4bK1;received=203.0.113.9;rport=40123', undefined, { protocol: 'UDP', host: '203.0.113.9', port: 40123 }],
  // A Via maddr is never obeyed (reflection): the sent-by / received address is used.
  ['SIP/2.0/UDP 10.1.1.1:5070;branch=z9hG4bK1;maddr=239.1.1.1', undefined, { protocol: 'UDP', host: '10.1.1.1', port: 5070 }],
  ['SIP/2.0/UDP 10.1.1.1:5070;branch=z9hG4bK1;maddr=198.51.100.7;received=203.0.113.9;rport=40123', undefined, { protocol: 'UDP', host: '203.0.113.9', port: 40123 }],
  // Reliable: back over the request's connection while it is open.
  ['SIP/2.0/TCP 10.1.1.1:5070;branch=z9hG4bK1;received=203.0.113.9', tcpSource, { protocol: 'TCP', host: '203.0.113.9', port: 5070, connectionId: 'tcp-7' }],
  ['SIP/2.0/TCP 10.1.1.1:5070;branch=z9hG4bK1', undefined, { protocol: 'TCP', host: '10.1.1.1', port: 5070 }],
  ['SIP/2.0/SCTP 10.1.1.1;branch=z9hG4bK1', undefined, null],
  ['not a via', undefined, null],
];

t.test('responseTarget', async (t) => {
  for (const [via, source, expected] of routeRows) t.same(responseTarget(via, source, 5060), expected, via);
});
