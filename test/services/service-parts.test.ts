// The pure parts of per-service routing, without sockets: the overflow decision
// (service-overflow.ts) for each cause and target, the hop bound and an undefined target;
// the service directory (service-directory.ts): the file's definitions stand in until the
// replicated one is seen, a deletion hides the file's, older records and re-reads never
// undo newer ones; the router's skill-ranked order (highest level, ties by longest idle)
// chosen per request over the router's own strategy; the queue view's choice of service
// by priority, then by the longest wait; and a claim pass over several READY agents
// proposing their claims in the service's strategy order (the shard gives the oldest
// entry to the first claim it applies).
import t from 'tap';
import { serviceDefinition, type ServiceDefinition } from '../../common/config.js';
import type { Agent, QueueChangeRecord, QueueEntry } from '../../shards/types.js';
import { silentLogger } from '../../common/logger.js';
import { QueueView } from '../../sip/node/queue.js';
import { QueuedCalls } from '../../sip/node/queued-calls.js';
import { AgentView, Router, strategyOrder } from '../../sip/node/router.js';
import { ServiceDirectory } from '../../sip/node/service-directory.js';
import { overflowAction, overflowHopsMax } from '../../sip/node/service-overflow.js';

const def = (number: string, over: Partial<ServiceDefinition> = {}): ServiceDefinition => ({ ...serviceDefinition({ number, skill: 'sales', minLevel: 0 }), ...over });

t.test('overflow: final status with a reason, another service, the hop bound, no target', async (t) => {
  const x = def('2');
  const lookup = (n: string): ServiceDefinition | undefined => (n === '2' ? x : undefined);
  t.same(overflowAction(def('1', { overflow: { status: 486 } }), 'queue-full', 0, lookup), { type: 'end', outcome: 'queue-full', status: 486, reason: 'Busy Here (queue full)' });
  t.same(overflowAction(def('1', { overflow: { status: 503 } }), 'max-wait', 0, lookup), { type: 'end', outcome: 'queue-timeout', status: 503, reason: 'Service Unavailable (maximum wait reached)' });
  t.same(overflowAction(def('1', { overflow: { service: '2' } }), 'max-wait', 0, lookup), { type: 'move', to: x });
  t.match(overflowAction(def('1', { overflow: { service: '2' } }), 'max-wait', overflowHopsMax, lookup), { type: 'end', status: 480, reason: /overflowed 3 times/ });
  t.match(overflowAction(def('1', { overflow: { service: '9' } }), 'queue-full', 0, lookup), { type: 'end', status: 480, reason: /overflow service 9 is not defined/ });
  t.same(overflowAction(def('1'), 'queue-full', 0, lookup), { type: 'end', outcome: 'queue-full', status: 503, reason: 'Service Unavailable' }, 'no overflow: the old answers');
  t.same(overflowAction(undefined, 'max-wait', 0, lookup), { type: 'end', outcome: 'queue-timeout', status: 480, reason: 'Temporarily Unavailable' });
});

t.test('directory: file stands in until seen; deletes hide it; older records never win', async (t) => {
  const d = new ServiceDirectory([{ number: '1', skill: 'sales', minLevel: 0 }]);
  t.equal(d.get('1')?.strategy, null, 'the file\'s until the replicated one is seen');
  t.ok(d.apply('s1', '1', def('1', { strategy: 'skill-ranked', priority: 5, ringTimeoutMs: 2000 }), 10));
  t.equal(d.get('1')?.strategy, 'skill-ranked');
  t.equal(d.priorityOf('1'), 5);
  t.equal(d.ringTimeoutMsOf('1', 15_000), 2000);
  t.equal(d.maxWaitMsOf('1', 60_000), 60_000, 'null: the node\'s');
  t.notOk(d.apply('s1', '1', def('1', { strategy: 'round-robin' }), 9), 'an older record is ignored');
  d.resync('s1', [def('1', { strategy: 'round-robin' })], 8);
  t.equal(d.get('1')?.strategy, 'skill-ranked', 'an older re-read too');
  d.apply('s1', '1', null, 11);
  t.equal(d.get('1'), undefined, 'deleted: not even the file\'s');
  d.apply('s1', '2', def('2'), 12);
  d.resync('s1', [], 13);
  t.equal(d.get('2'), undefined, 'a newer re-read without it: deleted');
  t.equal(d.priorityOf('2'), 0);
});

