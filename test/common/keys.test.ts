// Proves that the per-purpose keys are what other processes will derive (stable bytes for
// a known root, so a change of derivation cannot slip in unnoticed and split a cluster of
// mixed versions), that purposes and subjects never share a key, and that the root secret
// itself is never returned.
import t from 'tap';
import { deriveKey, derivedKeyBytes, type KeyPurpose } from '../../common/keys.js';

const root = 'a-root-secret-of-at-least-32-bytes-0123456789';

t.test('each purpose and subject has its own key, the same every time', async (t) => {
  const purposes: KeyPurpose[] = ['raft-peer', 'shard-rpc', 'ng-control', 'digest-nonce'];
  const seen = new Set<string>();
  for (const p of purposes) {
    for (const subject of ['', 'sip1', 'sip2']) {
      const k = deriveKey(root, p, subject);
      t.equal(k.length, derivedKeyBytes, `${p}/${subject}: ${derivedKeyBytes} bytes`);
      t.same(deriveKey(root, p, subject), k, `${p}/${subject}: deterministic`);
      seen.add(k.toString('hex'));
    }
  }
  t.equal(seen.size, purposes.length * 3, 'no two purposes or subjects share a key');
  t.not(deriveKey(root, 'raft-peer').toString('utf8'), root, 'the root is not the key');
  t.not(deriveKey(`${root}x`, 'raft-peer').toString('hex'), deriveKey(root, 'raft-peer').toString('hex'), 'another root, another key');
});

t.test('the derivation is pinned', async (t) => {
  // HKDF-SHA256(salt "ringfence/hkdf-salt/v1", info "ringfence/v1/raft-peer\n"): a change
  // here splits a rolling upgrade into two clusters that cannot authenticate each other.
  // The expected bytes were computed outside Node (Python's hmac, RFC 5869 by hand).
  t.equal(deriveKey('0123456789abcdef0123456789abcdef', 'raft-peer').toString('hex'), 'ab780cd06d7349c86ab3e39e5c51a29676db85ed3014d9f13fa7443ce1fb6aeb');
});

t.test('bad input is a bug, not a key', async (t) => {
  t.throws(() => deriveKey('', 'raft-peer'), { code: 'ERR_ASSERTION' });
  t.throws(() => deriveKey(root, 'raft-peer', 'a\nb'), { code: 'ERR_ASSERTION' });
});
