// The registrar (RFC 3261 §10.3): an agent phone REGISTERs its DN (the To user) with
// digest credentials checked against the agent's stored HA1 (read from the DN's shard).
// No DN can be told from another by its answers: a REGISTER without credentials is
// challenged before any shard is consulted, and credentials for an unknown DN (or an
// agent without credentials) are checked against made-up HA1s on the same path as a
// known DN's, so they earn the same 403 as a wrong password. Wrong passwords are
// throttled per (source IP, DN) (digest-throttle.ts).
// Bindings are stored in that shard with `register`/`unregister` commands, so every SIP
// node sees them: Expires: 0 removes one binding, `Contact: *` with Expires: 0 removes
// all, a REGISTER without Contact lists them. The 200 carries every current binding with
// its remaining expiry.

import { randomBytes } from 'node:crypto';
import { ShardClientError, type ShardClient } from '../../shards/client/shard-client.js';
import type { Agent, ContactSource, DigestCredentials, ShardResult } from '../../shards/types.js';
import { buildResponse, generateTag, getHeader, getHeaders, parseCSeq, parseDigestParams, parseNameAddr, parseUri } from '../syntax/index.js';
import type { SipHeader, SipRequest } from '../syntax/index.js';
import type { ServerTransaction } from '../transaction/index.js';
import { topViaValue } from '../transport/index.js';
import { natDecision, type RegisterSource } from './nat-binding.js';
import type { Logger } from '../../common/logger.js';
import type { DigestAuthenticator } from './digest.js';
import type { DigestThrottle } from './digest-throttle.js';
import * as limits from './limits.js';
import type { SipNodeMetrics } from './metrics.js';

export type RegistrarDeps = Readonly<{
  shards: ShardClient;
  digest: DigestAuthenticator;
  throttle: DigestThrottle;
  metrics: SipNodeMetrics;
  log: Logger;
  now: () => number;
  /** This SIP node's id: a binding's RFC 5626 flow is usable only on the node holding it. */
  nodeId: string;
  /** False: store every Contact as sent, never the observed source (no NAT handling). */
  natHandling?: boolean;
  /** Called for each binding stored with an observed UDP source from behind a NAT (the
   * keep-alive pinger watches it), and for each removed. */
  onNatBinding?: (event: NatBindingEvent) => void;
}>;

export type NatBindingEvent = Readonly<{ dn: string; uri: string; received: ContactSource | null; expiresInMs: number }>;

type Answer = Readonly<{ status: number; reason: string; headers?: readonly SipHeader[] }>;

const dnPattern = /^[0-9]{1,20}$/;

export class Registrar {
  /** Checked for a DN with no credentials to check (unknown, or none provisioned): no
   * password matches them, and the check costs what a real one does. */
  private readonly noCredentialsHa1 = { md5: randomBytes(16).toString('hex'), sha256: randomBytes(32).toString('hex') };

  constructor(private readonly deps: RegistrarDeps) {}

  handle(tx: ServerTransaction, req: SipRequest): void {
    this.process(req, tx.source).then(
      (a) => this.reply(tx, req, a),
      (err) => {
        this.deps.log.warn('REGISTER failed', { error: (err as Error).message });
        this.reply(tx, req, unavailable());
      },
    );
  }

  private reply(tx: ServerTransaction, req: SipRequest, a: Answer): void {
    this.deps.metrics.registrations.inc({ status: String(a.status) });
    tx.respond(buildResponse(req, a.status, a.reason, { headers: a.headers ?? [], toTag: generateTag() }));
  }

  private async process(req: SipRequest, source: RegisterSource): Promise<Answer> {
    const sourceIp = source.host;
    const to = parseNameAddr(getHeader(req, 'To') ?? '');
    const user = (to === null ? undefined : parseUri(to.uri)?.user) ?? '';
    const authValue = getHeader(req, 'Authorization');
    // Challenged before anything is looked up: the same 401 for every To.
    if (authValue === undefined) return this.challenge(false);
    const auth = parseDigestParams(authValue);
    if (auth === null) return { status: 400, reason: 'Malformed Authorization' };
    if (this.deps.throttle.lockedForMs(sourceIp, user) > 0) return { status: 403, reason: 'Too Many Failed Attempts' };
    const agent = dnPattern.test(user) ? await this.readAgent(user) : null;
    const creds = agent?.credentials ?? this.noCredentials(user);
    const verdict = this.deps.digest.verify('REGISTER', req.uri, auth, creds);
    if (verdict.ok && agent !== null && agent.credentials !== null) {
      this.deps.throttle.succeeded(sourceIp, user);
      return this.bind(req, user, agent, source);
    }
    switch (verdict.ok ? 'wrong-response' : verdict.reason) {
      case 'stale':
        // Expired, or issued by another node: the phone retries silently with this one.
        return this.challenge(true);
      case 'malformed':
        return { status: 400, reason: 'Malformed Authorization' };
      case 'uri-mismatch':
        return { status: 400, reason: 'Digest URI Does Not Match Request-URI' };
      case 'no-qop':
        return { status: 403, reason: 'Digest qop=auth Required' };
      case 'bad-nonce':
      case 'replay':
        // A nonce we did not issue, or one whose count did not go up: ask again.
        return this.challenge(false);
      case 'wrong-user':
      case 'wrong-response':
        if (agent !== null && agent.credentials === null) this.deps.log.info('REGISTER for an agent without credentials', { dn: user });
        this.deps.throttle.failed(sourceIp, user);
        return { status: 403, reason: 'Forbidden' };
    }
  }

  private noCredentials(user: string): DigestCredentials {
    return { user, realm: this.deps.digest.realm, ha1Md5: this.noCredentialsHa1.md5, ha1Sha256: this.noCredentialsHa1.sha256 };
  }

