// Proves the agent state rules of the shard state machine, one scenario at a time, by
// applying real encoded entries: login/ready/not-ready/logout, reserve denials with their
// typed reasons, confirm → BUSY, release → WRAP_UP → READY (lazily at entry time and via
// tick), no-answer counting and max-no-answer, expiry, releaseByOwner, the orphan hold, and that stale
// reservation ids change nothing.

import t from 'tap';
import { denyReasonOf } from '../../shards/agent-ops.js';
import { decodeProposal, validateCommand } from '../../shards/commands.js';
import { ShardStateMachine } from '../../shards/state-machine.js';
import { agentOf, provisionCommand, readyAgent, ShardHarness } from './shard-harness.js';

t.test('login, ready, not-ready and logout move through the states', async (t) => {
  const h = new ShardHarness();
  const c = h.openClient();
  t.equal(agentOf(c.send(provisionCommand('1001'))).status.state, 'LOGGED_OUT');
  const ready0 = c.send({ type: 'ready', dn: '1001' });
  t.match(ready0, { ok: false, code: 'SHARD_ERR_AGENT_LOGGED_OUT' }, 'a logged-out agent cannot go READY');
  t.same(agentOf(c.send({ type: 'login', dn: '1001' })).status, { state: 'NOT_READY', reason: 'login' });
  h.advance(500);
  t.same(agentOf(c.send({ type: 'ready', dn: '1001' })).status, { state: 'READY', readySinceMs: h.nowMs });
  t.same(agentOf(c.send({ type: 'notReady', dn: '1001', reason: 'lunch' })).status, { state: 'NOT_READY', reason: 'lunch' });
  t.same(agentOf(c.send({ type: 'logout', dn: '1001' })).status, { state: 'LOGGED_OUT' });
  t.match(c.send({ type: 'login', dn: '9999' }), { ok: false, code: 'SHARD_ERR_UNKNOWN_DN' });
});

t.test('reserve is granted only to a READY agent without a reservation, denials are typed', async (t) => {
  const h = new ShardHarness();
  const c = h.openClient();
  const reserve = (dn: string, reservationId: string) =>
    c.send({ type: 'reserve', dn, reservationId, callId: `call-${reservationId}`, owner: 'sip-1', ttlMs: 5000 });
  const denial = (dn: string, id: string) => {
    const r = reserve(dn, id);
    return r.ok ? 'granted' : denyReasonOf(r.code);
  };
  t.equal(denial('2000', 'x'), 'UNKNOWN_DN');
  c.send(provisionCommand('2000', { wrapUpMs: 3000 }));
  t.equal(denial('2000', 'x'), 'LOGGED_OUT');
  c.send({ type: 'login', dn: '2000' });
  t.equal(denial('2000', 'x'), 'NOT_READY');
  c.send({ type: 'ready', dn: '2000' });
  const granted = reserve('2000', 'r1');
  t.ok(granted.ok && granted.type === 'reserved', 'READY agent is granted');
  if (granted.ok && granted.type === 'reserved') {
    t.same(granted.reservation, { reservationId: 'r1', callId: 'call-r1', owner: 'sip-1', grantedAtMs: h.nowMs, expiresAtMs: h.nowMs + 5000 });
  }
  t.equal(denial('2000', 'r2'), 'RESERVED', 'second reserve of a reserved agent is denied');
  t.equal(denial('2000', 'r1'), 'RESERVED', 'even with the same reservation id from a new request');
  t.equal(agentOf(c.send({ type: 'confirm', dn: '2000', reservationId: 'r1' })).status.state, 'BUSY');
  t.equal(denial('2000', 'r3'), 'BUSY');
  t.equal(agentOf(c.send({ type: 'release', dn: '2000', reservationId: 'r1', outcome: 'completed' })).status.state, 'WRAP_UP');
  t.equal(denial('2000', 'r4'), 'WRAP_UP');
  t.same(h.sm.reservations(), [], 'no reservation is held after release');
});

