// Computes the SIP digest hashes an agent's provisioning command carries. Runs in the
// caller (admin REST, provisioning tools), never inside apply(): the password must not
// reach the replicated log, and apply() stays free of anything but entry data.

import { createHash } from 'node:crypto';
import type { DigestCredentials } from './types.js';

/** HA1 = H(user ":" realm ":" password) with MD5 (RFC 2617 §3.2.2.2) and SHA-256
 * (RFC 7616 §3.4.2), lowercase hex. */
export function digestCredentials(user: string, realm: string, password: string): DigestCredentials {
  const a1 = `${user}:${realm}:${password}`;
  return {
    user,
    realm,
    ha1Md5: createHash('md5').update(a1, 'utf8').digest('hex'),
    ha1Sha256: createHash('sha256').update(a1, 'utf8').digest('hex'),
  };
}
