// Symmetric RTP echo for one phone: every datagram that looks like RTP (version 2) goes
// straight back to the address it came from, which is what a media gateway latching on
// symmetric RTP expects of a real endpoint. The phone turns the echo on while it has an
// answered call and off when the call ends, so a dead call's media is not kept alive.

import dgram from 'node:dgram';
import { rtpPacketBytesMax } from './limits.js';

export class RtpEcho {
  private received = 0;
  private echoed = 0;
  private echoing = false;

  private constructor(private readonly socket: dgram.Socket, readonly port: number) {
    socket.on('message', (buf, rinfo) => {
      this.received++;
      if (!this.echoing) return;
      if (buf.length < 12 || buf.length > rtpPacketBytesMax || buf[0]! >> 6 !== 2) return;
      this.echoed++;
      socket.send(buf, rinfo.port, rinfo.address);
    });
    socket.on('error', () => undefined);
  }

  static open(host: string): Promise<RtpEcho> {
    const socket = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
    return new Promise((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(0, host, () => {
        socket.off('error', reject);
        resolve(new RtpEcho(socket, socket.address().port));
      });
    });
  }

  /** Echo (true) or drop (false) what arrives from now on. Starts off. */
  setEchoing(on: boolean): void {
    this.echoing = on;
  }

  counters(): Readonly<{ received: number; echoed: number }> {
    return { received: this.received, echoed: this.echoed };
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }
}