  private challenge(stale: boolean): Answer {
    return { status: 401, reason: 'Unauthorized', headers: this.deps.digest.challenges(stale).map((value) => ({ name: 'WWW-Authenticate', value })) };
  }

  private async readAgent(dn: string): Promise<Agent | null> {
    try {
      return (await this.deps.shards.read(this.deps.shards.shardFor(dn), { type: 'agent', dn }, 'stale')) as Agent;
    } catch (err) {
      if (err instanceof ShardClientError && err.code === 'SHARD_ERR_UNKNOWN_DN') return null;
      throw err;
    }
  }

  private async bind(req: SipRequest, dn: string, agent: Agent, source: RegisterSource): Promise<Answer> {
    const contacts = getHeaders(req, 'Contact');
    const callId = getHeader(req, 'Call-ID') ?? '';
    const cseq = parseCSeq(getHeader(req, 'CSeq') ?? '')?.seq ?? 0;
    const expiresHeader = getHeader(req, 'Expires');
    const headerSeconds = expiresHeader === undefined ? undefined : Number(expiresHeader);
    if (headerSeconds !== undefined && !(Number.isInteger(headerSeconds) && headerSeconds >= 0)) return { status: 400, reason: 'Bad Expires' };
    let current = agent;
    if (contacts.some((c) => c.trim() === '*')) {
      if (contacts.length !== 1 || headerSeconds !== 0) return { status: 400, reason: 'Wildcard Contact Needs Expires 0' };
      const r = await this.command(dn, { type: 'unregister', dn, uri: null });
      if (!r.ok) return failure(r);
      for (const c of current.contacts) this.deps.onNatBinding?.({ dn, uri: c.uri, received: null, expiresInMs: 0 });
      return this.ok(r.type === 'agent' ? r.agent : current);
    }
    const bindings: { uri: string; seconds: number; q: number; received: ContactSource | null }[] = [];
    const topVia = topViaValue(req);
    const supported = getHeaders(req, 'Supported');
    let outbound = false;
    for (const value of contacts) {
      const na = parseNameAddr(value);
      if (na === null || parseUri(na.uri) === null) return { status: 400, reason: 'Bad Contact' };
      const p = na.params['expires'];
      const seconds = typeof p === 'string' ? Number(p) : (headerSeconds ?? limits.registerExpiresSecondsDefault);
      if (!Number.isInteger(seconds) || seconds < 0) return { status: 400, reason: 'Bad Contact Expires' };
      if (seconds > 0 && seconds < limits.registerExpiresSecondsMin) {
        return { status: 423, reason: 'Interval Too Brief', headers: [{ name: 'Min-Expires', value: String(limits.registerExpiresSecondsMin) }] };
      }
      const qText = na.params['q'];
      const q = typeof qText === 'string' ? Number(qText) : 1;
      if (!(q >= 0 && q <= 1)) return { status: 400, reason: 'Bad Contact q' };
      const nat = this.deps.natHandling === false ? { received: null, outbound: false } : natDecision({ contact: value, topVia, supported, source, nodeId: this.deps.nodeId });
      outbound ||= nat.outbound;
      bindings.push({ uri: na.uri, seconds: Math.min(seconds, limits.registerExpiresSecondsMax), q, received: nat.received });
    }
    for (const b of bindings) {
      const r = await this.command(dn, { type: 'register', dn, uri: b.uri, expiresMs: b.seconds * 1000, q: b.q, callId, cseq, ...(b.received !== null ? { received: b.received } : {}) });
      if (!r.ok) return failure(r);
      if (r.type === 'agent') current = r.agent;
      this.deps.onNatBinding?.({ dn, uri: b.uri, received: b.seconds > 0 ? b.received : null, expiresInMs: b.seconds * 1000 });
    }
    const answer = this.ok(current);
    // RFC 5626 §6: confirm the flow, and ask for CRLF keep-alives well inside our TCP idle timeout.
    if (!outbound) return answer;
    return { ...answer, headers: [...(answer.headers ?? []), { name: 'Require', value: 'outbound' }, { name: 'Flow-Timer', value: String(limits.flowTimerSeconds) }] };
  }

  private command(dn: string, cmd: Parameters<ShardClient['command']>[1]): Promise<ShardResult> {
    return this.deps.shards.command(dn, cmd, { deadlineMs: limits.shardCommandDeadlineMs });
  }

  private ok(agent: Agent): Answer {
    const now = this.deps.now();
    const live = agent.contacts.filter((c) => c.expiresAtMs > now);
    const headers = live.map((c) => ({ name: 'Contact', value: `<${c.uri}>;expires=${Math.max(1, Math.round((c.expiresAtMs - now) / 1000))};q=${c.q}` }));
    return { status: 200, reason: 'OK', headers: [...headers, { name: 'Date', value: new Date(now).toUTCString() }] };
  }
}

function failure(r: Extract<ShardResult, { ok: false }>): Answer {
  switch (r.code) {
    case 'SHARD_ERR_STALE_REGISTRATION':
      // RFC 3261 §10.3 step 7: an out-of-order REGISTER for a binding fails.
      return { status: 500, reason: 'Out Of Order Registration' };
    case 'SHARD_ERR_LIMIT':
      return { status: 403, reason: 'Too Many Contacts' };
    case 'SHARD_ERR_UNKNOWN_DN':
      return { status: 404, reason: 'Not Found' };
    default:
      return unavailable();
  }
}

function unavailable(): Answer {
  return { status: 503, reason: 'Service Unavailable', headers: [{ name: 'Retry-After', value: '5' }] };
}
