// A bare Node.js dgram relay: the floor a Node.js data plane can reach, measured by
// `bench media` as an in-run reference (target 'bare-dgram'). Speaks just enough ng
// (ping, offer, answer) for the bench: each call gets two sockets, packets from leg A go
// out of leg B to the SDP address, and vice versa. No latching, stats, limits or RTCP.
// Not a product; never used outside the bench.

import dgram from 'node:dgram';
import { formatNgMessage, parseNgMessage } from '../gateway/ng-protocol.js';

const portMin = Number(process.argv[2] ?? 47000);
let nextPort = portMin;
const calls = new Map<string, { a: dgram.Socket; b: dgram.Socket; aDest: number; bDest: number }>();

function sdpPort(sdp: string): number {
  return Number(/^m=audio (\d+) /m.exec(sdp)![1]);
}
function withPort(sdp: string, port: number): string {
  return sdp.replace(/^m=audio \d+ /m, `m=audio ${port} `);
}

async function bind(): Promise<dgram.Socket> {
  const s = dgram.createSocket({ type: 'udp4', recvBufferSize: 4 << 20, sendBufferSize: 4 << 20 });
  await new Promise<void>((r) => s.bind(nextPort++, '127.0.0.1', () => r()));
  return s;
}

const control = dgram.createSocket('udp4');
control.on('message', async (msg, rinfo) => {
  const { cookie, body } = parseNgMessage(msg);
  let reply: Record<string, string> = { result: 'pong' };
  const id = String(body['call-id']);
  const sdp = String(body['sdp'] ?? '');
  if (body['command'] === 'offer') {
    const c = { a: await bind(), b: await bind(), aDest: sdpPort(sdp), bDest: 0 };
    c.a.on('message', (m) => c.b.send(m, c.bDest, '127.0.0.1'));
    c.b.on('message', (m) => c.a.send(m, c.aDest, '127.0.0.1'));
    calls.set(id, c);
    reply = { result: 'ok', sdp: withPort(sdp, c.b.address().port) };
  } else if (body['command'] === 'answer') {
    const c = calls.get(id)!;
    c.bDest = sdpPort(sdp);
    reply = { result: 'ok', sdp: withPort(sdp, c.a.address().port) };
  }
  control.send(formatNgMessage(cookie, reply), rinfo.port, rinfo.address);
});
control.bind(0, '127.0.0.1', () => {
  process.stdout.write(JSON.stringify({ event: 'listening', control: control.address().port }) + '\n');
});
process.once('SIGTERM', () => process.exit(0));
