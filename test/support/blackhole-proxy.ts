// A TCP proxy for tests that cut a link the way a partition does: it swallows bytes and
// closes nothing, so neither side learns of the cut from its socket.
import net from 'node:net';

/** A TCP proxy to `target` that can swallow traffic without closing anything: both ways
 * (`blackholed`), or only what the dialler sends (`upDropped`, a one-way loss). */
export class BlackholeProxy {
  blackholed = false;
  upDropped = false;
  /** Closes every connection it accepts at once: the target's process is gone (a store
   * killed: the kernel refuses or resets whatever dials it). */
  refusing = false;
  /** Connections it has accepted. */
  accepted = 0;
  readonly #sockets = new Set<net.Socket>();
  private constructor(readonly server: net.Server) {}

  static async start(target: number): Promise<BlackholeProxy> {
    const proxy: BlackholeProxy = new BlackholeProxy(net.createServer((inbound) => proxy.#accept(inbound, target)));
    await new Promise<void>((resolve, reject) => proxy.server.once('error', reject).listen(0, '127.0.0.1', resolve));
    return proxy;
  }

  get port(): number {
    return (this.server.address() as net.AddressInfo).port;
  }

  #accept(inbound: net.Socket, target: number): void {
    this.accepted++;
    if (this.refusing) {
      inbound.on('error', () => {});
      inbound.destroy();
      return;
    }
    const outbound = net.connect({ host: '127.0.0.1', port: target });
    for (const [from, to, up] of [[inbound, outbound, true], [outbound, inbound, false]] as const) {
      this.#sockets.add(from);
      from.on('error', () => {});
      from.on('data', (chunk) => {
        if (!this.blackholed && !(up && this.upDropped)) to.write(chunk);
      });
      from.on('close', () => {
        this.#sockets.delete(from);
        // While blackholed, a close is swallowed too: the other side must hear nothing.
        if (!this.blackholed && !this.upDropped) to.destroy();
      });
    }
  }

  /** Closes every connection through it, both sides, as a killed target's would be. */
  reset(): void {
    for (const s of this.#sockets) s.destroy();
  }

  async close(): Promise<void> {
    this.reset();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
