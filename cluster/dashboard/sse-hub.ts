// The browsers watching the live stream: at most `clientsMax` at once, each with a bounded
// send buffer. Every event is a whole snapshot that supersedes the previous one, so a
// browser that reads slowly simply misses snapshots (its buffer never grows past the
// bound); one stalled for `skipsMax` snapshots in a row is disconnected.
import assert from 'node:assert';
import type { ServerResponse } from 'node:http';

type Client = { res: ServerResponse; skips: number };

export type SseHubOptions = Readonly<{ clientsMax: number; bufferBytesMax: number; skipsMax: number }>;

export class SseHub {
  readonly #clients = new Set<Client>();
  readonly #opts: SseHubOptions;
  /** Called when the last client leaves (the poller stops then). */
  onEmpty: (() => void) | null = null;

  constructor(opts: SseHubOptions) {
    assert(opts.clientsMax >= 1 && opts.bufferBytesMax >= 1024 && opts.skipsMax >= 1);
    this.#opts = opts;
  }

  get size(): number {
    return this.#clients.size;
  }

  get full(): boolean {
    return this.#clients.size >= this.#opts.clientsMax;
  }

  /** Takes over a response that already has its SSE headers written. */
  add(res: ServerResponse): void {
    assert(!this.full, 'caller checks `full` first');
    const client: Client = { res, skips: 0 };
    this.#clients.add(client);
    res.once('close', () => this.#remove(client));
  }

  /** Sends to one response only (the first snapshot of a new client). */
  sendTo(res: ServerResponse, event: string, id: number, data: unknown): void {
    res.write(frame(event, id, data));
  }

  broadcast(event: string, id: number, data: unknown): void {
    if (this.#clients.size === 0) return;
    const text = frame(event, id, data);
    for (const c of this.#clients) {
      if (c.res.writableLength + text.length > this.#opts.bufferBytesMax) {
        if (++c.skips >= this.#opts.skipsMax) c.res.destroy();
        continue;
      }
      c.skips = 0;
      c.res.write(text);
    }
  }

  closeAll(): void {
    for (const c of [...this.#clients]) c.res.end();
    this.#clients.clear();
  }

  #remove(c: Client): void {
    if (!this.#clients.delete(c)) return;
    if (this.#clients.size === 0) this.onEmpty?.();
  }
}

function frame(event: string, id: number, data: unknown): string {
  // JSON.stringify never emits a raw newline, so the payload is one `data:` line.
  return `event: ${event}\nid: ${id}\ndata: ${JSON.stringify(data)}\n\n`;
}
