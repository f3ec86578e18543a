// Signed event webhooks (cluster file `events.webhooks`): every event of the node's log is
// POSTed to each configured URL, in order, in batches of at most `batchMax`:
//
//   POST <url>
//   content-type: application/json
//   x-ringfence-signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>
//   x-ringfence-node: <node id>
//   {"events":[<event>, ...]}
//
// The receiver recomputes the HMAC over the timestamp, a dot and the raw body bytes, compares
// in constant time, and refuses a timestamp too far from its clock (replay). A 2xx
// acknowledges the batch; anything else (or no answer within timeoutMs) is retried, the same
// batch first, after retryMinMs doubling up to retryMaxMs, for as long as it takes. While a
// URL fails, events wait (besides the batch in flight) in a backlog of at most backlogMax;
// past it the oldest waiting are dropped
// and counted (ringfence_sip_event_webhook_dropped_total). The receiver can tell from the
// events' positions (consecutive seq) that some were dropped, and fetch the rest from
// GET /v1/events/stream?after= while the ring still holds them. Sending never blocks the
// caller: push() only appends to the backlog.
import assert from 'node:assert';
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { EventWebhookConfig } from '../../common/config.js';
import type { Logger } from '../../common/logger.js';
import type { LoggedEvent } from './events.js';

export const signatureHeader = 'x-ringfence-signature';

/** The header value for `body` signed at `tSeconds`. */
export function signatureOf(secret: string, tSeconds: number, body: string): string {
  return `t=${tSeconds},v1=${createHmac('sha256', secret).update(`${tSeconds}.${body}`).digest('hex')}`;
}

/** Checks a signature header as a receiver should: the HMAC, and the timestamp within
 * `toleranceS` of `nowS`. Returns null when valid, else why not. */
export function verifySignature(secret: string, header: string | undefined, body: string, nowS: number, toleranceS = 300): string | null {
  if (header === undefined) return 'no signature header';
  const m = /^t=(\d{1,12}),v1=([0-9a-f]{64})$/.exec(header);
  if (m === null) return 'malformed signature header';
  const t = Number(m[1]);
  if (Math.abs(nowS - t) > toleranceS) return 'timestamp outside the tolerance';
  const expected = Buffer.from(createHmac('sha256', secret).update(`${t}.${body}`).digest('hex'));
  const given = Buffer.from(m[2]!);
  return expected.length === given.length && timingSafeEqual(expected, given) ? null : 'signature mismatch';
}

/** `backlog`: events not yet acknowledged (the batch in flight included). */
export type WebhookStats = Readonly<{ delivered: number; batches: number; failures: number; dropped: number; backlog: number }>;

export class EventWebhook {
  readonly #counts = { delivered: 0, batches: 0, failures: 0, dropped: 0 };
  readonly #backlog: LoggedEvent[] = [];
  #head = 0;
  #sending = false;
  #attempt = 0;
  #timer: NodeJS.Timeout | null = null;
  #closed = false;
  readonly #abort = new AbortController();

  constructor(
    readonly config: EventWebhookConfig,
    private readonly o: { nodeId: string; log: Logger; now?: () => number },
  ) {
    assert(config.batchMax >= 1 && config.backlogMax >= config.batchMax);
  }

  /** Events waiting, besides the batch in flight. */
  get backlog(): number {
    return this.#backlog.length - this.#head;
  }

  /** Events not yet acknowledged: the batch in flight and the backlog. */
  get pending(): number {
    return this.#inflight.length + this.backlog;
  }

  get stats(): WebhookStats {
    return { ...this.#counts, backlog: this.pending };
  }

  push(ev: LoggedEvent): void {
    if (this.#closed) return;
    this.#backlog.push(ev);
    if (this.backlog > this.config.backlogMax) {
      // The oldest waiting event goes (the batch in flight is held apart, in #inflight).
      this.#head++;
      this.#compact();
      this.#counts.dropped++;
    }
    this.#kick();
  }

  close(): void {
    this.#closed = true;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#abort.abort();
  }

  /** The batch being sent (or waiting to be sent again after a failure). */
  #inflight: LoggedEvent[] = [];

  #compact(): void {
    // Now and then rather than shift() per event: amortised O(1).
    if (this.#head > 1024 && this.#head * 2 > this.#backlog.length) {
      this.#backlog.splice(0, this.#head);
      this.#head = 0;
    }
  }

  #kick(): void {
    if (this.#sending || this.#timer !== null || this.#closed || (this.#inflight.length === 0 && this.backlog === 0)) return;
    void this.#send();
  }

  async #send(): Promise<void> {
    this.#sending = true;
    if (this.#inflight.length === 0) {
      this.#inflight = this.#backlog.slice(this.#head, this.#head + this.config.batchMax);
      this.#head += this.#inflight.length;
      this.#compact();
      }
    const batch = this.#inflight;
    const body = JSON.stringify({ events: batch });
    const tSeconds = Math.floor((this.o.now ?? Date.now)() / 1000);
    let ok = false;
    let why = '';
    // One controller per request (AbortSignal.any is newer than early Node 20 releases).
    const request = new AbortController();
    const onClose = (): void => request.abort();
    this.#abort.signal.addEventListener('abort', onClose);
    const deadline = setTimeout(() => request.abort(), this.config.timeoutMs);
    try {
      const res = await fetch(this.config.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', [signatureHeader]: signatureOf(this.config.secret, tSeconds, body), 'x-ringfence-node': this.o.nodeId },
        body,
        signal: request.signal,
      });
      ok = res.status >= 200 && res.status < 300;
      why = `HTTP ${res.status}`;
      await res.body?.cancel().catch(() => {});
    } catch (err) {
      why = (err as Error).message;
    } finally {
      clearTimeout(deadline);
      this.#abort.signal.removeEventListener('abort', onClose);
    }
    this.#sending = false;
    if (this.#closed) return;
    if (ok) {
      this.#inflight = [];
      this.#counts.delivered += batch.length;
      this.#counts.batches++;
      this.#attempt = 0;
      return this.#kick();
    }
    this.#counts.failures++;
    const delayMs = Math.min(this.config.retryMaxMs, this.config.retryMinMs * 2 ** this.#attempt);
    if (this.#attempt === 0) this.o.log.warn('event webhook failed; retrying with backoff', { url: this.config.url, error: why });
    this.#attempt = Math.min(this.#attempt + 1, 30);
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.#kick();
    }, delayMs);
  }
}
