// A load process for overload.test.ts: blasts 172-byte RTP-shaped datagrams at
// 127.0.0.1:<port> as fast as it can for <ms> milliseconds, then prints how many it sent
// and exits. Usage: node --import tsx test/gateway/flooder.ts <port> <ms>

import dgram from 'node:dgram';

const [port, ms] = process.argv.slice(2).map(Number) as [number, number];
const socket = dgram.createSocket('udp4');
const packet = Buffer.alloc(172, 0xff);
packet[0] = 0x80;
let sent = 0;
const endMs = Date.now() + ms;

function burst(): void {
  for (let i = 0; i < 256; i++) {
    packet.writeUInt16BE(sent & 0xffff, 2);
    socket.send(packet, port, '127.0.0.1');
    sent++;
  }
  if (Date.now() < endMs) setImmediate(burst);
  else setTimeout(() => {
    process.stdout.write(`${sent}\n`);
    process.exit(0);
  }, 50);
}

socket.bind(0, '127.0.0.1', burst);
