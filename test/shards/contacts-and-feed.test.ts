// Proves contact bindings (REGISTER): add, refresh with a higher CSeq, stale CSeq refused,
// Expires 0 and unregister-all remove, per-agent limit, expiry at entry time; and the
// change feed: every change is recorded with its index, `changesSince` resumes from an
// index, and `truncated` is set when records were dropped (ring full, or restored from a
// snapshot) so routers know to re-read the full list.

import t from 'tap';
import * as limits from '../../shards/limits.js';
import { ShardStateMachine } from '../../shards/state-machine.js';
import { agentOf, provisionCommand, ShardHarness } from './shard-harness.js';

const register = (uri: string, cseq: number, expiresMs = 60_000, q = 1, callId = 'cid-1') =>
  ({ type: 'register', dn: '2000', uri, expiresMs, q, callId, cseq }) as const;

t.test('register, refresh, stale CSeq, Expires 0 and unregister-all', async (t) => {
  const h = new ShardHarness();
  const c = h.openClient();
  c.send(provisionCommand('2000'));
  const one = agentOf(c.send(register('sip:2000@10.0.0.1:5060', 1, 60_000, 0.5)));
  t.same(one.contacts, [{ uri: 'sip:2000@10.0.0.1:5060', expiresAtMs: h.nowMs + 60_000, q: 0.5, callId: 'cid-1', cseq: 1 }]);
  const two = agentOf(c.send(register('sip:2000@10.0.0.2:5060', 1, 60_000, 0.9, 'cid-2')));
  t.same(two.contacts.map((b) => b.uri), ['sip:2000@10.0.0.2:5060', 'sip:2000@10.0.0.1:5060'], 'highest q first');
  t.match(c.send(register('sip:2000@10.0.0.1:5060', 1)), { code: 'SHARD_ERR_STALE_REGISTRATION' });
  h.advance(1000);
  const refreshed = agentOf(c.send(register('sip:2000@10.0.0.1:5060', 2, 120_000, 0.5)));
  t.equal(refreshed.contacts.find((b) => b.uri.includes('10.0.0.1'))!.expiresAtMs, h.nowMs + 120_000);
  const removed = agentOf(c.send(register('sip:2000@10.0.0.1:5060', 3, 0)));
  t.same(removed.contacts.map((b) => b.uri), ['sip:2000@10.0.0.2:5060']);
  t.same(agentOf(c.send({ type: 'unregister', dn: '2000', uri: null })).contacts, []);
});

t.test('bindings are limited per agent and expire at entry time', async (t) => {
  const h = new ShardHarness();
  const c = h.openClient();
  c.send(provisionCommand('2000'));
  for (let i = 0; i < limits.contactsPerAgentMax; i += 1) {
    t.equal(c.send(register(`sip:2000@10.0.1.${i}`, 1, 10_000 + i * 1000, 1, `c${i}`)).ok, true);
  }
  t.match(c.send(register('sip:2000@10.0.2.1', 1, 10_000, 1, 'x')), { code: 'SHARD_ERR_LIMIT' });
  h.advance(11_000);
  t.same(h.sm.dueTimers(h.nowMs), [{ dn: '2000', kind: 'contactExpiry', atMs: h.nowMs - 1000 }]);
  const tick = h.propose({ type: 'tick' });
  t.same(tick, { ok: true, type: 'tick', changedDns: ['2000'] });
  t.equal(h.sm.getAgent('2000')!.contacts.length, limits.contactsPerAgentMax - 2, 'the two bindings past expiry are gone');
  t.same(h.sm.changesSince(h.index - 1).changes.map((r) => r.kind), ['contactsExpired']);
});

t.test('the change feed resumes from an index', async (t) => {
  const h = new ShardHarness();
  const c = h.openClient();
  c.send(provisionCommand('2100'));
  const mark = h.index;
  c.send({ type: 'login', dn: '2100' });
  c.send({ type: 'ready', dn: '2100' });
  c.send({ type: 'ready', dn: '2100' }); // already READY: no change, no record
  const page = h.sm.changesSince(mark);
  t.equal(page.truncated, false);
  t.same(page.changes.map((r) => [r.index, r.kind, r.agent?.status.state]), [
    [mark + 1, 'login', 'NOT_READY'],
    [mark + 2, 'ready', 'READY'],
  ]);
  t.equal(page.changes[1]!.agent!.version, mark + 2, 'the agent carries the index that changed it');
  t.same(h.sm.changesSince(h.index).changes, []);
});

t.test('a full ring drops the oldest records and says truncated to readers behind it', async (t) => {
  const h = new ShardHarness({ changeFeedMax: 3 });
  const c = h.openClient();
  c.send(provisionCommand('2200')); // index 2
  c.send({ type: 'login', dn: '2200' }); // 3
  for (let i = 0; i < 2; i += 1) c.send({ type: 'notReady', dn: '2200', reason: `r${i}` }); // 4, 5
  t.same(h.sm.changesSince(1), { changes: h.sm.changesSince(2).changes, truncated: true });
  t.equal(h.sm.changesSince(1).changes.length, 3);
  t.equal(h.sm.changesSince(2).truncated, false, 'a reader at index 2 missed nothing');
  t.same(h.sm.changesSince(2).changes.map((r) => r.index), [3, 4, 5]);
});

t.test('a replica restored from a snapshot reports truncated for indexes before it', async (t) => {
  const h = new ShardHarness();
  const c = h.openClient();
  c.send(provisionCommand('2300'));
  c.send({ type: 'login', dn: '2300' });
  const restored = new ShardStateMachine();
  restored.restore(h.sm.snapshot());
  t.equal(restored.changesSince(1).truncated, true);
  t.equal(restored.changesSince(h.index).truncated, false);
  const h2 = new ShardHarness({}, restored);
  h2.index = h.index;
  h2.nowMs = h.nowMs;
  h2.propose({ type: 'ready', dn: '2300' }, { clientId: c.clientId, requestSeq: c.seq + 1, ackedSeq: c.seq });
  t.same(restored.changesSince(h.index).changes.map((r) => r.kind), ['ready']);
});
