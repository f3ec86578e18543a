// A self-signed certificate for SIP over TLS on a local cluster (`npm start`): made once
// in the data directory with the `openssl` CLI (node:crypto reads and checks X.509 but
// cannot issue a certificate), kept across restarts so phones that pinned its
// fingerprint keep trusting it. The key is written mode 0600.

import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { certificateFingerprint, loadTlsCredentials } from '../sip/transport/index.js';

export type SelfSignedCertificate = Readonly<{ certPath: string; keyPath: string; fingerprint: string; created: boolean }>;

/** Days the certificate is valid: a local demo cluster should not stop working on its own. */
const validityDays = 3650;

/** The certificate in `dir` (sip-tls-cert.pem, sip-tls-key.pem), made when either file is
 * missing, for `hosts` (subjectAltName; the first is also its CN). Throws with openssl's
 * own words when openssl is absent or fails. */
export function ensureSelfSignedCertificate(dir: string, hosts: readonly string[] = ['127.0.0.1']): SelfSignedCertificate {
  const certPath = join(dir, 'sip-tls-cert.pem');
  const keyPath = join(dir, 'sip-tls-key.pem');
  let created = false;
  if (!existsSync(certPath) || !existsSync(keyPath)) {
    // An address goes in as IP: and as DNS: too: mbedtls (linphone's TLS on Debian 12)
    // skips IP entries, and with any subjectAltName present it ignores the CN.
    const san = ['DNS:localhost', ...hosts.flatMap((h) => (/^[0-9.]+$|:/.test(h) ? [`IP:${h}`, `DNS:${h}`] : [`DNS:${h}`]))].join(',');
    try {
      execFileSync('openssl', [
        'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
        '-keyout', keyPath, '-out', certPath, '-days', String(validityDays), '-subj', `/CN=${hosts[0] ?? 'localhost'}`, '-addext', `subjectAltName=${san}`,
      ], { stdio: ['ignore', 'ignore', 'pipe'] });
    } catch (err) {
      const e = err as NodeJS.ErrnoException & { stderr?: Buffer };
      const why = e.code === 'ENOENT' ? 'the openssl command is not installed (apt-get install openssl)' : (e.stderr?.toString().trim() || e.message);
      throw new Error(`cannot make a self-signed TLS certificate in ${dir}: ${why}`);
    }
    created = true;
  }
  chmodSync(keyPath, 0o600);
  const { certPem } = loadTlsCredentials(certPath, keyPath);
  return { certPath, keyPath, fingerprint: certificateFingerprint(certPem), created };
}
