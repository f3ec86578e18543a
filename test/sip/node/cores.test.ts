// Proves the SIP node's pure cores without sockets: the digest authenticator (good
// credentials for MD5 and SHA-256, wrong password, forged nonce, replayed and increasing
// nonce counts, expiry → stale, another node's or an earlier life's nonce → stale, uri
// and qop required), the failed-digest throttle, the router's strategies
// (longest-idle, fewest-calls, round-robin) with skill/level/contact/exclusion filters
// and version-ordered view updates, and the node's view of the cluster queues (arrival
// order, repeated and stale feed records, claims and their expiry, re-reads).

import fc from 'fast-check';
import t from 'tap';
import { digestCredentials } from '../../../shards/digest-credentials.js';
import type { Agent, QueueChangeRecord, QueueEntry } from '../../../shards/types.js';
import { randomBytes } from 'node:crypto';
import { deriveKey } from '../../../common/keys.js';
import { DigestAuthenticator, digestAuthorization, parseDigestAlgorithms } from '../../../sip/node/digest.js';
import { DigestThrottle } from '../../../sip/node/digest-throttle.js';
import { QueueView } from '../../../sip/node/queue.js';
import { AgentView, eligible, fewestCallsOrder, longestIdleOrder, Router, type RoutingStrategy } from '../../../sip/node/router.js';
import { parseDigestParams } from '../../../sip/syntax/index.js';

t.test('digest', async (t) => {
  let now = 1_000_000;
  const key = deriveKey(randomBytes(32).toString('hex'), 'digest-nonce');
  const auth = new DigestAuthenticator({ key, nodeId: 'sip1', realm: 'ringfence', now: () => now, lifetimeMs: 10_000, algorithms: ['SHA-256', 'MD5'] });
  const creds = digestCredentials('2001', 'ringfence', 'pw');
  const [sha, md5] = auth.challenges().map((c) => parseDigestParams(c)!);
  const ruri = 'sip:ringfence';
  const answer = (challenge = sha!, pw = 'pw', nc = 1) =>
    parseDigestParams(digestAuthorization({ method: 'REGISTER', uri: ruri, username: '2001', password: pw, challenge, nc, cnonce: 'abc' }))!;
  t.match(auth.verify('REGISTER', ruri, answer(), creds), { ok: true, algorithm: 'SHA-256' });
  // Both challenges carry one nonce: a phone answers one of them, and counts on.
  t.match(auth.verify('REGISTER', ruri, answer(md5, 'pw', 2), creds), { ok: true, algorithm: 'MD5' });
  t.match(auth.verify('REGISTER', ruri, answer(sha, 'wrong', 3), creds), { ok: false, reason: 'wrong-response' });
  t.match(auth.verify('REGISTER', ruri, answer(sha, 'pw', 2), creds), { ok: false, reason: 'replay' }, 'same nc again');
  t.match(auth.verify('REGISTER', ruri, answer(sha, 'pw', 3), creds), { ok: true }, 'higher nc accepted');
  t.match(auth.verify('REGISTER', 'sip:ringfence;transport=tcp', answer(sha, 'pw', 4), creds), { ok: true }, 'the same URI with other parameters');
  t.match(auth.verify('REGISTER', 'sip:elsewhere', answer(sha, 'pw', 5), creds), { ok: false, reason: 'uri-mismatch' });
  const noQop = { ...sha!, params: Object.fromEntries(Object.entries(answer(sha, 'pw', 6).params).filter(([k]) => k !== 'qop' && k !== 'nc' && k !== 'cnonce')) };
  t.match(auth.verify('REGISTER', ruri, noQop, creds), { ok: false, reason: 'no-qop' });
  const forged = { ...sha!, params: { ...sha!.params, nonce: sha!.params['nonce']!.replace(/.$/, (c) => (c === '0' ? '1' : '0')) } };
  t.match(auth.verify('REGISTER', ruri, answer(forged), creds), { ok: false, reason: 'bad-nonce' });
  const both = ['SHA-256', 'MD5'] as const;
  const otherKey = new DigestAuthenticator({ key: deriveKey(randomBytes(32).toString('hex'), 'digest-nonce'), nodeId: 'sip1', realm: 'ringfence', now: () => now, algorithms: both });
  t.match(otherKey.verify('REGISTER', ruri, answer(sha, 'pw', 7), creds), { ok: false, reason: 'bad-nonce' }, 'another key rejects our nonce');
  const otherNode = new DigestAuthenticator({ key, nodeId: 'sip2', realm: 'ringfence', now: () => now, algorithms: both });
  t.match(otherNode.verify('REGISTER', ruri, answer(sha, 'pw', 7), creds), { ok: false, reason: 'stale' }, 'another node: stale, so it re-challenges');
  const restarted = new DigestAuthenticator({ key, nodeId: 'sip1', realm: 'ringfence', now: () => now, algorithms: both });
  t.match(restarted.verify('REGISTER', ruri, answer(sha, 'pw', 7), creds), { ok: false, reason: 'stale' }, 'this node after a restart: stale too');
  t.match(otherNode.verify('REGISTER', ruri, answer(sha, 'wrong', 7), creds), { ok: false, reason: 'wrong-response' }, 'stale only for a good password');
  now += 10_001;
  t.match(auth.verify('REGISTER', ruri, answer(sha, 'pw', 8), creds), { ok: false, reason: 'stale' });
  t.match(auth.verify('REGISTER', ruri, answer(sha, 'wrong', 9), creds), { ok: false, reason: 'wrong-response' }, 'stale only for a good password');
  t.ok(auth.challenges(true).every((c) => c.includes('stale=true')));
  t.match(auth.verify('REGISTER', ruri, { scheme: 'Basic', params: {} }, creds), { ok: false, reason: 'malformed' });
  const md5Only = new DigestAuthenticator({ key, nodeId: 'sip1', realm: 'ringfence', now: () => now });
  const only = md5Only.challenges().map((c) => parseDigestParams(c)!);
  t.same(only.map((c) => c.params['algorithm']), ['MD5'], 'by default offers MD5 alone (what baresip and SIPp accept)');
  const shaAnswer = { ...only[0]!, params: { ...only[0]!.params, algorithm: 'SHA-256' } };
  t.match(md5Only.verify('REGISTER', ruri, answer(shaAnswer, 'pw', 1), creds), { ok: false, reason: 'malformed' }, 'and accepts nothing else');
  t.same(parseDigestAlgorithms('sha-256, MD5'), ['SHA-256', 'MD5'], 'a policy list, in its order');
  t.match(parseDigestAlgorithms('MD5,SHA-512'), /unknown algorithm "SHA-512"/);
  t.match(parseDigestAlgorithms('MD5,md5'), /listed twice/);
  t.match(parseDigestAlgorithms(' , '), /expected SHA-256 and\/or MD5/);
});

