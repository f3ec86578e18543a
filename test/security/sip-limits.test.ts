// Proves the SIP node's per-source bounds against a real node on loopback (issue 18):
//   - a flood of OPTIONS over UDP from one source (127.0.0.2) gets 200s while within its
//     burst, then 503s carrying Retry-After, then silence; a second source (127.0.0.3) is
//     still answered 200 meanwhile;
//   - a TCP connection that trickles a message one byte at a time (slowloris, which keeps
//     any idle timer alive) is closed by the node at its message deadline, and a prompt
//     client is still served;
//   - one source IP may hold only tcpConnectionsPerSourceMax TCP connections: the next is
//     closed at once while the ones it holds, and another source's, are served.
// The node trusts no source here (the default trusts loopback, see sip/node/README.md).
// Counts, not clocks: the flood is far larger than the burst and the 503 budget (which
// refill at a token a minute and a half here), and the trickle is long enough to outlast
// the deadline many times over.

import t from 'tap';
import { getHeader } from '../../sip/syntax/index.js';
import { startNode } from '../sip/node/harness.js';
import { listenersOnlyConfig, rawRequest, sendUdp, tcpConnect, tcpStatus, udpPeer } from '../sip/node/raw-sip.js';

const config = await listenersOnlyConfig(t);
const node = await startNode(t, config, {
  sourceLimits: { requestsPerSecond: 0.01, burst: 10, rejectsPerSecond: 0.01, rejectBurst: 5, trusted: [] },
  transportLimits: { tcpMessageDeadlineMs: 300, tcpConnectionsPerSourceMax: 3 },
});

t.test('UDP flood from one source: 200s, then 503 Retry-After, then silence; another source is served', async (t) => {
  const flooder = await udpPeer(t, '127.0.0.2');
  const floodCount = 400;
  for (let i = 0; i < floodCount; i++) {
    await sendUdp(flooder.socket, rawRequest({ from: { host: '127.0.0.2', port: flooder.port }, toPort: node.udpPort }), node.udpPort);
  }
  // A barrier: another source's request is answered after every flood datagram was read
  // (one socket, read in order), so every answer the flood earned has been sent.
  const other = await udpPeer(t, '127.0.0.3');
  const answer = other.next();
  await sendUdp(other.socket, rawRequest({ from: { host: '127.0.0.3', port: other.port }, toPort: node.udpPort }), node.udpPort);
  t.equal((await answer).status, 200, 'another source is still served');
  // One more round trip from the clean source so the flooder's last answers have landed.
  const again = other.next();
  await sendUdp(other.socket, rawRequest({ from: { host: '127.0.0.3', port: other.port }, toPort: node.udpPort }), node.udpPort);
  t.equal((await again).status, 200);

  const statuses = flooder.responses.map((r) => r.status);
  const ok = statuses.filter((s) => s === 200).length;
  const refused = flooder.responses.filter((r) => r.status === 503);
  t.ok(ok >= 1, `served within its burst (${ok} x 200)`);
  t.ok(refused.length >= 1, `then refused (${refused.length} x 503)`);
  t.ok(refused.every((r) => Number(getHeader(r, 'Retry-After')) > 0), 'every 503 carries Retry-After');
  t.equal(statuses.lastIndexOf(200) < statuses.indexOf(503), true, 'no 200 after the first 503');
  t.ok(flooder.responses.length < floodCount / 2, `then silence: ${flooder.responses.length} answers to ${floodCount} requests`);
});

t.test('TCP slowloris is closed at the message deadline; a prompt client is served', async (t) => {
  const slow = await tcpConnect(t, node.tcpPort, '127.0.0.4');
  const bytes = rawRequest({ from: { host: '127.0.0.4', port: slow.socket.localPort! }, toPort: node.tcpPort, transport: 'TCP' });
  let sent = 0;
  let closedByNode = false;
  void slow.closed.then(() => (closedByNode = true));
  // One byte every 50 ms: the whole message would take ~15 s, 50 deadlines.
  for (; sent < bytes.length - 1 && !closedByNode; sent++) {
    slow.socket.write(bytes.subarray(sent, sent + 1));
    await new Promise((r) => setTimeout(r, 50));
  }
  t.ok(closedByNode, `the node closed the trickling connection after ${sent} of ${bytes.length} bytes`);
  t.equal(slow.received(), '', 'and answered nothing');
  const prompt = await tcpConnect(t, node.tcpPort, '127.0.0.5');
  prompt.socket.write(rawRequest({ from: { host: '127.0.0.5', port: prompt.socket.localPort! }, toPort: node.tcpPort, transport: 'TCP' }));
  t.equal(await tcpStatus(prompt), 200, 'a prompt client is served');
});

t.test('per-source TCP connection cap', async (t) => {
  const held = [];
  for (let i = 0; i < 3; i++) held.push(await tcpConnect(t, node.tcpPort, '127.0.0.6'));
  const extra = await tcpConnect(t, node.tcpPort, '127.0.0.6');
  extra.socket.write(rawRequest({ from: { host: '127.0.0.6', port: extra.socket.localPort ?? 0 }, toPort: node.tcpPort, transport: 'TCP' }));
  t.equal(await tcpStatus(extra), null, 'the fourth connection from one source is closed unanswered');
  for (const c of held) {
    c.socket.write(rawRequest({ from: { host: '127.0.0.6', port: c.socket.localPort! }, toPort: node.tcpPort, transport: 'TCP' }));
    t.equal(await tcpStatus(c), 200, 'the connections it holds are served');
  }
  const elsewhere = await tcpConnect(t, node.tcpPort, '127.0.0.7');
  elsewhere.socket.write(rawRequest({ from: { host: '127.0.0.7', port: elsewhere.socket.localPort! }, toPort: node.tcpPort, transport: 'TCP' }));
  t.equal(await tcpStatus(elsewhere), 200, 'another source is served');
  held[0]!.socket.destroy();
  await held[0]!.closed;
  // The node counts the close when it sees it; a new connection may take the slot then.
  let replaced = await tcpConnect(t, node.tcpPort, '127.0.0.6');
  for (let tries = 0; tries < 50; tries++) {
    replaced.socket.write(rawRequest({ from: { host: '127.0.0.6', port: replaced.socket.localPort! }, toPort: node.tcpPort, transport: 'TCP' }));
    const status = await tcpStatus(replaced);
    if (status === 200) break;
    replaced = await tcpConnect(t, node.tcpPort, '127.0.0.6');
  }
  t.equal(await tcpStatus(replaced), 200, 'a closed connection frees its slot');
});
