// Keys derived per purpose from the cluster's one root secret (HKDF-SHA256, RFC 5869), so
// that a key learnt or misused in one place opens nothing else: a Raft peer key does not
// sign a digest nonce, an ng control key does not authenticate a shard client. Every
// process that holds the root secret derives the same key for the same purpose; the root
// itself is never used as a key.
import assert from 'node:assert';
import { hkdfSync } from 'node:crypto';

/** What a derived key is for. Adding one never changes the keys of the others. */
export type KeyPurpose = 'raft-peer' | 'shard-rpc' | 'ng-control' | 'digest-nonce';

export const derivedKeyBytes = 32;

const salt = Buffer.from('ringfence/hkdf-salt/v1', 'utf8');

/** The key for `purpose` (and, where one key per principal is wanted, `subject`, e.g. a
 * SIP node's id): 32 bytes, the same in every process holding `rootSecret`. */
export function deriveKey(rootSecret: string, purpose: KeyPurpose, subject = ''): Buffer {
  assert(rootSecret.length > 0, 'an empty root secret derives no key');
  assert(!subject.includes('\n'), 'a key subject is one line');
  const info = Buffer.from(`ringfence/v1/${purpose}\n${subject}`, 'utf8');
  return Buffer.from(hkdfSync('sha256', Buffer.from(rootSecret, 'utf8'), salt, info, derivedKeyBytes));
}
