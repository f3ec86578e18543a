// The optional HTTP routing webhook: for customers with their own routing engine, the
// node POSTs the call's data and gets back the DN to try (`{"dn":"1005"}`) or an order to
// queue (`{"dn":null}`). The webhook only *proposes*: the reservation on the DN's shard
// still decides, so a DN that is not READY is denied and the call re-routed as usual.
//
// Anything short of a usable answer — connection error, timeout, non-2xx, a body that is
// not `{"dn": string|null}`, too many requests in flight, a DN the call already tried or
// that is not a known agent with the skill — is a *fallback*: the built-in router decides
// that attempt. The outcome is returned as data so the caller counts it by reason.
//
// The I/O is node:http(s) over keep-alive connections with one deadline per request;
// parsing and vetting are pure functions beside it.

import http from 'node:http';
import https from 'node:https';
import type { RoutingWebhookConfig } from '../../common/config.js';
import type { Agent } from '../../shards/types.js';
import * as limits from './limits.js';

export type { RoutingWebhookConfig };

/** The POSTed JSON body. `exclude`: DNs this call already tried in the current routing
 * pass (a webhook answer naming one of them is ignored); `attempt`: 1 for the first
 * reservation tried for the call, n for the nth (denied ones included). */
export type WebhookQuery = Readonly<{
  callId: string;
  from: string;
  to: string;
  service: string;
  skill: string;
  minLevel: number;
  exclude: readonly string[];
  attempt: number;
  node: string;
}>;

/** Why the built-in router decided instead of the webhook. */
export type WebhookFallback = 'timeout' | 'error' | 'http-status' | 'malformed' | 'overload' | 'tried' | 'not-eligible';

/** The metric label values: `accepted` and `queue` are the webhook's own decisions. */
export type WebhookResult = 'accepted' | 'queue' | WebhookFallback;

export type WebhookAnswer =
  | Readonly<{ result: 'dn'; dn: string }>
  | Readonly<{ result: 'queue' }>
  | Readonly<{ result: Exclude<WebhookFallback, 'tried' | 'not-eligible'>; detail: string }>;

const dnPattern = /^[0-9A-Za-z*#+._-]{1,64}$/;

/** `{"dn": "<dn>"}` or `{"dn": null}`; anything else is null (malformed). Extra keys are
 * allowed so a routing engine may return its own diagnostics. */
export function parseWebhookBody(text: string): { dn: string | null } | null {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc) || !Object.hasOwn(doc, 'dn')) return null;
  const dn = (doc as { dn: unknown }).dn;
  if (dn === null) return { dn: null };
  return typeof dn === 'string' && dnPattern.test(dn) ? { dn } : null;
}

/** Whether a webhook-chosen DN may be reserved: not tried already for this call, and an
 * agent the node knows with the skill at the level. Readiness is left to the shard. */
export function vetWebhookDn(dn: string, q: Pick<WebhookQuery, 'skill' | 'minLevel'> & { exclude: ReadonlySet<string> }, agent: Agent | undefined): 'ok' | 'tried' | 'not-eligible' {
  if (q.exclude.has(dn)) return 'tried';
  if (agent === undefined) return 'not-eligible';
  const level = Object.hasOwn(agent.skills, q.skill) ? agent.skills[q.skill]! : -1;
  return level >= 0 && level >= q.minLevel ? 'ok' : 'not-eligible';
}

/** Checks a webhook URL from a flag or the cluster file; returns an error text or null. */
export function webhookUrlProblem(url: string): string | null {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return `expected an http:// or https:// URL, got ${JSON.stringify(url)}`;
  }
  return u.protocol === 'http:' || u.protocol === 'https:' ? null : `expected an http:// or https:// URL, got ${JSON.stringify(url)}`;
}

export class RoutingWebhook {
  private inFlight = 0;
  private readonly url: URL;
  private readonly request: typeof http.request;
  // Keep-alive: the decision sits on every call's setup path, and a new TCP (and TLS)
  // connection per call would add its handshake to each. node:http rather than the
  // global fetch: fetch's first request in a process loads undici (119 ms against 29 ms
  // measured here), long enough to time out the first call after a start on a busy host.
  private readonly agent: http.Agent;

