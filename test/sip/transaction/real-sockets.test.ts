// Proves the transaction layer works over the real UDP and TCP transports with the system
// clock: an INVITE gets 180 then 486 (the client transaction ACKs it and the server
// transaction ends Confirmed), and an OPTIONS gets a 200, for each protocol on 127.0.0.1
// with port 0. Waits are bounded; no timing is asserted.

import t from 'tap';
import { buildResponse } from '../../../sip/syntax/index.js';
import { TcpTransport } from '../../../sip/transport/tcp-transport.js';
import { SystemTimerService } from '../../../sip/transport/timer-service.js';
import type { SipTransport } from '../../../sip/transport/transport.js';
import { UdpTransport } from '../../../sip/transport/udp-transport.js';
import { TransactionLayer, type ClientEvent, type ServerTransaction } from '../../../sip/transaction/transaction-layer.js';
import { waitUntil } from '../transport/wait.js';
import { makeRequest } from './fixtures.js';

const makers: Record<'UDP' | 'TCP', () => Promise<SipTransport>> = {
  UDP: () => UdpTransport.listen({ host: '127.0.0.1', port: 0 }),
  TCP: () => TcpTransport.listen({ host: '127.0.0.1', port: 0 }),
};

for (const protocol of ['UDP', 'TCP'] as const) {
  t.test(`INVITE 180/486 + ACK and OPTIONS 200 over ${protocol}`, async (t) => {
    const a = await makers[protocol]();
    const b = await makers[protocol]();
    const timers = new SystemTimerService();
    const servers: ServerTransaction[] = [];
    const uas = new TransactionLayer({
      transports: [a],
      timers,
      user: {
        onRequest: (tx, req) => {
          servers.push(tx);
          if (req.method === 'INVITE') {
            tx.respond(buildResponse(req, 180, 'Ringing', { toTag: 'u1' }));
            tx.respond(buildResponse(req, 486, 'Busy Here', { toTag: 'u1' }));
          } else tx.respond(buildResponse(req, 200, 'OK'));
        },
      },
    });
    const uac = new TransactionLayer({ transports: [b], timers, user: { onRequest: () => undefined } });
    t.teardown(async () => {
      uas.close();
      uac.close();
      await Promise.all([a.close(), b.close()]);
    });
    const target = { protocol, host: '127.0.0.1', port: a.local.port };
    const events: string[] = [];
    const record = (e: ClientEvent) => events.push(`${e.type}${'response' in e && e.response ? ` ${e.response.status}` : ''}`);
    uac.sendRequest(makeRequest({ method: 'INVITE', via: null }), target, record);
    await waitUntil('INVITE final', () => events.includes('final 486'));
    await waitUntil('ACK absorbed by the server transaction', () => servers[0]?.state() === (protocol === 'TCP' ? 'terminated' : 'confirmed'));
    uac.sendRequest(makeRequest({ method: 'OPTIONS', via: null }), target, record);
    await waitUntil('OPTIONS final', () => events.includes('final 200'));
    t.same(events, ['provisional 180', 'final 486', 'final 200']);
    t.equal(servers.length, 2, 'each request reached the TU once');
  });
}
