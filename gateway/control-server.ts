// The ng control socket: UDP datagrams "<cookie> <bencoded dict>" in, replies with the
// same cookie out. A retransmitted command (same cookie) is answered from the reply cache;
// one that arrives while the first copy is still running waits for that same run. So a
// command runs at most once per cookie and its retransmissions get byte-identical replies.

import dgram from 'node:dgram';
import { GatewayError, GatewayErrorCode, isGatewayError } from './errors.js';
import { ngCommandsInFlightMax } from './limits.js';
import type { Gateway } from './gateway.js';
import { errorReply, formatNgMessage, parseNgMessage, peekCookie, ReplyCache } from './ng-protocol.js';

export class ControlServer {
  private readonly socket: dgram.Socket;
  private readonly cache = new ReplyCache();
  private readonly inFlight = new Map<string, Promise<Buffer>>();
  /** Commands answered by running them (not from the cache): lets tests see that a
   * retransmission did not run twice. */
  commandsRun = 0;
  repliesFromCache = 0;

  constructor(
    private readonly gateway: Gateway,
    private readonly nowMs: () => number = Date.now,
  ) {
    this.socket = dgram.createSocket('udp4');
    this.socket.on('message', (msg, rinfo) => this.onMessage(msg, rinfo));
    this.socket.on('error', () => undefined);
  }

  listen(host: string, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      this.socket.once('error', reject);
      this.socket.bind(port, host, () => {
        this.socket.off('error', reject);
        resolve(this.socket.address().port);
      });
    });
  }

  close(): void {
    this.socket.close();
  }

  private onMessage(msg: Buffer, rinfo: dgram.RemoteInfo): void {
    const cookie = peekCookie(msg);
    if (cookie === null) return; // nothing to address a reply to
    const cached = this.cache.get(cookie, this.nowMs());
    if (cached !== undefined) {
      this.repliesFromCache++;
      this.send(cached, rinfo);
      return;
    }
    const running = this.inFlight.get(cookie);
    if (running !== undefined) {
      this.repliesFromCache++;
      void running.then((reply) => this.send(reply, rinfo));
      return;
    }
    if (this.inFlight.size >= ngCommandsInFlightMax) {
      this.send(formatNgMessage(cookie, errorReply('overloaded')), rinfo);
      return;
    }
    const run = this.run(cookie, msg);
    this.inFlight.set(cookie, run);
    void run.then((reply) => {
      this.inFlight.delete(cookie);
      this.cache.put(cookie, reply, this.nowMs());
      this.send(reply, rinfo);
    });
  }

  private async run(cookie: string, msg: Buffer): Promise<Buffer> {
    this.commandsRun++;
    try {
      const { body } = parseNgMessage(msg);
      return formatNgMessage(cookie, await this.gateway.handle(body));
    } catch (e) {
      const reason = isGatewayError(e) ? e.message : `internal error: ${(e as Error).message}`;
      const code = isGatewayError(e) ? e.code : GatewayErrorCode.NG_MALFORMED;
      try {
        return formatNgMessage(cookie, { ...errorReply(reason), 'error-code': code });
      } catch {
        return formatNgMessage(cookie, errorReply(new GatewayError(code, 'error').message));
      }
    }
  }

  private send(reply: Buffer, rinfo: dgram.RemoteInfo): void {
    this.socket.send(reply, rinfo.port, rinfo.address);
  }
}
