// Signed event webhooks (sip/node/webhooks.ts) against a real HTTP receiver on loopback
// (port 0). The receiver checks every POST's X-Ringfence-Signature by its own HMAC code
// (not the module's), answers 500 at first and 200 later: the events arrive after the
// retries, in order, none lost while the backlog holds them; a receiver with a wrong
// secret refuses every signature. With the URL failing, a backlog past its bound drops
// the oldest waiting events (never the batch in flight) and counts them. Also: the
// cluster file's `events` section names each bad field.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import t, { type Test } from 'tap';
import { ConfigError, validateClusterConfig, type EventWebhookConfig } from '../../common/config.js';
import { silentLogger } from '../../common/logger.js';
import { EventLog, type LoggedEvent } from '../../sip/node/events.js';
import { EventWebhook, verifySignature } from '../../sip/node/webhooks.js';
import { waitFor } from '../sip/node/harness.js';

const secret = 'whsec-0123456789abcdef';

type Post = { body: string; signature: string | undefined; status: number };

/** A receiver answering `statusFor(n)` to its n-th POST (from 1). */
async function receiver(t: Test, statusFor: (n: number) => number): Promise<{ url: string; posts: Post[]; accepted: LoggedEvent[] }> {
  const posts: Post[] = [];
  const accepted: LoggedEvent[] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const signature = req.headers['x-ringfence-signature'] as string | undefined;
      const status = ownCheck(secret, signature, body) ? statusFor(posts.length + 1) : 401;
      posts.push({ body, signature, status });
      if (status === 200) accepted.push(...(JSON.parse(body) as { events: LoggedEvent[] }).events);
      res.writeHead(status).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, posts, accepted };
}

/** The receiver's check, written as an operator would from the README (not the module's). */
function ownCheck(key: string, header: string | undefined, body: string): boolean {
  const m = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(header ?? '');
  if (m === null || Math.abs(Date.now() / 1000 - Number(m[1])) > 300) return false;
  const want = createHmac('sha256', key).update(`${m[1]}.${body}`).digest();
  return timingSafeEqual(want, Buffer.from(m[2]!, 'hex'));
}

const hookConfig = (url: string, over: Partial<EventWebhookConfig> = {}): EventWebhookConfig => ({ url, secret, batchMax: 3, backlogMax: 100, timeoutMs: 2000, retryMinMs: 20, retryMaxMs: 80, ...over });

t.test('failing at first, then recovering: every event arrives, in order, once, each POST signed', async (t) => {
  const rx = await receiver(t, (n) => (n <= 3 ? 500 : 200));
  const log = new EventLog({ nodeId: 'sipA', retain: 100, now: () => Date.now(), epoch: 'w1' });
  const hook = new EventWebhook(hookConfig(rx.url), { nodeId: 'sipA', log: silentLogger });
  t.teardown(() => hook.close());
  log.subscribe((ev) => hook.push(ev));
  for (let i = 1; i <= 10; i++) log.call({ type: 'call.arrived', callId: `c${i}`, service: '7001' });
  await waitFor('all ten delivered', () => rx.accepted.length, (n) => n >= 10, 10_000);
  t.same(rx.posts.slice(0, 3).map((p) => p.status), [500, 500, 500], 'the first three POSTs failed');
  t.same(rx.accepted.map((e) => e.seq), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 'in order, none lost, none twice');
  t.ok(rx.posts.every((p) => p.status !== 401), 'every POST carried a valid signature');
  t.ok(rx.posts.every((p) => JSON.parse(p.body).events.length <= 3), 'batches of at most batchMax');
  t.ok(rx.posts.slice(0, 4).every((p) => (JSON.parse(p.body) as { events: LoggedEvent[] }).events[0]!.seq === 1), 'each retry starts again at the first event not acknowledged');
  t.ok(rx.posts.every((p) => verifySignature(secret, p.signature, p.body, Math.floor(Date.now() / 1000)) === null), 'the module\'s verifier agrees');
  t.ok(rx.posts.every((p) => verifySignature('whsec-wrong-secret-000', p.signature, p.body, Math.floor(Date.now() / 1000)) === 'signature mismatch'), 'a wrong secret fails verification');
  t.ok(rx.posts.every((p) => verifySignature(secret, p.signature, p.body + ' ', Math.floor(Date.now() / 1000)) === 'signature mismatch'), 'so does a changed body');
  t.equal(verifySignature(secret, rx.posts[0]!.signature, rx.posts[0]!.body, Math.floor(Date.now() / 1000) + 3600), 'timestamp outside the tolerance', 'and an old timestamp (replay)');
  await waitFor('the sender saw the last 200', () => hook.stats.delivered, (n) => n === 10, 10_000);
  t.match(hook.stats, { delivered: 10, failures: 3, dropped: 0, backlog: 0 });
});