t.test('digest throttle', async (t) => {
  let now = 0;
  const th = new DigestThrottle({ failuresMax: 3, windowMs: 1_000, lockoutMs: 5_000, trackedMax: 2, now: () => now });
  th.failed('10.0.0.1', '2001');
  th.failed('10.0.0.1', '2001');
  t.equal(th.lockedForMs('10.0.0.1', '2001'), 0, 'two failures: still allowed');
  now = 1_500;
  th.failed('10.0.0.1', '2001');
  t.equal(th.lockedForMs('10.0.0.1', '2001'), 0, 'the window moved on: the count started again');
  th.failed('10.0.0.1', '2001');
  th.failed('10.0.0.1', '2001');
  t.equal(th.lockedForMs('10.0.0.1', '2001'), 5_000, 'three within the window: locked out');
  t.equal(th.lockedForMs('10.0.0.2', '2001'), 0, 'another source is not');
  now = 6_500;
  t.equal(th.lockedForMs('10.0.0.1', '2001'), 0, 'the lockout ends');
  th.failed('10.0.0.3', '1');
  th.failed('10.0.0.4', '1');
  t.equal(th.trackedCount, 2, 'bounded table');
});

t.test('digest throttle: guessing spread over many sources guards the user, not its known phone', async (t) => {
  let now = 0;
  const th = new DigestThrottle({ failuresMax: 3, userFailuresMax: 4, userWindowMs: 10_000, userGuardMs: 60_000, knownSourcesPerUserMax: 2, now: () => now });
  th.succeeded('10.0.0.9', '2001'); // the agent's phone registered from here before
  for (const source of ['10.1.0.1', '10.1.0.2', '10.1.0.3']) th.failed(source, '2001');
  t.equal(th.lockedForMs('10.1.0.4', '2001'), 0, 'three failures from three sources: a fourth source may still try');
  t.notOk(th.guarded('2001'));
  th.failed('10.1.0.4', '2001');
  t.ok(th.guarded('2001'), 'the fourth failure within the window guards the user');
  t.equal(th.lockedForMs('10.1.0.5', '2001'), 60_000, 'a new source is refused for the guard\'s length');
  t.equal(th.lockedForMs('10.0.0.9', '2001'), 0, 'the source that registered it before may still try');
  t.equal(th.lockedForMs('10.1.0.5', '2002'), 0, 'another user is not guarded');
  now = 60_001;
  t.equal(th.lockedForMs('10.1.0.5', '2001'), 0, 'the guard ends');
  th.failed('10.2.0.1', '2003');
  now = 80_000;
  for (const source of ['10.2.0.2', '10.2.0.3', '10.2.0.4']) th.failed(source, '2003');
  t.notOk(th.guarded('2003'), 'failures further apart than the window do not add up');
  for (const source of ['a', 'b', 'c']) th.succeeded(source, '2004');
  for (const source of ['d', 'e', 'f', 'g']) th.failed(source, '2004');
  t.ok(th.lockedForMs('a', '2004') > 0, 'only the most recent known sources are kept (here 2): the oldest is refused');
  t.equal(th.lockedForMs('c', '2004'), 0, 'the most recent is still known');
});

