// Proves the registrar's digest defences against real SIP nodes over UDP, backed by a real
// shard replica process (issue 18):
//   - an unknown DN and a known one get the same 401 (same status, reason, header names and
//     challenge parameters), and credentials for an unknown DN earn exactly the answer a
//     wrong password does; a node whose shards are all unreachable still challenges, since
//     no shard is consulted before the challenge;
//   - password guessing is throttled: after 3 wrong passwords from one source for one DN
//     (the limit set here), even the right password gets 403 "Too Many Failed Attempts"
//     and binds nothing, while the same DN from another source still registers;
//   - a digest whose `uri` is not the Request-URI is refused (400) and binds nothing;
//   - a digest without qop (RFC 2069 style) is refused (403) and binds nothing;
//   - a nonce issued by another node gets a fresh challenge with stale=true, and the
//     phone's answer to that one registers;
//   - the nonce's MAC is keyed by deriveKey(secret, 'digest-nonce'), not by the root
//     secret (nor the key the old code derived from it by a plain HMAC).

import { createHash, createHmac } from 'node:crypto';
import t from 'tap';
import { deriveKey } from '../../common/keys.js';
import { digestAuthorization } from '../../sip/node/digest.js';
import { getHeaders, parseDigestParams, type SipResponse } from '../../sip/syntax/index.js';
import { addAgent, password, readAgent, sipTarget, startCluster, startNode } from '../sip/node/harness.js';
import { TestUa } from '../sip/node/test-ua.js';

const { cluster, config } = await startCluster(t, [], 1);
await addAgent(cluster, config, '2001', {});
await addAgent(cluster, config, '2002', {});
await addAgent(cluster, config, '2003', {});
await addAgent(cluster, config, '2004', {});
// SHA-256 first, so the checks below cover it (the default offers MD5 alone).
const node = await startNode(t, config, { digestAlgorithms: ['SHA-256', 'MD5'], digestThrottle: { failuresMax: 3, lockoutMs: 600_000 } });
const node2 = await startNode(t, config, { nodeId: 'sip2', digestAlgorithms: ['SHA-256', 'MD5'] });
const server = sipTarget(node);
const ua = await TestUa.start();
t.teardown(() => ua.close());

/** A 401 with its per-request values (nonce, opaque, tags, ids) blanked. */
function shape(r: SipResponse): unknown {
  return {
    status: r.status,
    reason: r.reason,
    headers: r.headers.map((h) => h.name),
    challenges: getHeaders(r, 'WWW-Authenticate').map((v) => ({ ...parseDigestParams(v)!.params, nonce: '*', opaque: '*' })),
  };
}

t.test('unknown and known DNs get the same 401, and the same 403 for any password', async (t) => {
  const known = await ua.registerOnce(server, '2001', []);
  const unknown = await ua.registerOnce(server, '2999', []);
  t.equal(known.status, 401);
  t.same(shape(unknown), shape(known), 'identical challenges');
  const wrong = await ua.register(server, '2002', 'guess');
  const absent = await ua.register(server, '2998', 'guess');
  t.equal(wrong.response.status, 403);
  t.same([absent.response.status, absent.response.reason], [wrong.response.status, wrong.response.reason], 'unknown DN: the wrong-password answer');
});

t.test('no shard is consulted before the challenge', async (t) => {
  const dead = { ...config, shards: config.shards.map((s) => ({ ...s, replicas: s.replicas.map((r) => ({ ...r, client: { host: '127.0.0.1', port: 1 } })) })) };
  const cut = await startNode(t, dead, { nodeId: 'sip3' });
  const r = await ua.registerOnce(sipTarget(cut), '2001', []);
  t.equal(r.status, 401, 'challenged with every shard unreachable');
});

t.test('password guessing is throttled per (source, DN)', async (t) => {
  for (let i = 0; i < 3; i++) t.equal((await ua.register(server, '2003', `guess-${i}`)).response.status, 403, `guess ${i + 1}: 403`);
  const right = await ua.register(server, '2003', password('2003'));
  t.same([right.response.status, right.response.reason], [403, 'Too Many Failed Attempts'], 'the right password is not even checked now');
  t.same((await readAgent(cluster, '2003')).contacts, [], 'nothing bound');
  const elsewhere = await TestUa.start('answer', '127.0.0.2');
  t.teardown(() => elsewhere.close());
  t.equal((await elsewhere.register(server, '2003', password('2003'))).response.status, 200, 'the phone at another address registers');
});