  constructor(readonly config: RoutingWebhookConfig) {
    if (webhookUrlProblem(config.url) !== null) throw new TypeError(`bad routing webhook URL ${config.url}`);
    if (!Number.isInteger(config.timeoutMs) || config.timeoutMs < 1) throw new TypeError('routing webhook timeoutMs must be a positive integer');
    this.url = new URL(config.url);
    const tls = this.url.protocol === 'https:';
    this.request = tls ? https.request : http.request;
    const agentOptions = { keepAlive: true, maxSockets: limits.routingWebhookInFlightMax };
    this.agent = tls ? new https.Agent(agentOptions) : new http.Agent(agentOptions);
  }

  /** Asks the webhook once; never rejects. */
  async ask(q: WebhookQuery): Promise<WebhookAnswer> {
    if (this.inFlight >= limits.routingWebhookInFlightMax) return { result: 'overload', detail: `${this.inFlight} requests in flight` };
    this.inFlight++;
    try {
      return await this.post(q);
    } finally {
      this.inFlight--;
    }
  }

  /** Drops the idle keep-alive connections (requests in flight end as errors). */
  close(): void {
    this.agent.destroy();
  }

  private async post(q: WebhookQuery): Promise<WebhookAnswer> {
    const body = JSON.stringify(q);
    const deadlineMs = performance.now() + this.config.timeoutMs;
    const first = await this.postOnce(body, this.config.timeoutMs);
    // A kept-alive connection the server closed as the request went out fails it with
    // ECONNRESET (Node's documented `reusedSocket` race). Asking which agent to try has
    // no side effect, so that one is sent again on a fresh connection, within what is
    // left of the deadline.
    if (first.staleSocket) {
      const leftMs = Math.floor(deadlineMs - performance.now());
      if (leftMs >= 1) return (await this.postOnce(body, leftMs)).answer;
    }
    return first.answer;
  }

  private postOnce(body: string, timeoutMs: number): Promise<{ answer: WebhookAnswer; staleSocket: boolean }> {
    const bytesMax = limits.routingWebhookResponseBytesMax;
    return new Promise((resolve) => {
      let done = false;
      const finish = (answer: WebhookAnswer, staleSocket = false): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        resolve({ answer, staleSocket });
      };
      // One deadline for connect, headers and body: a slow trickle is as late as silence.
      const timer = setTimeout(() => {
        finish({ result: 'timeout', detail: `no answer within ${this.config.timeoutMs} ms` });
        req.destroy();
      }, timeoutMs);
      const req = this.request(
        this.url,
        {
          method: 'POST',
          agent: this.agent,
          headers: { 'content-type': 'application/json', accept: 'application/json', 'content-length': Buffer.byteLength(body) },
        },
        (res) => {
          const status = res.statusCode ?? 0;
          // The socket itself, not only the request: once a response has arrived whole,
          // Node 24 has already handed its socket back to the keep-alive pool, where
          // req.destroy() no longer reaches it (Node 20 still did).
          const socket = res.socket;
          const drop = (): void => {
            req.destroy();
            socket?.destroy();
          };
          if (status < 200 || status > 299) {
            finish({ result: 'http-status', detail: `HTTP ${status}` });
            // An error body is not read: the connection goes rather than drain an
            // untrusted stream of unknown length.
            drop();
            return;
          }
          const chunks: Buffer[] = [];
          let total = 0;
          res.on('data', (chunk: Buffer) => {
            total += chunk.length;
            if (total > bytesMax) {
              finish({ result: 'malformed', detail: `response larger than ${bytesMax} bytes` });
              drop();
              return;
            }
            chunks.push(chunk);
          });
          res.on('end', () => {
            if (done) return;
            const text = Buffer.concat(chunks).toString('utf8');
            const parsed = parseWebhookBody(text);
            if (parsed === null) finish({ result: 'malformed', detail: `unusable body ${JSON.stringify(text.slice(0, 200))}` });
            else finish(parsed.dn === null ? { result: 'queue' } : { result: 'dn', dn: parsed.dn });
          });
          // The peer closing mid-body: 'aborted' then 'error' on the response.
          res.on('error', (e) => finish({ result: 'error', detail: describe(e) }));
        },
      );
      req.on('error', (e) => {
        const stale = req.reusedSocket && (e as NodeJS.ErrnoException).code === 'ECONNRESET';
        finish({ result: 'error', detail: describe(e) }, stale);
      });
      req.end(body);
    });
  }
}

/** A socket error's code (ECONNREFUSED, ENOTFOUND, ...) says more than its message. */
function describe(e: Error): string {
  return (e as NodeJS.ErrnoException).code ?? e.message;
}
