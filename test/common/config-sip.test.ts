// Proves the cluster file's keys for SIP over TLS and the digest policy: `sip[].tls`
// (listen as host:port or a bare port on the node's host, 5061 by default; cert and key
// required) and `digest.algorithms` (known names, any case, in order, no repeats), each
// bad value refused naming its field.

import t, { type Test } from 'tap';
import { validateClusterConfig } from '../../common/config.js';

const base = {
  secret: 'f3a9c1e07b5d2468ace13579bdf02468f3a9c1e07b5d2468',
  tokens: { read: 'read-0123456789abcdef0123456789abcdef', admin: 'admin-fedcba9876543210fedcba9876543210' },
  shards: [{ id: 's1', replicas: [{ id: 's1-a', raft: '127.0.0.1:7101', client: '127.0.0.1:7201', admin: '127.0.0.1:8101' }] }],
};
const withSip = (tls: unknown): unknown => ({ ...base, sip: [{ id: 'sip1', udp: '10.0.0.1:5060', admin: '10.0.0.1:8080', tls }] });
const refused = (t: Test, doc: unknown, field: string, detail: RegExp): void => {
  t.throws(() => validateClusterConfig(doc), { field, message: detail }, field);
};

t.test('sip[].tls', async (t) => {
  t.equal(validateClusterConfig(withSip(undefined)).sip[0]!.tls, undefined, 'absent: no TLS');
  t.same(validateClusterConfig(withSip({ cert: '/c.pem', key: '/k.pem' })).sip[0]!.tls, { listen: { host: '10.0.0.1', port: 5061 }, cert: '/c.pem', key: '/k.pem' }, 'port 5061 on the node host by default');
  t.same(validateClusterConfig(withSip({ listen: 5062, cert: '/c.pem', key: '/k.pem' })).sip[0]!.tls!.listen, { host: '10.0.0.1', port: 5062 });
  t.same(validateClusterConfig(withSip({ listen: '10.0.0.9:5063', cert: '/c.pem', key: '/k.pem' })).sip[0]!.tls!.listen, { host: '10.0.0.9', port: 5063 });
  refused(t, withSip({ key: '/k.pem' }), 'sip[0].tls.cert', /non-empty string/);
  refused(t, withSip({ cert: '/c.pem' }), 'sip[0].tls.key', /non-empty string/);
  refused(t, withSip({ listen: 'nowhere', cert: '/c.pem', key: '/k.pem' }), 'sip[0].tls.listen', /host:port/);
  refused(t, withSip('yes'), 'sip[0].tls', /mapping/);
  refused(t, withSip({ cert: '/c.pem', key: '/k.pem', certs: '/x' }), 'sip[0].tls.certs', /unknown key; did you mean cert\?/);
});

t.test('digest.algorithms', async (t) => {
  t.equal(validateClusterConfig(base).digest, undefined, 'absent: the nodes\' default');
  t.same(validateClusterConfig({ ...base, digest: { algorithms: ['sha-256', 'MD5'] } }).digest, { algorithms: ['SHA-256', 'MD5'] });
  refused(t, { ...base, digest: { algorithms: [] } }, 'digest.algorithms', /non-empty list/);
  refused(t, { ...base, digest: { algorithms: ['MD5', 'SHA-512'] } }, 'digest.algorithms[1]', /one of MD5, SHA-256, got "SHA-512"/);
  refused(t, { ...base, digest: { algorithms: ['MD5', 'md5'] } }, 'digest.algorithms', /twice/);
  refused(t, { ...base, digest: 'MD5' }, 'digest', /mapping/);
  refused(t, { ...base, digest: { algorithm: ['MD5'] } }, 'digest.algorithm', /unknown key; did you mean algorithms\?/);
});