t.test('a call ends in WRAP_UP, which turns READY at entry time, and a tick records it', async (t) => {
  const h = new ShardHarness();
  const c = h.openClient();
  readyAgent(c, '3000', { wrapUpMs: 10_000 });
  c.send({ type: 'reserve', dn: '3000', reservationId: 'r1', callId: 'k', owner: 'sip-1', ttlMs: 5000 });
  h.advance(1000);
  c.send({ type: 'confirm', dn: '3000', reservationId: 'r1' });
  h.advance(60_000);
  const released = agentOf(c.send({ type: 'release', dn: '3000', reservationId: 'r1', outcome: 'completed' }));
  const endMs = h.nowMs + 10_000;
  t.same(released.status, { state: 'WRAP_UP', wrapUpEndsMs: endMs });
  t.match(released.counters, { callsAnswered: 1, talkTimeMs: 60_000, lastCallEndMs: h.nowMs });
  t.same(h.sm.dueTimers(endMs - 1), [], 'nothing due before the wrap-up ends');
  t.same(h.sm.dueTimers(endMs), [{ dn: '3000', kind: 'wrapUpEnd', atMs: endMs }]);
  t.equal(h.sm.getAgent('3000', endMs)!.status.state, 'READY', 'a query at a later time sees READY');
  t.equal(h.sm.getAgent('3000')!.status.state, 'WRAP_UP', 'at the last applied time it is still WRAP_UP');
  const before = h.sm.changesSince(h.index).changes.length;
  h.advance(10_000);
  const tick = h.propose({ type: 'tick' });
  t.same(tick, { ok: true, type: 'tick', changedDns: ['3000'] });
  const feed = h.sm.changesSince(h.index - 1).changes;
  t.equal(before, 0);
  t.same(feed.map((r) => [r.dn, r.kind, r.agent?.status]), [['3000', 'wrapUpEnded', { state: 'READY', readySinceMs: endMs }]]);
  t.same(h.sm.dueTimers(h.nowMs), []);
});

t.test('wrap-up ends lazily when the next command touches the agent', async (t) => {
  const h = new ShardHarness();
  const c = h.openClient();
  readyAgent(c, '3100', { wrapUpMs: 2000 });
  c.send({ type: 'reserve', dn: '3100', reservationId: 'r1', callId: 'k', owner: 's', ttlMs: 5000 });
  c.send({ type: 'confirm', dn: '3100', reservationId: 'r1' });
  c.send({ type: 'release', dn: '3100', reservationId: 'r1', outcome: 'completed' });
  h.advance(1999);
  t.match(c.send({ type: 'reserve', dn: '3100', reservationId: 'r2', callId: 'k2', owner: 's', ttlMs: 5000 }), { code: 'SHARD_ERR_AGENT_WRAP_UP' });
  h.advance(1);
  const r2 = c.send({ type: 'reserve', dn: '3100', reservationId: 'r2', callId: 'k2', owner: 's', ttlMs: 5000 });
  t.equal(r2.ok, true, 'granted once the entry time reaches the wrap-up end');
  const kinds = h.sm.changesSince(h.index - 1).changes.map((r) => r.kind);
  t.same(kinds, ['wrapUpEnded', 'reserve'], 'the feed shows the wrap-up end before the grant');
});

t.test('a reservation released without a call returns to READY at once, keeping its place', async (t) => {
  const h = new ShardHarness();
  const c = h.openClient();
  const readySince = readyAgent(c, '4000', { wrapUpMs: 5000 }).status;
  h.advance(100);
  c.send({ type: 'reserve', dn: '4000', reservationId: 'r1', callId: 'k', owner: 's', ttlMs: 5000 });
  h.advance(100);
  const after = agentOf(c.send({ type: 'release', dn: '4000', reservationId: 'r1', outcome: 'abandoned' }));
  t.same(after.status, readySince, 'READY with the original readySinceMs, no wrap-up');
  t.equal(after.counters.callsAnswered, 0);
});