function agent(dn: string, o: { readySinceMs?: number; skills?: Record<string, number>; calls?: number; state?: 'READY' | 'BUSY'; contact?: boolean; version?: number } = {}): Agent {
  return {
    dn,
    name: dn,
    skills: o.skills ?? { sales: 50 },
    wrapUpMs: 0,
    maxNoAnswer: 0,
    credentials: null,
    status: o.state === 'BUSY'
      ? { state: 'BUSY', reservation: { reservationId: 'r', callId: 'c', owner: 'n', grantedAtMs: 0, expiresAtMs: 1 }, answeredAtMs: 0 }
      : { state: 'READY', readySinceMs: o.readySinceMs ?? 0 },
    contacts: o.contact === false ? [] : [{ uri: `sip:${dn}@h`, expiresAtMs: 10_000, q: 1, callId: 'x', cseq: 1 }],
    counters: { callsAnswered: o.calls ?? 0, talkTimeMs: 0, missedOffers: 0, consecutiveNoAnswers: 0, lastCallEndMs: null },
    version: o.version ?? 1,
  };
}

t.test('router', async (t) => {
  const view = new AgentView();
  const put = (a: Agent) => view.update(a.dn, a, a.version);
  put(agent('1', { readySinceMs: 300, calls: 0 }));
  put(agent('2', { readySinceMs: 100, calls: 5 }));
  put(agent('3', { readySinceMs: 200, calls: 1 }));
  put(agent('4', { readySinceMs: 0, skills: { sales: 10 } }));
  put(agent('5', { readySinceMs: 0, state: 'BUSY' }));
  put(agent('6', { readySinceMs: 0, contact: false }));
  const req = { skill: 'sales', minLevel: 20, exclude: new Set<string>(), nowMs: 1000 };
  t.equal(new Router(view, 'longest-idle').pick(req), '2', 'longest READY first; low level, busy and phoneless skipped');
  t.equal(new Router(view, 'longest-idle').pick({ ...req, exclude: new Set(['2']) }), '3', 'tried agents excluded');
  t.equal(new Router(view, 'fewest-calls').pick(req), '1');
  // Claims off (ttl 0): the view never changes here, so every pick would stay claimed.
  const rr = new Router(view, 'round-robin', 0);
  t.same([rr.pick(req), rr.pick(req), rr.pick(req), rr.pick(req)], ['1', '2', '3', '1']);
  t.equal(new Router(view).pick({ ...req, nowMs: 20_000 }), null, 'expired contacts make nobody eligible');
  t.equal(new Router(view).pick({ ...req, skill: 'support' }), null);
  t.notOk(view.update('2', agent('2', { readySinceMs: 999, version: 0 }), 0), 'an older version is ignored');
  t.ok(view.update('2', agent('2', { state: 'BUSY', version: 5 }), 5));
  t.equal(new Router(view).pick(req), '3', 'a newer version is applied');

  // Regression (bench calls at 50 calls/s: 480s after 20 denials): calls routed before the
  // change feed shows a grant all picked the same longest-idle agent.
  const claiming = new Router(view, 'longest-idle', 2000);
  t.same([claiming.pick(req), claiming.pick(req), claiming.pick(req)], ['3', '1', null], 'a picked agent is not picked again while the view is unchanged');
  t.ok(view.update('3', agent('3', { readySinceMs: 50, version: 9 }), 9));
  t.equal(claiming.pick(req), '3', 'a newer version of the agent ends its claim');
  t.equal(claiming.pick({ ...req, exclude: new Set(['3']), nowMs: 1000 + 2000 }), '1', 'a claim the view never answered times out');
  t.ok(view.update('3', null, 10));
  t.equal(view.get('3'), undefined, 'deprovisioned');
});