const agent = (dn: string, level: number, readySinceMs: number): Agent => ({
  dn, name: dn, skills: { sales: level }, wrapUpMs: 0, maxNoAnswer: 0, credentials: null,
  status: { state: 'READY', readySinceMs }, contacts: [{ uri: `sip:${dn}@127.0.0.1`, expiresAtMs: 10_000_000, q: 1, callId: 'c', cseq: 1 }],
  counters: { callsAnswered: 0, talkTimeMs: 0, missedOffers: 0, consecutiveNoAnswers: 0, lastCallEndMs: null }, version: 1,
});

t.test('router: skill-ranked per request, ties by longest idle; the router\'s own otherwise', async (t) => {
  const view = new AgentView();
  for (const a of [agent('1001', 10, 100), agent('1002', 90, 300), agent('1003', 90, 200), agent('1004', 50, 50)]) view.update(a.dn, a, 1);
  const req = { skill: 'sales', minLevel: 0, exclude: new Set<string>(), nowMs: 1000 };
  t.equal(new Router(view, 'longest-idle', 0).pick({ ...req, strategy: 'skill-ranked' }), '1003', 'level 90, idle longer than the other 90');
  t.equal(new Router(view, 'longest-idle', 0).pick({ ...req, strategy: null }), '1004', 'null: the router\'s longest-idle');
  t.equal(new Router(view, 'skill-ranked', 0).pick(req), '1003', 'the node\'s --strategy skill-ranked');
  t.equal(new Router(view, 'longest-idle', 0).pick({ ...req, strategy: 'skill-ranked', exclude: new Set(['1003', '1002']) }), '1004', 'then the 50');
});

t.test('queue view: a READY agent is claimed for the higher priority, then the longest wait', async (t) => {
  const q = new QueueView();
  const entry = (service: string, callId: string, at: number): QueueEntry => ({ service, callId, owner: 'sipA', skill: 'sales', minLevel: 0, enqueuedIndex: at, enqueuedAtMs: at, claim: null, passed: [] });
  const rec = (e: QueueEntry): QueueChangeRecord => ({ index: e.enqueuedIndex, kind: 'queue', service: e.service, callId: e.callId, entry: e, reason: 'enqueued' });
  q.apply('s1', rec(entry('low', 'a', 1)));
  q.apply('s1', rec(entry('high', 'b', 2)));
  q.apply('s1', rec(entry('also-low', 'c', 3)));
  const a = agent('1001', 50, 0);
  t.equal(q.serviceToClaim(a, 10), 'low', 'equal priority: the longest waiting');
  const priority = (s: string): number => (s === 'high' ? 10 : 0);
  t.equal(q.serviceToClaim(a, 10, priority), 'high', 'the higher priority though it came later');
});

t.test('a claim pass proposes claims in the service\'s strategy order', async (t) => {
  const view = new AgentView();
  for (const a of [agent('1001', 10, 100), agent('1002', 90, 300), agent('1003', 50, 200)]) view.update(a.dn, a, 1);
  const queues = new QueueView();
  const e: QueueEntry = { service: 'svc', callId: 'x', owner: 'sipB', skill: 'sales', minLevel: 0, enqueuedIndex: 1, enqueuedAtMs: 1, claim: null, passed: [] };
  queues.apply('s1', { index: 1, kind: 'queue', service: 'svc', callId: 'x', entry: e, reason: 'enqueued' });
  const claimsOf = (strategy: 'skill-ranked' | 'longest-idle'): string[] => {
    const claims: string[] = [];
    const q = new QueuedCalls({
      nodeId: 'sipA', view, queues, log: silentLogger, now: () => 1000, claimTtlMs: () => 5000,
      timers: { now: () => 0, setTimer: () => ({ timerId: 0 }), clearTimer: () => undefined },
      shards: { command: async (_key, c) => { if (c.type === 'claim') claims.push(c.dn); return { ok: true, type: 'claimed', service: 'svc', entry: null }; } },
      onClaimed: () => false, onEntryLost: () => undefined,
      agentOrder: () => strategyOrder(strategy, 'sales'),
    });
    q.serveAll();
    return claims;
  };
  t.same(claimsOf('skill-ranked'), ['1002', '1003', '1001'], 'highest level first');
  t.same(claimsOf('longest-idle'), ['1001', '1003', '1002'], 'longest idle first');
});
