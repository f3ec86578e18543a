// One phone's registration (RFC 3261 §10.2): REGISTER its DN with its contact, answer the
// digest challenge, refresh before the binding expires, retry with back-off on failure.
// Later refreshes reuse the last nonce with a rising nonce count, so a registrar that
// keeps nonces valid sees one round trip; a stale or unknown nonce just costs a challenge.

import { randomBytes } from 'node:crypto';
import { generateCallId, generateTag, getHeader, getHeaders, parseNameAddr, type SipRequest, type SipResponse } from '../syntax/index.js';
import type { TransactionLayer } from '../transaction/index.js';
import type { SipTarget } from '../transport/index.js';
import { digestAuthorization, pickChallenge, type Challenge, type DigestAlgorithm } from './digest-client.js';
import { PHONES_ERR, PhonesError } from './errors.js';
import { registerRefreshMarginMs, registerRefreshMsMin, registerRetryMsMax, registerRetryMsMin } from './limits.js';

export type RegistrationOptions = Readonly<{
  layer: TransactionLayer;
  registrar: SipTarget;
  /** Domain for the Request-URI and the AOR; the registrar's host:port by default. */
  domain: string;
  dn: string;
  password: string;
  contactUri: string;
  expiresS: number;
  prefer: DigestAlgorithm;
  onRegistered: (expiresS: number) => void;
  onError: (err: PhonesError) => void;
}>;

export class Registration {
  private readonly callId = generateCallId();
  private readonly fromTag = generateTag();
  private cseq = 0;
  private challenge: Challenge | null = null;
  private nc = 0;
  private timer: NodeJS.Timeout | null = null;
  private retryMs = registerRetryMsMin;
  private stopped = false;
  registered = false;
  registrations = 0;

  constructor(private readonly o: RegistrationOptions) {}

  start(): void {
    this.send(this.o.expiresS, false);
  }

  /** Stops refreshing; with `unregister`, sends Expires: 0 and resolves on its answer. */
  stop(unregister: boolean): Promise<void> {
    this.stopped = true;
    if (this.timer !== null) clearTimeout(this.timer);
    if (!unregister || !this.registered) return Promise.resolve();
    return new Promise((resolve) => this.send(0, false, resolve));
  }

  private requestUri(): string {
    return `sip:${this.o.domain}`;
  }

  private build(expiresS: number): SipRequest {
    this.cseq++;
    const aor = `sip:${this.o.dn}@${this.o.domain}`;
    const headers = [
      { name: 'Max-Forwards', value: '70' },
      { name: 'From', value: `<${aor}>;tag=${this.fromTag}` },
      { name: 'To', value: `<${aor}>` },
      { name: 'Call-ID', value: this.callId },
      { name: 'CSeq', value: `${this.cseq} REGISTER` },
      { name: 'Contact', value: `<${this.o.contactUri}>` },
      { name: 'Expires', value: String(expiresS) },
      { name: 'User-Agent', value: 'ringfence-phones' },
    ];
    if (this.challenge !== null) {
      this.nc++;
      const value = digestAuthorization({
        challenge: this.challenge,
        method: 'REGISTER',
        uri: this.requestUri(),
        user: this.o.dn,
        password: this.o.password,
        nc: this.nc,
        cnonce: randomBytes(8).toString('hex'),
      });
      headers.push({ name: 'Authorization', value });
    }
    headers.push({ name: 'Content-Length', value: '0' });
    return { kind: 'request', method: 'REGISTER', uri: this.requestUri(), headers, body: new Uint8Array(0) };
  }

  /** `answered` says this attempt already carried an answer to a fresh challenge. */
  private send(expiresS: number, answered: boolean, done?: () => void): void {
    let req: SipRequest;
    try {
      req = this.build(expiresS);
      this.o.layer.sendRequest(req, this.o.registrar, (ev) => {
        if (ev.type === 'provisional') return;
        if (ev.type === 'final') this.onFinal(ev.response, expiresS, answered, done);
        else this.fail(new PhonesError(PHONES_ERR.REGISTER_FAILED, `REGISTER ${this.o.dn}: ${ev.type}`), done);
      });
    } catch (err) {
      this.fail(new PhonesError(PHONES_ERR.REGISTER_FAILED, `REGISTER ${this.o.dn}: ${(err as Error).message}`), done);
    }
  }

  private onFinal(res: SipResponse, expiresS: number, answered: boolean, done?: () => void): void {
    if (res.status === 401 || res.status === 407) {
      let fresh: Challenge;
      try {
        fresh = pickChallenge(getHeaders(res, res.status === 401 ? 'WWW-Authenticate' : 'Proxy-Authenticate'), this.o.prefer);
      } catch (err) {
        this.fail(err as PhonesError, done);
        return;
      }
      // A second challenge right after our answer means a wrong password, unless the
      // server says the nonce was merely stale.
      if (answered && !fresh.stale) {
        this.challenge = null;
        this.fail(new PhonesError(PHONES_ERR.AUTH_REJECTED, `REGISTER ${this.o.dn}: credentials refused`), done);
        return;
      }
      this.challenge = fresh;
      this.nc = 0;
      this.send(expiresS, true, done);
      return;
    }
    if (res.status >= 200 && res.status < 300) {
      this.retryMs = registerRetryMsMin;
      if (expiresS === 0) {
        this.registered = false;
        done?.();
        return;
      }
      const granted = grantedExpiresS(res, this.o.contactUri) ?? expiresS;
      this.registered = true;
      this.registrations++;
      this.o.onRegistered(granted);
      this.schedule(refreshDelayMs(granted), () => this.send(this.o.expiresS, false));
      done?.();
      return;
    }
    this.fail(new PhonesError(res.status === 403 ? PHONES_ERR.AUTH_REJECTED : PHONES_ERR.REGISTER_FAILED, `REGISTER ${this.o.dn}: ${res.status} ${res.reason}`), done);
  }

  private fail(err: PhonesError, done?: () => void): void {
    this.o.onError(err);
    if (done !== undefined) {
      done();
      return;
    }
    const delay = this.retryMs;
    this.retryMs = Math.min(registerRetryMsMax, this.retryMs * 2);
    this.schedule(delay, () => this.send(this.o.expiresS, false));
  }

  private schedule(ms: number, fn: () => void): void {
    if (this.stopped) return;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      if (!this.stopped) fn();
    }, ms);
  }
}

/** The lifetime the registrar granted our contact: its Contact's expires parameter, else
 * the Expires header (RFC 3261 §10.2.4). */
export function grantedExpiresS(res: SipResponse, contactUri: string): number | null {
  const contacts = getHeaders(res, 'Contact');
  for (const c of contacts) {
    const na = parseNameAddr(c);
    // Registrars may re-format the URI; with one binding it is ours whatever its spelling.
    if (na === null || (na.uri !== contactUri && contacts.length > 1)) continue;
    const e = Number(na.params['expires']);
    if (Number.isFinite(e) && e >= 0) return e;
  }
  const h = Number(getHeader(res, 'Expires'));
  return Number.isFinite(h) && h >= 0 ? h : null;
}

export function refreshDelayMs(grantedS: number): number {
  const lifeMs = grantedS * 1000;
  return Math.max(registerRefreshMsMin, lifeMs - Math.min(registerRefreshMarginMs, lifeMs / 2));
}
