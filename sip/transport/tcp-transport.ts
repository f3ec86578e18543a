// SIP over TCP (RFC 3261 §18): plain connections; framing, limits and reuse are the
// shared stream transport's (stream-transport.ts).

import net from 'node:net';
import { StreamTransport, type StreamFlavor, type StreamTransportOptions } from './stream-transport.js';

export type TcpTransportOptions = StreamTransportOptions;

const tcpFlavor: StreamFlavor = {
  protocol: 'TCP',
  accept: (raw) => raw,
  connect: (host, port) => net.connect({ host, port, noDelay: true }),
  readyEvent: 'connect',
};

export class TcpTransport extends StreamTransport {
  static async listen(options: TcpTransportOptions): Promise<TcpTransport> {
    const { server, limits } = await StreamTransport.bound(options);
    return new TcpTransport(server, limits, options, tcpFlavor);
  }
}
