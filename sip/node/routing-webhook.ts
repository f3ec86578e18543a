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
// The I/O is Node 20's global fetch with AbortSignal.timeout; parsing and vetting are
// pure functions below it.

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

  constructor(readonly config: RoutingWebhookConfig) {
    if (webhookUrlProblem(config.url) !== null) throw new TypeError(`bad routing webhook URL ${config.url}`);
    if (!Number.isInteger(config.timeoutMs) || config.timeoutMs < 1) throw new TypeError('routing webhook timeoutMs must be a positive integer');
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

  private async post(q: WebhookQuery): Promise<WebhookAnswer> {
    // One deadline for connect, headers and body: a slow trickle is as late as silence.
    const signal = AbortSignal.timeout(this.config.timeoutMs);
    let text: string;
    try {
      const res = await fetch(this.config.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json' },
        body: JSON.stringify(q),
        signal,
      });
      if (res.status < 200 || res.status > 299) {
        await res.body?.cancel().catch(() => undefined);
        return { result: 'http-status', detail: `HTTP ${res.status}` };
      }
      text = await readBounded(res, limits.routingWebhookResponseBytesMax);
    } catch (err) {
      const e = err as Error;
      if (signal.aborted || e.name === 'TimeoutError' || e.name === 'AbortError') return { result: 'timeout', detail: `no answer within ${this.config.timeoutMs} ms` };
      if (e instanceof ResponseTooLarge) return { result: 'malformed', detail: e.message };
      return { result: 'error', detail: describe(e) };
    }
    const body = parseWebhookBody(text);
    if (body === null) return { result: 'malformed', detail: `unusable body ${JSON.stringify(text.slice(0, 200))}` };
    return body.dn === null ? { result: 'queue' } : { result: 'dn', dn: body.dn };
  }
}

class ResponseTooLarge extends Error {}

/** The body as text, refusing more than `bytesMax` (a webhook is not trusted to be small). */
async function readBounded(res: Response, bytesMax: number): Promise<string> {
  if (res.body === null) return '';
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > bytesMax) {
      await reader.cancel().catch(() => undefined);
      throw new ResponseTooLarge(`response larger than ${bytesMax} bytes`);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** fetch hides the socket error in `cause` (ECONNREFUSED, ENOTFOUND, ...). */
function describe(e: Error): string {
  const cause = (e as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? e.message;
}