t.test('a receiver holding the wrong secret refuses every POST; the events wait, bounded', async (t) => {
  const rx = await receiver(t, () => 200);
  const hook = new EventWebhook(hookConfig(rx.url, { secret: 'whsec-not-the-receivers-one' }), { nodeId: 'sipA', log: silentLogger });
  t.teardown(() => hook.close());
  const log = new EventLog({ nodeId: 'sipA', retain: 100, now: () => Date.now(), epoch: 'w2' });
  log.subscribe((ev) => hook.push(ev));
  log.call({ type: 'call.arrived', callId: 'c1', service: '7001' });
  await waitFor('two refused POSTs', () => rx.posts.length, (n) => n >= 2, 10_000);
  t.ok(rx.posts.every((p) => p.status === 401), 'refused: the signature does not verify');
  t.same(rx.accepted, []);
  t.equal(hook.pending, 1, 'the event still waits');
});

t.test('a backlog past its bound drops the oldest waiting events, counted; the rest arrive in order', async (t) => {
  let up = false;
  const rx = await receiver(t, () => (up ? 200 : 500));
  const hook = new EventWebhook(hookConfig(rx.url, { batchMax: 1, backlogMax: 10 }), { nodeId: 'sipA', log: silentLogger });
  t.teardown(() => hook.close());
  const log = new EventLog({ nodeId: 'sipA', retain: 100, now: () => Date.now(), epoch: 'w3' });
  log.subscribe((ev) => hook.push(ev));
  // In one turn: event 1 is in flight from the first push; 2..25 queue behind it.
  for (let i = 1; i <= 25; i++) log.call({ type: 'call.arrived', callId: `c${i}`, service: '7001' });
  t.equal(hook.stats.dropped, 14, '25 events, one in flight, 10 may wait: 14 dropped');
  t.same([hook.backlog, hook.pending], [10, 11]);
  await waitFor('a failed POST', () => rx.posts.length, (n) => n >= 1, 10_000);
  up = true;
  await waitFor('the ten delivered', () => rx.accepted.length, (n) => n >= 10, 10_000);
  await waitFor('the eleven delivered', () => rx.accepted.length, (n) => n >= 11, 10_000);
  t.same(rx.accepted.map((e) => e.seq), [1, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25], 'the one in flight, then the newest ten, in order');
  // The receiver has them before the sender has read its 200s.
  await waitFor('the sender saw the last 200', () => hook.stats.delivered, (n) => n === 11, 10_000);
  t.same(hook.stats, { delivered: 11, batches: 11, failures: hook.stats.failures, dropped: 14, backlog: 0 });
});

t.test('the cluster file\'s events section: defaults, and each bad value names its field', async (t) => {
  const base = {
    secret: randomBytes(32).toString('hex'), tokens: { read: randomBytes(24).toString('hex'), admin: randomBytes(24).toString('hex') },
    shards: [{ id: 's1', replicas: [{ id: 'r1', raft: '127.0.0.1:1', client: '127.0.0.1:2', admin: '127.0.0.1:3', data: '/tmp/x' }] }],
  };
  const ok = validateClusterConfig({ ...base, events: { webhooks: [{ url: 'http://127.0.0.1:9/hook', secret }] } });
  t.same(ok.events, { retain: 10_000, webhooks: [{ url: 'http://127.0.0.1:9/hook', secret, batchMax: 50, backlogMax: 10_000, timeoutMs: 5000, retryMinMs: 500, retryMaxMs: 60_000 }] });
  t.equal(validateClusterConfig(base).events, undefined, 'absent: the node\'s defaults');
  const fieldOf = (events: unknown): string => {
    try {
      validateClusterConfig({ ...base, events });
    } catch (err) {
      if (err instanceof ConfigError) return err.field;
      throw err;
    }
    return '(accepted)';
  };
  t.equal(fieldOf({ webhooks: [{ url: 'ftp://x', secret }] }), 'events.webhooks[0].url');
  t.equal(fieldOf({ webhooks: [{ url: 'http://x/h', secret: 'short' }] }), 'events.webhooks[0].secret');
  t.equal(fieldOf({ webhooks: [{ url: 'http://x/h' }] }), 'events.webhooks[0].secret');
  t.equal(fieldOf({ webhooks: [{ url: 'http://x/h', secret, batchMax: 0 }] }), 'events.webhooks[0].batchMax');
  t.equal(fieldOf({ webhooks: [{ url: 'http://x/h', secret, batchMax: 20, backlogMax: 10 }] }), 'events.webhooks[0].backlogMax');
  t.equal(fieldOf({ webhooks: [{ url: 'http://x/h', secret, retryMinMs: 500, retryMaxMs: 100 }] }), 'events.webhooks[0].retryMaxMs');
  t.equal(fieldOf({ webhooks: [{ url: 'http://x/h', secret, sekret: 1 }] }), 'events.webhooks[0].sekret');
  t.equal(fieldOf({ retain: 0 }), 'events.retain');
  t.equal(fieldOf({ retians: 5 }), 'events.retians');
  t.equal(fieldOf('yes'), 'events');
});