t.test('no-answer counts missed offers and maxNoAnswer makes the agent NOT_READY', async (t) => {
  const h = new ShardHarness();
  const c = h.openClient();
  readyAgent(c, '5000', { maxNoAnswer: 2 });
  c.send({ type: 'reserve', dn: '5000', reservationId: 'r1', callId: 'k', owner: 's', ttlMs: 5000 });
  h.advance(100);
  const first = agentOf(c.send({ type: 'release', dn: '5000', reservationId: 'r1', outcome: 'no-answer' }));
  t.same(first.status, { state: 'READY', readySinceMs: h.nowMs }, 'back of the longest-idle order');
  t.match(first.counters, { missedOffers: 1, consecutiveNoAnswers: 1 });
  c.send({ type: 'reserve', dn: '5000', reservationId: 'r2', callId: 'k', owner: 's', ttlMs: 5000 });
  const second = agentOf(c.send({ type: 'release', dn: '5000', reservationId: 'r2', outcome: 'no-answer' }));
  t.same(second.status, { state: 'NOT_READY', reason: 'max-no-answer' });
  t.match(second.counters, { missedOffers: 2, consecutiveNoAnswers: 2 });
  t.equal(agentOf(c.send({ type: 'ready', dn: '5000' })).counters.consecutiveNoAnswers, 0, 'going READY resets the streak');
});

// Regression: a phone answering 486 kept its longest-idle place and was offered the next
// call at once, thousands of times under load.
t.test('a rejected offer sends the agent to the back of the idle order without max-no-answer', async (t) => {
  const h = new ShardHarness();
  const c = h.openClient();
  readyAgent(c, '5100', { maxNoAnswer: 1 });
  c.send({ type: 'reserve', dn: '5100', reservationId: 'r1', callId: 'k', owner: 's', ttlMs: 5000 });
  h.advance(100);
  const after = agentOf(c.send({ type: 'release', dn: '5100', reservationId: 'r1', outcome: 'rejected' }));
  t.same(after.status, { state: 'READY', readySinceMs: h.nowMs }, 'READY, but idle only from now');
  t.match(after.counters, { missedOffers: 1, consecutiveNoAnswers: 0 }, 'a missed offer, not a no-answer streak');
});

t.test('stale reservation ids on confirm, release and expire are typed errors that change nothing', async (t) => {
  const h = new ShardHarness();
  const c = h.openClient();
  readyAgent(c, '6000');
  c.send({ type: 'reserve', dn: '6000', reservationId: 'r1', callId: 'k', owner: 's', ttlMs: 5000 });
  const before = h.sm.getAgent('6000');
  const feedBefore = h.sm.changesSince(0).changes.length;
  t.match(c.send({ type: 'confirm', dn: '6000', reservationId: 'old' }), { ok: false, code: 'SHARD_ERR_STALE_RESERVATION' });
  t.match(c.send({ type: 'release', dn: '6000', reservationId: 'old', outcome: 'completed' }), { code: 'SHARD_ERR_STALE_RESERVATION' });
  t.match(h.propose({ type: 'expire', dn: '6000', reservationId: 'old' }), { code: 'SHARD_ERR_STALE_RESERVATION' });
  t.same(h.sm.getAgent('6000'), before);
  t.equal(h.sm.changesSince(0).changes.length, feedBefore, 'no change records');
});

t.test('expire frees an unanswered reservation only after its TTL, never an answered one', async (t) => {
  const h = new ShardHarness();
  const c = h.openClient();
  readyAgent(c, '7000');
  readyAgent(c, '7001');
  c.send({ type: 'reserve', dn: '7000', reservationId: 'a', callId: 'k', owner: 's', ttlMs: 4000 });
  c.send({ type: 'reserve', dn: '7001', reservationId: 'b', callId: 'k', owner: 's', ttlMs: 4000 });
  c.send({ type: 'confirm', dn: '7001', reservationId: 'b' });
  const expiresAtMs = h.nowMs + 4000;
  t.same(h.sm.expiredReservations(expiresAtMs - 1), []);
  t.same(h.sm.expiredReservations(expiresAtMs), [{ dn: '7000', reservationId: 'a', expiresAtMs }], 'answered b is not listed');
  t.match(h.propose({ type: 'expire', dn: '7000', reservationId: 'a' }), { code: 'SHARD_ERR_NOT_EXPIRED' });
  h.advance(4000);
  t.equal(agentOf(h.propose({ type: 'expire', dn: '7000', reservationId: 'a' })).status.state, 'READY');
  t.match(h.propose({ type: 'expire', dn: '7001', reservationId: 'b' }), { code: 'SHARD_ERR_NOT_EXPIRED' });
  t.match(h.propose({ type: 'expire', dn: '7000', reservationId: 'a' }), { code: 'SHARD_ERR_STALE_RESERVATION' }, 'a repeated expire does nothing');
});

