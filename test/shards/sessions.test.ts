// Proves exactly-once semantics of client sessions (Ongaro thesis §6.3) through the state
// machine: a retried request returns its first result and is not applied again (the agent
// and the change feed are untouched), acknowledged results are dropped so their retry is
// SHARD_ERR_SESSION_EXPIRED, unknown and evicted sessions are refused, eviction picks the
// least recently active session deterministically, idle sessions go at a tick, and the
// number of unacknowledged results per session is bounded.

import t from 'tap';
import { ShardHarness, provisionCommand, readyAgent } from './shard-harness.js';

t.test('a retried reserve returns the first result and is applied once', async (t) => {
  const h = new ShardHarness();
  const c = h.openClient();
  readyAgent(c, '1000');
  const reserve = { type: 'reserve', dn: '1000', reservationId: 'r1', callId: 'k', owner: 's', ttlMs: 5000 } as const;
  const first = c.send(reserve, { answerLost: true });
  const seq = c.seq;
  t.equal(first.ok, true);
  const release = c.send({ type: 'release', dn: '1000', reservationId: 'r1', outcome: 'abandoned' });
  t.equal(release.ok, true);
  const feedBefore = h.sm.changesSince(0).changes.length;
  h.advance(1000);
  // The answer to `reserve` was lost; the client retries it with its old number (and so
  // cannot have acknowledged it). Re-running it would grant the agent again.
  const retried = c.retry(reserve, seq);
  t.same(retried, first, 'the first result, byte for byte');
  t.equal(h.sm.getAgent('1000')!.status.state, 'READY', 'not reserved a second time');
  t.equal(h.sm.changesSince(0).changes.length, feedBefore, 'no change recorded');
});

t.test('a retry of a denied command also gets its first (failed) result', async (t) => {
  const h = new ShardHarness();
  const c = h.openClient();
  c.send(provisionCommand('1100'));
  const denied = c.send({ type: 'reserve', dn: '1100', reservationId: 'r', callId: 'k', owner: 's', ttlMs: 5000 }, { answerLost: true });
  const seq = c.seq;
  c.send({ type: 'login', dn: '1100' });
  c.send({ type: 'ready', dn: '1100' });
  const retried = c.retry({ type: 'reserve', dn: '1100', reservationId: 'r', callId: 'k', owner: 's', ttlMs: 5000 }, seq);
  t.same(retried, denied);
  t.equal(h.sm.getAgent('1100')!.status.state, 'READY');
});

t.test('acknowledged results are forgotten: their retry is SESSION_EXPIRED and changes nothing', async (t) => {
  const h = new ShardHarness();
  const c = h.openClient();
  readyAgent(c, '1200');
  const reserve = { type: 'reserve', dn: '1200', reservationId: 'r', callId: 'k', owner: 's', ttlMs: 5000 } as const;
  c.send(reserve);
  const seq = c.seq;
  c.send({ type: 'release', dn: '1200', reservationId: 'r', outcome: 'abandoned' }); // carries ackedSeq = seq
  c.send({ type: 'tick' }); // acknowledges the release too
  // A duplicate of the original proposal (as the network delivered it twice) arrives late.
  const stale = h.propose(reserve, { clientId: c.clientId, requestSeq: seq, ackedSeq: seq - 1 });
  t.match(stale, { ok: false, code: 'SHARD_ERR_SESSION_EXPIRED' });
  t.equal(h.sm.getAgent('1200')!.status.state, 'READY');
});

t.test('commands other than tick, expire and openSession need a session; unknown sessions are refused', async (t) => {
  const h = new ShardHarness();
  t.match(h.propose(provisionCommand('1300')), { ok: false, code: 'SHARD_ERR_SESSION_REQUIRED' });
  t.match(h.propose(provisionCommand('1300'), { clientId: 'c999', requestSeq: 1, ackedSeq: 0 }), {
    ok: false,
    code: 'SHARD_ERR_SESSION_EXPIRED',
  });
  t.equal(h.sm.getAgent('1300'), null);
  t.match(h.propose({ type: 'openSession' }, { clientId: 'x', requestSeq: 1, ackedSeq: 0 }), { code: 'SHARD_ERR_BAD_COMMAND' });
  t.equal(h.propose({ type: 'tick' }).ok, true);
});

t.test('session ids are never reused and a full table evicts the least recently active', async (t) => {
  const h = new ShardHarness({ sessions: { sessionsMax: 3, sessionResultsMax: 8, sessionIdleMsMax: 1e9 } });
  const a = h.openClient();
  h.advance(10);
  const b = h.openClient();
  h.advance(10);
  const c = h.openClient();
  t.equal(new Set([a.clientId, b.clientId, c.clientId]).size, 3);
  h.advance(10);
  a.send(provisionCommand('1400')); // a is now the most recently active; b is the oldest
  h.advance(10);
  const d = h.openClient();
  t.equal(h.sm.sessionCount, 3);
  t.match(b.send({ type: 'login', dn: '1400' }), { code: 'SHARD_ERR_SESSION_EXPIRED' }, 'b was evicted');
  t.equal(h.sm.getAgent('1400')!.status.state, 'LOGGED_OUT', "the evicted session's command did not run");
  t.equal(a.send({ type: 'login', dn: '1400' }).ok, true, 'a survived');
  t.equal(c.send({ type: 'tick' }).ok, true);
  t.equal(d.send({ type: 'tick' }).ok, true);
});

t.test('idle sessions are dropped at a tick', async (t) => {
  const h = new ShardHarness({ sessions: { sessionsMax: 10, sessionResultsMax: 8, sessionIdleMsMax: 60_000 } });
  const idle = h.openClient();
  const busy = h.openClient();
  h.advance(30_000);
  busy.send({ type: 'tick' });
  h.advance(30_001);
  h.propose({ type: 'tick' });
  t.equal(h.sm.sessionCount, 1);
  t.match(idle.send({ type: 'tick' }), { code: 'SHARD_ERR_SESSION_EXPIRED' });
  t.equal(busy.send({ type: 'tick' }).ok, true);
});

t.test('a client with too many unacknowledged results is refused without applying', async (t) => {
  const h = new ShardHarness({ sessions: { sessionsMax: 10, sessionResultsMax: 2, sessionIdleMsMax: 1e9 } });
  const c = h.openClient();
  const s = (requestSeq: number, ackedSeq: number) => ({ clientId: c.clientId, requestSeq, ackedSeq });
  t.equal(h.propose(provisionCommand('1500'), s(1, 0)).ok, true);
  t.equal(h.propose({ type: 'login', dn: '1500' }, s(2, 0)).ok, true);
  t.match(h.propose({ type: 'ready', dn: '1500' }, s(3, 0)), { code: 'SHARD_ERR_TOO_MANY_PENDING' });
  t.equal(h.sm.getAgent('1500')!.status.state, 'NOT_READY', 'ready was not applied');
  t.equal(h.propose({ type: 'ready', dn: '1500' }, s(3, 2)).ok, true, 'accepted once earlier answers are acknowledged');
  t.equal(h.sm.getAgent('1500')!.status.state, 'READY');
});
