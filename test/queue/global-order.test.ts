// Proves the cluster-wide queue (DESIGN.md, Queue; issue #21 acceptance) with real
// processes: one shard of three replica processes (which owns the service's queue and
// the agents), two `ringfence sip` processes, callers and agent phones as real SIP UAs
// on loopback.
//
// 1. Callers arrive alternately at both SIP nodes while no agent is READY (each caller's
//    182 Queued, sent once its queue entry committed, before the next caller dials); then
//    agents turn READY one at a time and each READY agent answers exactly one call: the
//    calls are answered in global arrival order (0 inversions), and a SIGKILL of the queue
//    shard's leader halfway changes nothing.
// 2. A caller's CANCEL (487) or early-dialog BYE while queued removes its entry at once,
//    the others keep their order, and ringfence_sip_queue_abandoned_total counts it on the
//    node that held the caller.
// 3. A SIP node is SIGKILLed (not restarted) while it holds queued callers: the shard's
//    leader removes that node's entries when its lease (--lease-ms) runs out (feed records
//    with reason lease-expired), the other node's callers keep their order, and READY
//    agents then answer only those, in order.

import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import t from 'tap';
import { parse as parseYaml, stringify as toYaml } from 'yaml';
import { freePorts } from '../../cluster/local-cluster.js';
import { digestCredentials } from '../../shards/digest-credentials.js';
import type { QueueSnapshot } from '../../shards/rpc/protocol.js';
import { isQueueRecord, type Command, type FeedRecord, type QueueChangeRecord } from '../../shards/types.js';
import { type DialogLeg, uriOf } from '../../sip/node/dialog.js';
import { getHeader, getHeaders } from '../../sip/syntax/index.js';
import type { SipTarget } from '../../sip/transport/index.js';
import { startShardCluster } from '../support/shard-cluster.js';
import { password, readAgent, waitFor } from '../sip/node/harness.js';
import { TestUa, type OutgoingCall } from '../sip/node/test-ua.js';

const SERVICE = '7001';
const leaseMs = 3000;
const cluster = await startShardCluster(t, { shards: 1, replicasPerShard: 3 });
const config = cluster.config;
const shardId = config.shards[0]!.id;
const [udpA, adminA, udpB, adminB] = await freePorts(4);
const doc = parseYaml(readFileSync(cluster.configPath, 'utf8')) as Record<string, unknown>;
doc.sip = [
  { id: 'sipA', udp: `127.0.0.1:${udpA}`, admin: `127.0.0.1:${adminA}` },
  { id: 'sipB', udp: `127.0.0.1:${udpB}`, admin: `127.0.0.1:${adminB}` },
];
doc.services = [{ number: SERVICE, skill: 'sales', minLevel: 0 }];
const configPath = join(cluster.dir, 'sip-cluster.yaml');
writeFileSync(configPath, toYaml(doc), { mode: 0o600 });

