// SIP over TLS (RFC 3261 §26.2, RFC 5630): the stream transport (stream-transport.ts:
// framing, connection caps per source IP counted before the handshake, the message
// deadline, which also bounds a handshake that never completes) over TLS sockets. The
// node presents the certificate and key from the cluster file; it does not ask phones
// for certificates. Connections the node opens (to a phone's registered TLS contact when
// no connection of the phone's can be reused) do not verify the phone's certificate:
// phones carry self-signed ones, and the digest-authenticated registration is what
// binds a phone to its DN.

import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type net from 'node:net';
import tls from 'node:tls';
import { StreamTransport, type StreamFlavor, type StreamTransportOptions } from './stream-transport.js';
import { SipTransportError, TRANSPORT_ERR } from './errors.js';

export type TlsCredentials = Readonly<{ certPem: string; keyPem: string }>;

export type TlsTransportOptions = StreamTransportOptions & Readonly<{ credentials: TlsCredentials }>;

/** The certificate or the key file is unusable; `file` says which. */
export class TlsCredentialsError extends SipTransportError {
  constructor(readonly file: 'cert' | 'key', message: string, options?: { cause?: unknown }) {
    super(TRANSPORT_ERR.TLS_CONFIG, message, options);
  }
}

/** Reads a certificate (chain) and key from PEM files and checks that they belong
 * together; throws SIP_ERR_TRANSPORT_TLS_CONFIG naming the file and what is wrong. */
export function loadTlsCredentials(certPath: string, keyPath: string): TlsCredentials {
  const read = (path: string, file: 'cert' | 'key'): string => {
    try {
      return readFileSync(path, 'utf8');
    } catch (err) {
      throw new TlsCredentialsError(file, `cannot read the TLS ${file === 'cert' ? 'certificate' : 'key'} ${path}: ${(err as Error).message}`, { cause: err });
    }
  };
  const certPem = read(certPath, 'cert');
  const keyPem = read(keyPath, 'key');
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(certPem);
  } catch (err) {
    throw new TlsCredentialsError('cert', `${certPath} is not a PEM certificate: ${(err as Error).message}`);
  }
  let key: ReturnType<typeof createPrivateKey>;
  try {
    key = createPrivateKey(keyPem);
  } catch (err) {
    throw new TlsCredentialsError('key', `${keyPath} is not a PEM private key: ${(err as Error).message}`);
  }
  if (!cert.checkPrivateKey(key)) throw new TlsCredentialsError('key', `${keyPath} is not the private key of the certificate in ${certPath}`);
  return { certPem, keyPem };
}

/** The SHA-256 fingerprint of a PEM certificate, as phones show it (AB:CD:...). */
export function certificateFingerprint(certPem: string): string {
  return new X509Certificate(certPem).fingerprint256;
}

function tlsFlavor(credentials: TlsCredentials): StreamFlavor {
  const context = tls.createSecureContext({ cert: credentials.certPem, key: credentials.keyPem, minVersion: 'TLSv1.2' });
  return {
    protocol: 'TLS',
    accept: (raw: net.Socket) => new tls.TLSSocket(raw, { isServer: true, secureContext: context, requestCert: false }),
    connect: (host, port) => tls.connect({ host, port, secureContext: context, rejectUnauthorized: false }).setNoDelay(true),
    readyEvent: 'secureConnect',
  };
}

export class TlsTransport extends StreamTransport {
  static async listen(options: TlsTransportOptions): Promise<TlsTransport> {
    const flavor = tlsFlavor(options.credentials);
    const { server, limits } = await StreamTransport.bound(options);
    return new TlsTransport(server, limits, options, flavor);
  }
}
