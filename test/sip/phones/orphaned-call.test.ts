// Proves, with real OS processes, that an agent phone does not hold a call forever when
// the SIP node carrying it is SIGKILLed: a cluster of one shard replica, one SIP node and
// one `ringfence phones` process (cluster/sipp/call-cluster.ts) with a 1 s dialog probe
// (--dialog-probe-ms; a local cluster's children inherit no RINGFENCE_*); a caller dials the
// service and the phone answers. While the node lives, the probes keep the call up; once
// the node is killed (and not restarted) the phone's OPTIONS goes unanswered, and the
// phone ends the call — its record says `ended` / `dialog-lost` and its status line shows
// no active call — within a generous deadline (probe interval + timer F of 32 s + margin).
import t from 'tap';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseRecord, type CallEvent } from '../../../sip/phones/call-recorder.js';
import { SERVICE_NUMBER, startCallCluster } from '../../../cluster/sipp/call-cluster.js';
import { TestCaller } from './test-caller.js';

const probeMs = 1000;
const endDeadlineMs = 90_000;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const events = (path: string): CallEvent[] => (existsSync(path) ? parseRecord(readFileSync(path, 'utf8')) : []);

t.test('a phone ends the call of a SIGKILLed SIP node', { timeout: 240_000 }, async (tt) => {
  const dir = mkdtempSync(join(tmpdir(), 'ringfence-orphan-'));
  tt.teardown(() => {
    if (!process.env.RINGFENCE_KEEP_TEST_DATA) rmSync(dir, { recursive: true, force: true });
  });
  const cluster = await startCallCluster({
    dir, shards: 1, sipNodes: 1, agents: [{ dn: '4001', behaviour: 'answer' }],
    answerAfterMs: 50, ringTimeoutMs: 5000, queueWaitMs: 10_000, wrapUpMs: 0,
    phonesFlags: ['--dialog-probe-ms', String(probeMs)],
  });
  // Stops (SIGTERM, then SIGKILL) every child the cluster started, whatever the outcome.
  tt.teardown(() => cluster.stop());
  const caller = await TestCaller.start();
  tt.teardown(() => caller.close());

  const [host, portText] = cluster.sipTargets[0]!.split(':');
  const port = Number(portText);
  const call = await caller.invite(`sip:${SERVICE_NUMBER}@${host}:${port}`, { host: host!, port });
  tt.equal(call.final.status, 200, 'the agent phone answered through the SIP node');
  const answered = events(cluster.recordPath).find((e) => e.ev === 'answered' && e.dn === '4001');
  tt.ok(answered, 'the phone recorded the answer');
  const agentCallId = answered!.callId;

  // Several probe intervals with the node alive: each probe is answered, the call stays.
  await sleep(4 * probeMs);
  tt.same(events(cluster.recordPath).filter((e) => e.ev === 'ended'), [], 'a live node\'s dialog is kept');
  const before = await cluster.phonesStatus();
  tt.ok(Number(before.dialogProbes) >= 2, `the call was probed while the node lived (${before.dialogProbes} probes)`);
  tt.equal(before.activeCalls, 1);

  await cluster.procs.kill('sip1', 'SIGKILL');
  const deadline = Date.now() + endDeadlineMs;
  let ended: CallEvent | undefined;
  while (ended === undefined && Date.now() < deadline) {
    await sleep(250);
    ended = events(cluster.recordPath).find((e) => e.ev === 'ended' && e.callId === agentCallId);
  }
  tt.ok(ended, `the phone ended the orphaned call within ${endDeadlineMs / 1000} s of the kill`);
  tt.match(ended, { ev: 'ended', dn: '4001', reason: 'dialog-lost', status: 408 }, 'ended as dialog-lost after an unanswered probe');
  const status = await cluster.phonesStatus();
  tt.match(status, { activeCalls: 0, dialogsLost: 1, doubleOffers: 0 }, 'the phones process holds no call any more');
});