t.test('releaseByOwner frees everything one SIP node held, in DN order', async (t) => {
  const h = new ShardHarness();
  const c = h.openClient();
  for (const dn of ['8002', '8000', '8001']) readyAgent(c, dn, { wrapUpMs: 1000 });
  c.send({ type: 'reserve', dn: '8002', reservationId: 'x2', callId: 'k', owner: 'sip-a', ttlMs: 5000 });
  c.send({ type: 'reserve', dn: '8000', reservationId: 'x0', callId: 'k', owner: 'sip-a', ttlMs: 5000 });
  c.send({ type: 'confirm', dn: '8000', reservationId: 'x0' });
  c.send({ type: 'reserve', dn: '8001', reservationId: 'y1', callId: 'k', owner: 'sip-b', ttlMs: 5000 });
  const result = c.send({ type: 'releaseByOwner', owner: 'sip-a' });
  t.same(result, { ok: true, type: 'releasedByOwner', released: [{ dn: '8000', reservationId: 'x0' }, { dn: '8002', reservationId: 'x2' }] });
  t.equal(h.sm.getAgent('8000')!.status.state, 'WRAP_UP', 'the call in progress ended');
  t.equal(h.sm.getAgent('8002')!.status.state, 'READY');
  t.equal(h.sm.getAgent('8001')!.status.state, 'RESERVED', "another node's reservation stays");
  t.same(h.sm.reservations().map((r) => r.reservation.reservationId), ['y1']);
});

t.test("releaseByOwner holds the freed agents in WRAP_UP for their grants' orphanHoldMs", async (t) => {
  const h = new ShardHarness();
  const c = h.openClient();
  readyAgent(c, '8100', { wrapUpMs: 1000 });
  readyAgent(c, '8101', { wrapUpMs: 0 });
  readyAgent(c, '8102', { wrapUpMs: 0 });
  c.send({ type: 'reserve', dn: '8100', reservationId: 'a', callId: 'k', owner: 'sip-a', ttlMs: 5000, orphanHoldMs: 4000 });
  c.send({ type: 'confirm', dn: '8100', reservationId: 'a' });
  c.send({ type: 'reserve', dn: '8101', reservationId: 'b', callId: 'k', owner: 'sip-a', ttlMs: 5000, orphanHoldMs: 4000 });
  c.send({ type: 'reserve', dn: '8102', reservationId: 'c', callId: 'k', owner: 'sip-b', ttlMs: 5000 });
  const releasedAtMs = h.nowMs;
  t.match(c.send({ type: 'releaseByOwner', owner: 'sip-a' }), { ok: true, released: [{ dn: '8100' }, { dn: '8101' }] });
  for (const dn of ['8100', '8101']) t.same(h.sm.getAgent(dn)!.status, { state: 'WRAP_UP', wrapUpEndsMs: releasedAtMs + 4000 }, `${dn} held, answered or ringing`);
  t.equal(h.sm.getAgent('8100')!.counters.callsAnswered, 1, 'the answered call still counts');
  t.equal(h.sm.getAgent('8102')!.status.state, 'RESERVED');
  h.nowMs += 4000;
  c.send({ type: 'tick' });
  t.equal(h.sm.getAgent('8101')!.status.state, 'READY', 'READY once the hold is over');
  t.match(validateCommand({ type: 'reserve', dn: '1', reservationId: 'r', callId: 'k', owner: 'o', ttlMs: 5, orphanHoldMs: -1 }), { ok: false, code: 'SHARD_ERR_BAD_COMMAND', reason: /orphanHoldMs/ });
});

