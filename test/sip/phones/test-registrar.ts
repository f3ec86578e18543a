// A tiny digest-authenticating registrar for the phones' tests (not the product's: that is
// the SIP node's). It challenges every REGISTER without valid credentials with both a
// SHA-256 and an MD5 WWW-Authenticate (RFC 8760 §2.4 order: preferred first), checks the
// answer independently of the phones' own digest code, refuses a reused nonce count, and
// keeps each DN's binding so tests can see who registered where.
import { createHash, randomBytes } from 'node:crypto';
import { buildResponse, getHeader, parseDigestParams, parseNameAddr, parseUri, type SipRequest } from '../../../sip/syntax/index.js';
import { TransactionLayer, type ServerTransaction } from '../../../sip/transaction/index.js';
import { SystemTimerService, UdpTransport } from '../../../sip/transport/index.js';

export type Binding = { contact: string; expiresAtMs: number; registrations: number; algorithm: string };

export class TestRegistrar {
  readonly bindings = new Map<string, Binding>();
  readonly challenges = { sent: 0, answeredOk: 0, refused: 0 };
  private readonly nonces = new Map<string, number>();
  private constructor(
    private readonly transport: UdpTransport,
    private readonly layer: TransactionLayer,
    readonly realm: string,
    private readonly passwords: ReadonlyMap<string, string>,
    private readonly grantS: number | null,
  ) {}

  get port(): number {
    return this.transport.local.port;
  }

  static async start(opts: { realm: string; passwords: ReadonlyMap<string, string>; grantS?: number; algorithms?: readonly string[] }): Promise<TestRegistrar> {
    const transport = await UdpTransport.listen({ host: '127.0.0.1', port: 0 });
    let reg: TestRegistrar | null = null;
    const layer = new TransactionLayer({ transports: [transport], timers: new SystemTimerService(), user: { onRequest: (tx, req) => reg!.onRequest(tx, req, opts.algorithms ?? ['SHA-256', 'MD5']) } });
    reg = new TestRegistrar(transport, layer, opts.realm, opts.passwords, opts.grantS ?? null);
    return reg;
  }

  async close(): Promise<void> {
    this.layer.close();
    await this.transport.close();
  }

  private onRequest(tx: ServerTransaction, req: SipRequest, algorithms: readonly string[]): void {
    if (req.method !== 'REGISTER') {
      tx.respond(buildResponse(req, 405, 'Method Not Allowed'));
      return;
    }
    const dn = parseUri(parseNameAddr(getHeader(req, 'To') ?? '')?.uri ?? '')?.user ?? '';
    const auth = parseDigestParams(getHeader(req, 'Authorization') ?? '');
    const algorithm = this.verify(req, dn, auth?.params ?? null);
    if (algorithm === null) {
      this.challenges.sent++;
      const headers = algorithms.map((a) => {
        const nonce = randomBytes(12).toString('hex');
        this.nonces.set(nonce, 0);
        return { name: 'WWW-Authenticate', value: `Digest realm="${this.realm}", nonce="${nonce}", algorithm=${a}, qop="auth"` };
      });
      tx.respond(buildResponse(req, 401, 'Unauthorized', { toTag: randomBytes(4).toString('hex'), headers }));
      return;
    }
    this.challenges.answeredOk++;
    const contact = parseNameAddr(getHeader(req, 'Contact') ?? '')?.uri ?? '';
    const expires = Number(getHeader(req, 'Expires') ?? '3600');
    const granted = this.grantS === null ? expires : Math.min(expires, this.grantS);
    if (granted === 0) this.bindings.delete(dn);
    else this.bindings.set(dn, { contact, expiresAtMs: Date.now() + granted * 1000, registrations: (this.bindings.get(dn)?.registrations ?? 0) + 1, algorithm });
    tx.respond(buildResponse(req, 200, 'OK', { toTag: randomBytes(4).toString('hex'), headers: granted === 0 ? [] : [{ name: 'Contact', value: `<${contact}>;expires=${granted}` }] }));
  }

  /** The algorithm of valid credentials, or null (unknown nonce, replayed nc, bad hash). */
  private verify(req: SipRequest, dn: string, p: Readonly<Record<string, string>> | null): string | null {
    if (p === null) return null;
    const password = this.passwords.get(dn);
    const nonce = p['nonce'] ?? '';
    const lastNc = this.nonces.get(nonce);
    if (password === undefined || lastNc === undefined || p['username'] !== dn || p['realm'] !== this.realm) return null;
    const nc = parseInt(p['nc'] ?? '', 16);
    if (!(nc > lastNc)) {
      this.challenges.refused++;
      return null;
    }
    const algorithm = (p['algorithm'] ?? 'MD5').toUpperCase();
    const h = (s: string): string => createHash(algorithm === 'SHA-256' ? 'sha256' : 'md5').update(s).digest('hex');
    const ha1 = h(`${dn}:${this.realm}:${password}`);
    const ha2 = h(`${req.method}:${p['uri']}`);
    const expected = h(`${ha1}:${nonce}:${p['nc']}:${p['cnonce']}:${p['qop']}:${ha2}`);
    if (expected !== p['response']) {
      this.challenges.refused++;
      return null;
    }
    this.nonces.set(nonce, nc);
    return algorithm;
  }
}