t.test('digest uri must be the Request-URI', async (t) => {
  const challenge = parseDigestParams(getHeaders(await ua.registerOnce(server, '2004', []), 'WWW-Authenticate')[0]!)!;
  const auth = digestAuthorization({ method: 'REGISTER', uri: 'sip:elsewhere.example', username: '2004', password: password('2004'), challenge, nc: 1, cnonce: 'c1' });
  const r = await ua.registerOnce(server, '2004', [{ name: 'Authorization', value: auth }]);
  t.same([r.status, r.reason], [400, 'Digest URI Does Not Match Request-URI']);
  t.same((await readAgent(cluster, '2004')).contacts, [], 'nothing bound');
});

t.test('digest without qop is refused', async (t) => {
  const challenge = parseDigestParams(getHeaders(await ua.registerOnce(server, '2004', []), 'WWW-Authenticate')[0]!)!;
  const p = challenge.params;
  const h = (s: string): string => createHash('sha256').update(s).digest('hex');
  const ha1 = h(`2004:${p['realm']}:${password('2004')}`);
  const response = h(`${ha1}:${p['nonce']}:${h('REGISTER:sip:ringfence')}`);
  const auth = `Digest username="2004", realm="${p['realm']}", nonce="${p['nonce']}", uri="sip:ringfence", response="${response}", algorithm=SHA-256, opaque="${p['opaque']}"`;
  const r = await ua.registerOnce(server, '2004', [{ name: 'Authorization', value: auth }]);
  t.same([r.status, r.reason], [403, 'Digest qop=auth Required']);
  t.same((await readAgent(cluster, '2004')).contacts, [], 'nothing bound');
});

t.test("another node's nonce is re-challenged with stale=true", async (t) => {
  const challenge = parseDigestParams(getHeaders(await ua.registerOnce(server, '2004', []), 'WWW-Authenticate')[0]!)!;
  const auth = digestAuthorization({ method: 'REGISTER', uri: 'sip:ringfence', username: '2004', password: password('2004'), challenge, nc: 1, cnonce: 'c2' });
  const r = await ua.registerOnce(sipTarget(node2), '2004', [{ name: 'Authorization', value: auth }]);
  t.equal(r.status, 401);
  const fresh = parseDigestParams(getHeaders(r, 'WWW-Authenticate')[0]!)!;
  t.equal(fresh.params['stale'], 'true');
  t.not(fresh.params['nonce'], challenge.params['nonce']);
  t.same((await readAgent(cluster, '2004')).contacts, [], 'nothing bound by the foreign nonce');
  const retry = digestAuthorization({ method: 'REGISTER', uri: 'sip:ringfence', username: '2004', password: password('2004'), challenge: fresh, nc: 1, cnonce: 'c3' });
  t.equal((await ua.registerOnce(sipTarget(node2), '2004', [{ name: 'Authorization', value: retry }])).status, 200, 'its own nonce registers');
});

t.test('the nonce key is derived, not the root secret', async (t) => {
  const nonce = parseDigestParams(getHeaders(await ua.registerOnce(server, '2001', []), 'WWW-Authenticate')[0]!)!.params['nonce']!;
  const cut = nonce.lastIndexOf('.');
  const body = nonce.slice(0, cut);
  const mac = nonce.slice(cut + 1);
  const hmac = (key: string | Buffer): string => createHmac('sha256', key).update(body).digest('hex');
  t.equal(mac, hmac(deriveKey(config.secret, 'digest-nonce')), "MAC'd with deriveKey(secret, 'digest-nonce')");
  t.not(mac, hmac(config.secret), 'not with the root secret');
  t.not(mac, hmac(createHmac('sha256', config.secret).update('ringfence-digest-nonce').digest()), 'nor the old ad-hoc key');
});