t.test('a releaseByOwner logged before the hold moved onto the grant still replays with its holdMs', async (t) => {
  // Nodes of commit 27ccc9e sent the hold on releaseByOwner itself; their log entries must
  // apply as they did then, or a replay would lose an acknowledged hold.
  const h = new ShardHarness();
  const c = h.openClient();
  readyAgent(c, '8200', { wrapUpMs: 0 });
  c.send({ type: 'reserve', dn: '8200', reservationId: 'old', callId: 'k', owner: 'sip-old', ttlMs: 5000 });
  const logged = new TextEncoder().encode(JSON.stringify({ v: 1, s: null, c: { type: 'releaseByOwner', owner: 'sip-old', holdMs: 2500 } }));
  t.match(decodeProposal(logged), { ok: true, proposal: { command: { type: 'releaseByOwner', holdMs: 2500 } } });
  const releasedAtMs = h.nowMs;
  t.match(c.send({ type: 'releaseByOwner', owner: 'sip-old', holdMs: 2500 }), { ok: true, released: [{ dn: '8200' }] });
  t.same(h.sm.getAgent('8200')!.status, { state: 'WRAP_UP', wrapUpEndsMs: releasedAtMs + 2500 });
  // Entries written before holdMs existed decode as a hold of 0; a negative one is refused.
  const older = new TextEncoder().encode(JSON.stringify({ v: 1, s: null, c: { type: 'releaseByOwner', owner: 'x' } }));
  t.match(decodeProposal(older), { ok: true, proposal: { command: { type: 'releaseByOwner', owner: 'x', holdMs: 0 } } });
  t.match(validateCommand({ type: 'releaseByOwner', owner: 'x', holdMs: -1 }), { ok: false, code: 'SHARD_ERR_BAD_COMMAND', reason: /holdMs/ });
});

t.test('logout and deprovision are refused while a reservation is held', async (t) => {
  const h = new ShardHarness();
  const c = h.openClient();
  readyAgent(c, '8500');
  c.send({ type: 'reserve', dn: '8500', reservationId: 'r', callId: 'k', owner: 's', ttlMs: 5000 });
  t.match(c.send({ type: 'logout', dn: '8500' }), { code: 'SHARD_ERR_AGENT_RESERVED' });
  t.match(c.send({ type: 'deprovision', dn: '8500' }), { code: 'SHARD_ERR_AGENT_RESERVED' });
  t.match(c.send({ type: 'notReady', dn: '8500', reason: 'x' }), { code: 'SHARD_ERR_AGENT_RESERVED' });
  c.send({ type: 'release', dn: '8500', reservationId: 'r', outcome: 'failed' });
  t.same(c.send({ type: 'deprovision', dn: '8500' }), { ok: true, type: 'deprovisioned', dn: '8500' });
  t.equal(h.sm.getAgent('8500'), null);
  const last = h.sm.changesSince(h.index - 1).changes;
  t.same(last, [{ index: h.index, dn: '8500', kind: 'deprovision', agent: null }]);
});

t.test('provision updates the profile and keeps state and counters', async (t) => {
  const h = new ShardHarness();
  const c = h.openClient();
  const before = readyAgent(c, '8600');
  const after = agentOf(c.send(provisionCommand('8600', { name: 'Renamed', skills: { support: 80 } })));
  t.equal(after.name, 'Renamed');
  t.same(after.skills, { support: 80 });
  t.same(after.status, before.status);
  t.same(h.sm.listAgents({ skill: 'support', skillLevelMin: 80 }).map((a) => a.dn), ['8600']);
  t.same(h.sm.listAgents({ skill: 'support', skillLevelMin: 81 }), []);
  t.same(h.sm.listAgents({ state: 'READY' }).map((a) => a.dn), ['8600']);
});

t.test('entry time never goes backwards when a new leader has a slower clock', async (t) => {
  const h = new ShardHarness();
  const c = h.openClient();
  readyAgent(c, '8700');
  const t0 = h.nowMs;
  c.send({ type: 'reserve', dn: '8700', reservationId: 'r', callId: 'k', owner: 's', ttlMs: 1000 });
  const late = h.propose({ type: 'expire', dn: '8700', reservationId: 'r' }, null, t0 + 1000);
  t.equal(late.ok, true);
  const back = h.propose({ type: 'tick' }, null, t0 - 50_000);
  t.equal(back.ok, true);
  t.equal(h.sm.timeMs, t0 + 1000, 'time held at the latest entry time');
});

