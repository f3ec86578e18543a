// Proves the registrar end to end over real UDP against real shard processes: digest
// REGISTER with the agent's stored HA1 (good password → 200 and a binding in the DN's
// shard; wrong password → 403; unknown DN → the same 403, never 404), a replayed Authorization (same nonce
// and nc) refused with a new challenge, an expired nonce answered 401 stale=true, several
// contacts ordered by q, Expires: 0 removing one, and `Contact: *` removing all.

import t from 'tap';
import { getHeader, getHeaders, parseDigestParams } from '../../../sip/syntax/index.js';
import { digestAuthorization } from '../../../sip/node/digest.js';
import { addAgent, password, readAgent, sipTarget, startCluster, startNode } from './harness.js';
import { TestUa } from './test-ua.js';

const { cluster, config } = await startCluster(t, [], 2);
await addAgent(cluster, config, '2001', { sales: 10 });
await addAgent(cluster, config, '2002', { sales: 10 });
const node = await startNode(t, config, { nonceLifetimeMs: 1500 });
const server = sipTarget(node);
const ua = await TestUa.start();
t.teardown(() => ua.close());

t.test('good password registers; the binding lands in the DN shard', async (t) => {
  const { response } = await ua.register(server, '2001', password('2001'), { expires: 600 });
  t.equal(response.status, 200);
  const contacts = getHeaders(response, 'Contact');
  t.equal(contacts.length, 1);
  t.match(contacts[0], new RegExp(`<sip:agent@127.0.0.1:${ua.port}>;expires=(59\\d|600)`));
  const agent = await readAgent(cluster, '2001');
  t.same(agent.contacts.map((c) => c.uri), [ua.contact]);
});

t.test('the challenge offers MD5 alone by default (what baresip and SIPp accept)', async (t) => {
  const r = await ua.registerOnce(server, '2001', []);
  t.equal(r.status, 401);
  const algs = getHeaders(r, 'WWW-Authenticate').map((v) => parseDigestParams(v)?.params['algorithm']);
  t.same(algs, ['MD5']);
});

t.test("the cluster file's digest.algorithms sets the challenges and their order", async (t) => {
  const sha = await startNode(t, { ...config, digest: { algorithms: ['SHA-256', 'MD5'] } }, { nodeId: 'sip-sha' });
  const r = await ua.registerOnce(sipTarget(sha), '2001', []);
  t.same(getHeaders(r, 'WWW-Authenticate').map((v) => parseDigestParams(v)?.params['algorithm']), ['SHA-256', 'MD5']);
  const { response } = await ua.register(sipTarget(sha), '2001', password('2001'), { expires: 600 });
  t.equal(response.status, 200, 'a phone answering the first (SHA-256) challenge registers');
});

t.test('wrong password is 403; unknown DN is the same 403 (no enumeration)', async (t) => {
  const wrong = await ua.register(server, '2002', 'not-the-password');
  t.equal(wrong.response.status, 403);
  t.same((await readAgent(cluster, '2002')).contacts, [], 'no binding made');
  const unknown = await ua.register(server, '2999', 'x');
  t.equal(unknown.response.status, 403);
  t.equal(unknown.response.reason, wrong.response.reason);
});

t.test('a replayed Authorization is refused', async (t) => {
  const first = await ua.register(server, '2002', password('2002'), { expires: 300 });
  t.equal(first.response.status, 200);
  const replay = await ua.registerOnce(server, '2002', [{ name: 'Authorization', value: first.authorization! }, { name: 'Expires', value: '0' }]);
  t.equal(replay.status, 401, 'same nonce, same nc: challenged again');
  t.equal((await readAgent(cluster, '2002')).contacts.length, 1, 'the replay did not unregister');
});

t.test('an expired nonce gets 401 stale=true', async (t) => {
  const first = await ua.register(server, '2002', password('2002'), { expires: 300 });
  t.equal(first.response.status, 200);
  await new Promise((r) => setTimeout(r, 1700));
  // A correct response for the old nonce with a higher nc: only the age is wrong.
  const again = digestAuthorization({ method: 'REGISTER', uri: 'sip:ringfence', username: '2002', password: password('2002'), challenge: first.challenge!, nc: 2, cnonce: 'c2' });
  const r = await ua.registerOnce(server, '2002', [{ name: 'Authorization', value: again }]);
  t.equal(r.status, 401);
  const ch = getHeaders(r, 'WWW-Authenticate').map((v) => parseDigestParams(v)!);
  t.equal(ch[0]?.params['stale'], 'true');
});

t.test('several contacts with q; Expires 0 removes one; * removes all', async (t) => {
  const a = '<sip:a@127.0.0.1:5071>;q=0.5';
  const b = '<sip:b@127.0.0.1:5072>;q=0.9';
  const both = await ua.register(server, '2001', password('2001'), { contacts: [a, b], expires: 120 });
  t.equal(both.response.status, 200);
  const uris = (await readAgent(cluster, '2001')).contacts.map((c) => c.uri);
  t.same(uris, [ua.contact, 'sip:b@127.0.0.1:5072', 'sip:a@127.0.0.1:5071'], 'ordered by q (the first registration has q=1)');
  t.equal(getHeaders(both.response, 'Contact').length, 3, '200 lists every binding');
  const drop = await ua.register(server, '2001', password('2001'), { contacts: ['<sip:b@127.0.0.1:5072>;expires=0'] });
  t.equal(drop.response.status, 200);
  t.same((await readAgent(cluster, '2001')).contacts.map((c) => c.uri), [ua.contact, 'sip:a@127.0.0.1:5071']);
  const all = await ua.register(server, '2001', password('2001'), { contacts: ['*'], expires: 0 });
  t.equal(all.response.status, 200);
  t.same((await readAgent(cluster, '2001')).contacts, []);
  t.equal(getHeader(all.response, 'Contact'), undefined);
});
