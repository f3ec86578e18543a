// Fuzzes a real SIP node's UDP and TCP listeners on loopback (issue 18): fuzzFramesPerListener()
// hostile frames each (noise, and valid INVITE/REGISTER/OPTIONS with bytes flipped, cut,
// extended or spliced; test/support/fuzz.ts), over UDP from 4 sockets in batches without
// waiting for replies, and over TCP ten frames to a connection, 4 connections at a time
// (the node closes one whose framing is lost, so more frames on it would go unread). Afterwards the
// node answers an OPTIONS 200 on both listeners, no exception escaped (none reached the
// process, and the node's last-resort input handler logged none), and the process is up.
// `npm run fuzz` runs it at 1,000,000 frames per listener.

import type dgram from 'node:dgram';
import t from 'tap';
import type { Logger } from '../../common/logger.js';
import { fuzzFramesPerListener, hostileBytes, samples } from '../support/fuzz.js';
import { startNode } from '../sip/node/harness.js';
import { listenersOnlyConfig, rawRequest, sendUdp, tcpConnect, tcpStatus, udpPeer } from '../sip/node/raw-sip.js';

const frames = fuzzFramesPerListener();
const errors: string[] = [];
const log: Logger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: (msg, fields) => void errors.push(`${msg} ${JSON.stringify(fields)}`),
  child: () => log,
};
const escaped: unknown[] = [];
const onEscape = (err: unknown): void => void escaped.push(err);
process.on('uncaughtException', onEscape);
t.teardown(() => void process.off('uncaughtException', onEscape));

const config = await listenersOnlyConfig(t);
const node = await startNode(t, config, { log });

const sdp = 'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\n';
function validFrames(transport: 'UDP' | 'TCP', port: number): Uint8Array[] {
  const from = { host: '127.0.0.1', port: 5999 };
  const invite = rawRequest({ method: 'INVITE', from, toPort: port, transport, extraHeaders: 'Contact: <sip:caller@127.0.0.1:5999>\r\nContent-Type: application/sdp' });
  const withBody = Buffer.from(invite.toString('latin1').replace('Content-Length: 0\r\n\r\n', `Content-Length: ${sdp.length}\r\n\r\n${sdp}`), 'latin1');
  return [
    withBody,
    rawRequest({ method: 'REGISTER', from, toPort: port, transport, extraHeaders: 'Contact: <sip:2001@127.0.0.1:5999>\r\nAuthorization: Digest username="2001", realm="ringfence", nonce="1.2.3", uri="sip:ringfence", response="00", qop=auth, nc=00000001, cnonce="x"' }),
    rawRequest({ method: 'OPTIONS', from, toPort: port, transport }),
    Buffer.from('SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>;tag=2\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n'),
  ];
}

async function optionsOverUdp(): Promise<number> {
  const peer = await udpPeer(t, '127.0.0.1');
  const answer = peer.next();
  await sendUdp(peer.socket, rawRequest({ from: { host: '127.0.0.1', port: peer.port }, toPort: node.udpPort }), node.udpPort);
  return (await answer).status;
}

t.test(`UDP: ${frames} hostile datagrams`, async (t) => {
  const sockets: dgram.Socket[] = [];
  for (let i = 0; i < 4; i++) sockets.push((await udpPeer(t, '127.0.0.1')).socket);
  const batch = 1_000;
  for (let done = 0; done < frames; done += batch) {
    const chunk = samples(hostileBytes(validFrames('UDP', node.udpPort), 1400), Math.min(batch, frames - done));
    await Promise.all(chunk.map((bytes, i) => sendUdp(sockets[i % sockets.length]!, bytes, node.udpPort)));
    // A round trip per batch keeps the kernel queue from overflowing and proves the node
    // still answers mid-barrage.
    t.equal(await optionsOverUdp(), 200, `answered after ${done + chunk.length} frames`);
  }
});

t.test(`TCP: ${frames} hostile frames`, async (t) => {
  // Few frames per connection: the node closes a connection at the first frame it cannot
  // frame (noise mostly), and what follows on it would never be read.
  const perConnection = 10;
  const workers = 4;
  let next = 0;
  let connections = 0;
  const work = async (): Promise<void> => {
    while (next < frames) {
      const count = Math.min(perConnection, frames - next);
      next += count;
      const chunk = samples(hostileBytes(validFrames('TCP', node.tcpPort), 1400), count);
      const conn = await tcpConnect(t, node.tcpPort);
      connections++;
      conn.socket.end(Buffer.concat(chunk));
      await conn.closed;
    }
  };
  await Promise.all(Array.from({ length: workers }, work));
  const ok = await tcpConnect(t, node.tcpPort);
  ok.socket.write(rawRequest({ from: { host: '127.0.0.1', port: ok.socket.localPort! }, toPort: node.tcpPort, transport: 'TCP' }));
  t.equal(await tcpStatus(ok), 200, `TCP answered after ${frames} frames on ${connections} connections`);
});

t.test('nothing threw; both listeners still serve', async (t) => {
  t.equal(await optionsOverUdp(), 200, 'UDP OPTIONS answered');
  t.same(escaped, [], 'no uncaught exception');
  t.same(errors, [], 'the input handler caught nothing');
});