t.test('undecodable entry data is a typed error and changes nothing', async (t) => {
  const h = new ShardHarness();
  const before = h.sm.snapshot();
  const result = h.sm.apply(h.entry(new TextEncoder().encode('{"v":1,"s":null,"c":{"type":"reserve"}}')));
  t.match(result, { ok: false, code: 'SHARD_ERR_BAD_COMMAND' });
  t.match(h.sm.apply(h.entry(new Uint8Array([0xff, 0xfe]))), { ok: false, code: 'SHARD_ERR_BAD_COMMAND' });
  const after = JSON.parse(new TextDecoder().decode(h.sm.snapshot()));
  t.same({ ...after, appliedIndex: 0 }, { ...JSON.parse(new TextDecoder().decode(before)), appliedIndex: 0 });
  t.equal(h.sm.apply({ term: 1, index: h.index + 1, kind: 'noop', timestampMs: h.nowMs, data: new Uint8Array() }), undefined);
});

t.test('a grant that expires unanswered holds its agent in WRAP_UP for its orphanHoldMs', async (t) => {
  const h = new ShardHarness();
  const c = h.openClient();
  readyAgent(c, '8400', { wrapUpMs: 0 });
  readyAgent(c, '8401', { wrapUpMs: 0 });
  const held = agentOf(c.send({ type: 'reserve', dn: '8400', reservationId: 'h', callId: 'k', owner: 's', ttlMs: 1000, orphanHoldMs: 3000 }));
  t.match(held.status, { state: 'RESERVED', reservation: { orphanHoldMs: 3000 } });
  const plain = agentOf(c.send({ type: 'reserve', dn: '8401', reservationId: 'p', callId: 'k', owner: 's', ttlMs: 1000 }));
  t.notOk('orphanHoldMs' in (plain.status as { reservation: object }).reservation, 'a grant without a hold keeps its old shape');
  h.nowMs += 1000;
  t.match(h.propose({ type: 'expire', dn: '8400', reservationId: 'h' }), { ok: true });
  t.same(h.sm.getAgent('8400')!.status, { state: 'WRAP_UP', wrapUpEndsMs: h.nowMs + 3000 }, 'its owner is gone and its phone may hold the call');
  t.match(h.propose({ type: 'expire', dn: '8401', reservationId: 'p' }), { ok: true });
  t.equal(h.sm.getAgent('8401')!.status.state, 'READY', 'no hold asked, none given');
  const old = new TextEncoder().encode(JSON.stringify({ v: 1, s: null, c: { type: 'reserve', dn: '1', reservationId: 'r', callId: 'k', owner: 'o', ttlMs: 5 } }));
  t.match(decodeProposal(old), { ok: true, proposal: { command: { orphanHoldMs: 0 } } }, 'older entries decode with no hold');
});

t.test('quietUntilMs: the leader may skip its timer scans until the next deadline, never past one', async (t) => {
  const h = new ShardHarness();
  const c = h.openClient();
  readyAgent(c, '8300', { wrapUpMs: 2000 });
  t.equal(h.sm.quietUntilMs(h.nowMs), Number.POSITIVE_INFINITY, 'READY agents without contacts: nothing can fall due');
  c.send({ type: 'reserve', dn: '8300', reservationId: 'q', callId: 'k', owner: 's', ttlMs: 5000 });
  t.equal(h.sm.quietUntilMs(h.nowMs), h.nowMs + 5000, 'a reservation TTL');
  c.send({ type: 'confirm', dn: '8300', reservationId: 'q' });
  h.nowMs += 100;
  c.send({ type: 'release', dn: '8300', reservationId: 'q', outcome: 'completed' });
  const wrapUpEndsMs = h.nowMs + 2000;
  t.ok(h.sm.quietUntilMs(h.nowMs) <= wrapUpEndsMs, 'never later than the wrap-up end');
  t.equal(h.sm.quietUntilMs(h.nowMs + 5000), wrapUpEndsMs, 'made exact by a scan once the hint has passed');
  t.same(h.sm.dueTimers(wrapUpEndsMs).map((d) => d.dn), ['8300'], 'and the timer is indeed due then');
  c.send({ type: 'register', dn: '8300', uri: 'sip:a@h', expiresMs: 60_000, q: 1, callId: 'x', cseq: 1 });
  t.ok(h.sm.quietUntilMs(h.nowMs) <= wrapUpEndsMs);
  const restored = new ShardStateMachine();
  restored.restore(h.sm.snapshot());
  t.equal(restored.quietUntilMs(h.nowMs), wrapUpEndsMs, 'a restored machine scans before it trusts a hint');
});
