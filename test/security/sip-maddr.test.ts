// Proves a forged Via maddr cannot aim the node's responses at a third party (issue 18):
// an OPTIONS from 127.0.0.1 whose top Via names maddr=127.0.0.99 (with a UDP socket
// listening there on the sent-by port, standing in for the victim) is answered at the
// request's source, and nothing at all reaches 127.0.0.99. A second request/response
// round trip afterwards is the barrier: by then any stray datagram would have arrived.
// The same holds with rport (the answer goes to received:rport).

import t from 'tap';
import { startNode } from '../sip/node/harness.js';
import { listenersOnlyConfig, rawRequest, sendUdp, udpPeer } from '../sip/node/raw-sip.js';

const config = await listenersOnlyConfig(t);
const node = await startNode(t, config);

for (const rport of [false, true]) {
  t.test(`a Via maddr is not obeyed${rport ? ' (with rport)' : ''}`, async (t) => {
    const source = await udpPeer(t, '127.0.0.1');
    const victim = await udpPeer(t, '127.0.0.99', source.port);
    const first = Promise.race([source.next().then((r) => ({ at: 'source', r })), victim.next().then((r) => ({ at: 'maddr', r }))]);
    await sendUdp(source.socket, rawRequest({ from: { host: '127.0.0.1', port: source.port }, toPort: node.udpPort, viaParams: `;maddr=127.0.0.99${rport ? ';rport' : ''}` }), node.udpPort);
    const got = await first;
    t.equal(got.at, 'source', 'the response came back to the source address');
    if (got.at !== 'source') return; // reflected: the source's waiter is still pending
    t.equal(got.r.status, 200);
    const barrier = source.next();
    await sendUdp(source.socket, rawRequest({ from: { host: '127.0.0.1', port: source.port }, toPort: node.udpPort }), node.udpPort);
    t.equal((await barrier).status, 200);
    t.equal(victim.datagrams.length, 0, 'nothing was sent to the maddr');
  });
}