const procs = new Map<string, ChildProcess>();
async function startSipProcess(id: string): Promise<void> {
  const proc = spawn(process.execPath, [
    '--import', 'tsx', '--input-type=module', '-e', "import { main } from './cluster/roles/sip.ts'; await main(process.argv.slice(1));",
    '--', '--config', configPath, '--id', id, '--queue-wait-ms', '120000', '--lease-ms', String(leaseMs), '--ring-timeout-ms', '8000',
  ], { stdio: ['ignore', 'pipe', process.env.RINGFENCE_TEST_LOG ? 'inherit' : 'ignore'], env: { ...process.env, RINGFENCE_LOG_LEVEL: process.env.RINGFENCE_TEST_LOG_LEVEL ?? 'warn' } });
  procs.set(id, proc);
  await new Promise<void>((resolve, reject) => {
    createInterface({ input: proc.stdout! }).once('line', () => resolve());
    proc.once('exit', (code) => reject(new Error(`${id} exited ${code}`)));
  });
}
t.teardown(() => { for (const p of procs.values()) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL'); });

const nodeA: SipTarget = { protocol: 'UDP', host: '127.0.0.1', port: udpA! };
const nodeB: SipTarget = { protocol: 'UDP', host: '127.0.0.1', port: udpB! };
const dns = ['8001', '8002', '8003', '8004', '8005', '8006'];
const phones = new Map<string, TestUa>();
const caller = await TestUa.start();
t.teardown(() => caller.close());

// Every queue record of the shard, as the feed delivers them (any replica).
const feed: FeedRecord[] = [];
t.teardown(cluster.client.follow(shardId, 0, (page) => feed.push(...page.changes)));

async function command(dn: string, cmd: Command): Promise<void> {
  const r = await cluster.client.command(dn, cmd, { deadlineMs: 30_000 });
  if (!r.ok) throw new Error(`${cmd.type} ${dn}: ${r.code} ${r.reason}`);
}

async function queueNow(): Promise<string[]> {
  const q = (await cluster.client.read(shardId, { type: 'queue' }, 'linearizable', { deadlineMs: 30_000 })) as QueueSnapshot;
  return q.entries.map((e) => e.owner);
}

/** Places a call and waits for its 182 Queued: its entry has committed, so its place in
 * the arrival order is set before the next caller dials. */
async function queuedCall(via: SipTarget): Promise<OutgoingCall> {
  const call = caller.call(via, SERVICE);
  await waitFor('182 Queued', () => call.provisionals.some((p) => p.status === 182), (x) => x, 20_000);
  return call;
}

/** Makes agents READY one at a time; after each, waits for exactly one more of `calls`
 * to be answered and records which. Calls `midway` after `midwayAfter` answers. */
async function serveOneByOne(calls: readonly OutgoingCall[], agents: readonly string[], midwayAfter: number, midway: () => Promise<void>): Promise<number[]> {
  const answered: number[] = [];
  const done = new Set<number>();
  calls.forEach((c, i) => void c.final.then((res) => { if (res.status === 200) done.add(i); }));
  for (const [k, dn] of agents.entries()) {
    if (k === midwayAfter) await midway();
    await command(dn, { type: 'ready', dn });
    await waitFor(`call answered by ${dn}`, () => done.size, (n) => n === k + 1, 30_000).catch(async (e) => {
      console.error('DEBUG', JSON.stringify(await cluster.client.read(shardId, { type: 'queue' }, 'linearizable')), JSON.stringify(await readAgent(cluster, dn)));
      throw e;
    });
    const next = [...done].find((i) => !answered.includes(i))!;
    answered.push(next);
  }
  return answered;
}

/** The caller's side of the early dialog the 182 created (its To tag), for a BYE. */
function earlyLeg(call: OutgoingCall): DialogLeg {
  const queued = call.provisionals.find((p) => p.status === 182)!;
  return {
    callId: getHeader(call.tx.request, 'Call-ID')!,
    localTag: /;tag=([^;>\s]+)/.exec(getHeader(call.tx.request, 'From')!)![1]!,
    localHeader: getHeader(call.tx.request, 'From')!,
    remoteHeader: getHeader(queued, 'To')!,
    remoteTarget: uriOf(getHeaders(queued, 'Contact')[0] ?? '') ?? call.tx.request.uri,
    routeSet: [],
    localCseq: 1,
  };
}

const inversions = (order: readonly number[]): number => order.reduce((n, x, i) => n + order.slice(i + 1).filter((y) => y < x).length, 0);

t.test('set-up: two SIP node processes, six agents with phones, none READY', async (st) => {
  await cluster.leaderOf(shardId);
  await Promise.all([startSipProcess('sipA'), startSipProcess('sipB')]);
  for (const dn of dns) {
    await command(dn, { type: 'provision', dn, name: `Agent ${dn}`, skills: { sales: 50 }, wrapUpMs: 0, maxNoAnswer: 0, credentials: digestCredentials(dn, config.realm, password(dn)) });
    await command(dn, { type: 'login', dn });
    const ua = await TestUa.start('answer');
    t.teardown(() => ua.close()); // the file's teardown: the phones outlive this subtest
    phones.set(dn, ua);
    // Three replicas on a busy 2-core CI host may still be settling their first leader: a
    // phone retries a REGISTER that got a 5xx (or no answer), as real phones do.
    let status = 0;
    for (let attempt = 1; attempt <= 3 && status !== 200; attempt++) {
      status = (await ua.register(dn === '8001' ? nodeA : nodeB, dn, password(dn), { expires: 600 })).response.status;
      if (status !== 200) st.comment(`${dn}: REGISTER attempt ${attempt} got ${status}`);
      if (status < 500 && status !== 408) break;
    }
    st.equal(status, 200, `${dn} registered`);
  }
});

t.test('answered in global arrival order across both nodes; a queue-shard leader kill changes nothing', async (t) => {
  const via = (i: number): SipTarget => (i % 2 === 0 ? nodeA : nodeB);
  const calls: OutgoingCall[] = [];
  for (let i = 0; i < 6; i++) calls.push(await queuedCall(via(i)));
  t.same(await queueNow(), ['sipA', 'sipB', 'sipA', 'sipB', 'sipA', 'sipB'], 'six entries, alternating owners, in arrival order');
  let killed = '';
  const order = await serveOneByOne(calls, dns, 3, async () => {
    killed = await cluster.leaderOf(shardId);
    await cluster.procs.kill(cluster.hostOf(killed));
  });
  t.ok(killed !== '', `leader ${killed} of the queue's shard was SIGKILLed after three answers`);
  t.not(await cluster.leaderOf(shardId), killed, 'another replica leads');
  t.same(order, [0, 1, 2, 3, 4, 5], 'answered in arrival order');
  t.equal(inversions(order), 0, '0 inversions');
  t.same([...phones.values()].map((p) => p.maxActive), [1, 1, 1, 1, 1, 1], 'each phone got one call, never two');
  t.same(await queueNow(), [], 'answered calls left the queue');
  for (const [i, c] of calls.entries()) {
    await caller.ack(c, via(i));
    t.equal((await caller.bye(c, via(i))).status, 200);
  }
  for (const dn of dns) {
    await waitFor(`${dn} READY`, () => readAgent(cluster, dn), (a) => a.status.state === 'READY', 30_000);
    await command(dn, { type: 'notReady', dn, reason: 'break' });
  }
});

t.test('a caller\'s CANCEL or BYE while queued removes its entry at once, and is counted', async (t) => {
  const metric = async (admin: number): Promise<number> => {
    const text = await (await fetch(`http://127.0.0.1:${admin}/metrics`, { headers: { authorization: `Bearer ${config.tokens.read}` } })).text();
    return Number(/^ringfence_sip_queue_abandoned_total(?:\{[^}]*\})? (\d+)/m.exec(text)?.[1] ?? NaN);
  };
  const [beforeA, beforeB] = [await metric(adminA!), await metric(adminB!)];
  const first = await queuedCall(nodeA);
  const second = await queuedCall(nodeB);
  const third = await queuedCall(nodeA);
  t.same(await queueNow(), ['sipA', 'sipB', 'sipA']);
  caller.cancel(first, nodeA);
  t.equal((await first.final).status, 487, 'CANCEL → 487');
  t.same(await waitFor('the cancelled entry gone', () => queueNow(), (o) => o.length === 2, 10_000), ['sipB', 'sipA'], 'its entry left; the others keep their order');
  // An early-dialog BYE (RFC 3261 §15: the caller may BYE once it has a To tag) abandons too.
  t.equal((await caller.bye({ ...second, leg: earlyLeg(second) }, nodeB)).status, 200);
  t.same(await waitFor('the BYE\'d entry gone', () => queueNow(), (o) => o.length === 1, 10_000), ['sipA']);
  t.equal(await metric(adminA!), beforeA + 1, 'counted on the node that held the CANCELed caller');
  t.equal(await metric(adminB!), beforeB + 1, 'and on the node that held the BYE\'d one');
  caller.cancel(third, nodeA);
  await third.final;
  t.same(await waitFor('queue empty', () => queueNow(), (o) => o.length === 0, 10_000), []);
});

t.test('a SIGKILLed SIP node: its entries leave with its lease, the other node\'s callers are served in order', async (t) => {
  const via = (i: number): SipTarget => (i % 2 === 0 ? nodeA : nodeB);
  const calls: OutgoingCall[] = [];
  for (let i = 0; i < 6; i++) calls.push(await queuedCall(via(i)));
  t.same(await queueNow(), ['sipA', 'sipB', 'sipA', 'sipB', 'sipA', 'sipB']);
  const before = feed.length;
  const invitesBefore = [...phones.values()].reduce((n, p) => n + p.invites.length, 0);
  const killedAtMs = Date.now();
  procs.get('sipA')!.kill('SIGKILL');
  await new Promise((r) => procs.get('sipA')!.once('exit', r));
  const left = await waitFor("sipA's entries gone", () => queueNow(), (owners) => !owners.includes('sipA'), 60_000);
  const goneAfterMs = Date.now() - killedAtMs;
  t.comment(`sipA's entries left the queue ${goneAfterMs} ms after its SIGKILL (lease ${leaseMs} ms)`);
  t.same(left, ['sipB', 'sipB', 'sipB'], "sipB's callers stay, in their order");
  // The feed follows any replica: it may trail the linearizable read a little.
  const removedOf = (): QueueChangeRecord[] => feed.slice(before).filter(isQueueRecord).filter((r) => r.entry === null);
  const removed = await waitFor('the removals on the change feed', removedOf, (rs) => rs.length >= 3, 20_000).catch(() => removedOf());
  t.same(removed.map((r) => r.reason), ['lease-expired', 'lease-expired', 'lease-expired'], 'removed by the lease expiry, in one command');
  t.equal(new Set(removed.map((r) => r.index)).size, 1, 'all three in the same log entry');

  const bCalls = [calls[1]!, calls[3]!, calls[5]!];
  const order = await serveOneByOne(bCalls, dns.slice(0, 3), -1, async () => {});
  t.same(order, [0, 1, 2], "sipB's callers answered in their arrival order");
  t.equal([...phones.values()].reduce((n, p) => n + p.invites.length, 0) - invitesBefore, 3, "no agent was offered one of the dead node's callers");
  for (const [i, c] of bCalls.entries()) {
    await caller.ack(c, nodeB);
    t.equal((await caller.bye(c, nodeB)).status, 200, `call ${i} hung up`);
  }
});