// The router picks in one pass over the view; the reference below filters the whole
// view and sorts it, as the router did before. They must agree pick after pick, for
// every strategy, on random agents (states, levels, contacts, exclusions, ties).
t.test('router: the one-pass pick equals filter-and-sort', async (t) => {
  const arbAgent = fc.record({
    dn: fc.integer({ min: 100, max: 140 }).map(String),
    ready: fc.boolean(),
    readySinceMs: fc.integer({ min: 0, max: 5 }),
    level: fc.integer({ min: -1, max: 30 }),
    contactExpiresAtMs: fc.integer({ min: 0, max: 2000 }),
    calls: fc.integer({ min: 0, max: 3 }),
  });
  fc.assert(
    fc.property(
      fc.uniqueArray(arbAgent, { selector: (a) => a.dn, maxLength: 25 }),
      fc.constantFrom<RoutingStrategy>('longest-idle', 'fewest-calls', 'round-robin'),
      fc.array(fc.integer({ min: 100, max: 140 }).map(String), { maxLength: 5 }),
      fc.integer({ min: 1, max: 6 }),
      (specs, strategy, excluded, picks) => {
        const view = new AgentView();
        for (const o of specs) {
          const a = agent(o.dn, { readySinceMs: o.readySinceMs, state: o.ready ? 'READY' : 'BUSY', calls: o.calls, skills: o.level < 0 ? { other: 50 } : { sales: o.level } });
          view.update(o.dn, { ...a, contacts: [{ ...a.contacts[0]!, expiresAtMs: o.contactExpiresAtMs }] }, 1);
        }
        const req = { skill: 'sales', minLevel: 10, exclude: new Set(excluded), nowMs: 1000 };
        // Claims off (ttl 0) so successive picks see the same candidates.
        const router = new Router(view, strategy, 0);
        let cursor = '';
        for (let i = 0; i < picks; i++) {
          const candidates = [...view.values()].filter((a) => eligible(a, req));
          let want: string | null = null;
          if (candidates.length > 0) {
            if (strategy === 'longest-idle') want = candidates.sort(longestIdleOrder)[0]!.dn;
            else if (strategy === 'fewest-calls') want = candidates.sort(fewestCallsOrder)[0]!.dn;
            else {
              const sorted = candidates.sort((a, b) => (a.dn < b.dn ? -1 : 1));
              want = (sorted.find((a) => a.dn > cursor) ?? sorted[0]!).dn;
              cursor = want;
            }
          }
          if (router.pick(req) !== want) return false;
        }
        return true;
      },
    ),
    { numRuns: 1500 },
  );
  t.pass('1500 random views agree');
});

t.test('queue view (the cluster queues as the change feeds show them)', async (t) => {
  const q = new QueueView();
  const entry = (service: string, callId: string, enqueuedIndex: number, o: Partial<QueueEntry> = {}): QueueEntry => ({
    service, callId, owner: 'sipA', skill: 'sales', minLevel: 0, enqueuedIndex, enqueuedAtMs: enqueuedIndex * 10, claim: null, passed: [], ...o,
  });
  const rec = (index: number, e: QueueEntry | null, callId = e?.callId ?? '', service = e?.service ?? '7001'): QueueChangeRecord => ({ index, kind: 'queue', service, callId, entry: e, reason: e === null ? 'answered' : 'enqueued' });
  t.same(q.apply('s1', rec(5, entry('7001', 'b', 5))), entry('7001', 'b', 5));
  q.apply('s1', rec(3, entry('7001', 'a', 3, { minLevel: 60 })));
  q.apply('s2', rec(9, entry('7002', 'c', 9, { skill: 'support', enqueuedAtMs: 1 })));
  t.same(q.waiting('7001').map((e) => e.callId), ['a', 'b'], 'arrival (log) order, whatever order the records came in');
  t.equal(q.apply('s1', rec(5, entry('7001', 'b', 5))), undefined, 'a repeated record is ignored');
  t.equal(q.serviceToClaim(agent('9', { skills: { sales: 50 } }), 0), '7001', 'a needs level 60, b can take a 50');
  t.equal(q.serviceToClaim(agent('9', { skills: { sales: 50, support: 1 } }), 0), '7002', 'across services the oldest by time');
  t.equal(q.serviceToClaim(agent('9', { skills: { other: 90 } }), 0), null);
  q.apply('s1', rec(7, entry('7001', 'b', 5, { claim: { dn: '9', claimer: 'sipB', claimedAtMs: 70, expiresAtMs: 1000 } })));
  t.ok(q.claimHeldBy('9', 999) && !q.claimHeldBy('9', 1000), 'a claim holds until its expiry');
  t.equal(q.serviceToClaim(agent('8', { skills: { sales: 50 } }), 0), null, 'b is claimed, a needs 60');
  t.equal(q.serviceToClaim(agent('8', { skills: { sales: 50 } }), 1000), '7001', 'a lapsed claim frees the entry');
  t.equal(q.apply('s1', rec(8, null, 'b')), null);
  t.equal(q.apply('s1', rec(7, entry('7001', 'b', 5))), undefined, 'a record older than the removal does not bring it back');
  q.resync('s1', [entry('7001', 'z', 12)], 12);
  t.same(q.waiting('7001').map((e) => e.callId), ['z'], 'a re-read replaces what the shard held');
  t.same(q.waiting('7002').map((e) => e.callId), ['c'], "another shard's entries stay");
  t.equal(q.size, 2);
});
