// Proves the SIPp scenario files in this folder are valid and do what their headers say,
// by running real SIPp processes against each other and against our own UAs on loopback:
// caller.xml → agent-answer.xml (with RTP played and echoed) completes every call;
// caller.xml ACKs again a late copy of the 200 to its INVITE that lands after its BYE;
// caller.xml → agent-busy.xml ends every call on a clean 486 (counted as a final response,
// not a timeout or unexpected message); agent-noanswer.xml rings and turns a CANCEL into
// 200 + 487; register.xml registers DNs from an injection file through a digest challenge;
// and caller.xml calls our agent phones (sip/phones) directly. Without sipp the tests skip,
// unless REQUIRE_SIPP=1, which makes a missing sipp a failure.
import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createSocket } from 'node:dgram';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePorts } from '../../cluster/local-cluster.js';
import { PhonesUa } from '../../sip/phones/ua.js';
import { getHeader } from '../../sip/syntax/header-access.js';
import { parseMessage } from '../../sip/syntax/parser.js';
import { buildResponse } from '../../sip/syntax/response.js';
import { serializeMessage } from '../../sip/syntax/serializer.js';
import { freeSippMediaPort, needSipp, scenarioPath, startSippFor } from '../../cluster/sipp/driver.js';
import { TestCaller } from '../sip/phones/test-caller.js';
import { TestRegistrar } from '../sip/phones/test-registrar.js';

const dir = mkdtempSync(join(tmpdir(), 'ringfence-sipp-'));
t.teardown(() => {
  if (!process.env.RINGFENCE_KEEP_TEST_DATA) rmSync(dir, { recursive: true, force: true });
});
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

t.test('caller.xml against agent-answer.xml: every call answered, RTP played and echoed', async (tt) => {
  if (!needSipp(tt)) return;
  const [uasPort, uacPort] = await freePorts(2);
  const uasRtp = await freeSippMediaPort();
  const uacRtp = await freeSippMediaPort();
  startSippFor(tt, { scenario: scenarioPath('agent-answer'), dir: join(dir, 'answer-uas'), localPort: uasPort!, mediaPort: uasRtp, rtpEcho: true, set: { ring_ms: 50 } });
  await sleep(300);
  const uac = startSippFor(tt, {
    scenario: scenarioPath('caller'), dir: join(dir, 'answer-uac'), remote: `127.0.0.1:${uasPort}`, localPort: uacPort!, mediaPort: uacRtp,
    service: '5000', rate: 20, maxCalls: 20, timeoutS: 60, set: { hold_min_ms: 300, hold_spread_ms: 300, rtp: 1 },
  });
  const r = await uac.done;
  tt.equal(r.exitCode, 0, `sipp exit 0 (stderr: ${r.stderr.slice(-500)}; errors: ${r.errorLog})`);
  tt.equal(r.stats?.successful, 20);
  tt.equal(r.stats?.failed, 0);
  tt.equal(r.finalFailuresTotal, 0);
  tt.equal(r.unexpected, 0);
  tt.equal(r.rttMs.length, 20, 'one INVITE→200 time per call');
  tt.ok(r.rttMs.every((ms) => ms >= 50), 'each includes the 50 ms ring');
});

t.test('caller.xml ACKs a 200 to its INVITE that arrives again after its BYE (a late ACK, not a failed call)', async (tt) => {
  if (!needSipp(tt)) return;
  // What a stall does (a frozen caller, a busy host): the UAS's timer G resends its 200
  // before our ACK reaches it, and that copy lands after the caller has sent BYE. This
  // UAS plays it out on every call: it sends its 200 to the INVITE once more just before
  // it answers the BYE. A caller that took that copy for the BYE's answer failed the call
  // (3 of 1,000 at 200 calls/s in a bench run with 40-51% of the CPU stolen).
  const calls = 5;
  const uas = createSocket('udp4');
  tt.teardown(() => uas.close());
  await new Promise<void>((resolve) => uas.bind(0, '127.0.0.1', resolve));
  const okByCallId = new Map<string, Buffer>();
  const acks = new Map<string, number>();
  uas.on('message', (bytes, from) => {
    const parsed = parseMessage(bytes);
    if (!parsed.ok || parsed.message.kind !== 'request') return;
    const req = parsed.message;
    const callId = getHeader(req, 'Call-ID') ?? '';
    const reply = (b: Buffer): void => void uas.send(b, from.port, from.address);
    if (req.method === 'INVITE') {
      const ok = serializeMessage(buildResponse(req, 200, 'OK', { toTag: `uas${okByCallId.size}`, headers: [{ name: 'Contact', value: `<sip:uas@127.0.0.1:${uas.address().port}>` }] }));
      okByCallId.set(callId, ok);
      reply(ok);
    } else if (req.method === 'ACK') {
      acks.set(callId, (acks.get(callId) ?? 0) + 1);
    } else if (req.method === 'BYE') {
      const ok = okByCallId.get(callId);
      if (ok !== undefined) reply(ok);
      reply(serializeMessage(buildResponse(req, 200, 'OK')));
    }
  });
  const [uacPort] = await freePorts(1);
  const uac = startSippFor(tt, {
    scenario: scenarioPath('caller'), dir: join(dir, 'reack-uac'), remote: `127.0.0.1:${uas.address().port}`, localPort: uacPort!, mediaPort: await freeSippMediaPort(),
    service: '5000', rate: 10, maxCalls: calls, timeoutS: 60, set: { hold_min_ms: 0, hold_spread_ms: 0 },
  });
  const r = await uac.done;
  tt.equal(r.stats?.successful, calls, `every call completed (errors: ${r.errorLog})`);
  tt.equal(r.stats?.failed, 0);
  tt.equal(r.unexpected, 0);
  tt.same([...acks.values()], Array(calls).fill(2), 'each call ACKed its 200 twice: once on the answer, once on the copy');
});

t.test('caller.xml against agent-busy.xml: every call ends on a clean 486', async (tt) => {
  if (!needSipp(tt)) return;
  const [uasPort, uacPort] = await freePorts(2);
  const uacRtp = await freeSippMediaPort();
  startSippFor(tt, { scenario: scenarioPath('agent-busy'), dir: join(dir, 'busy-uas'), localPort: uasPort! });
  await sleep(300);
  const uac = startSippFor(tt, {
    scenario: scenarioPath('caller'), dir: join(dir, 'busy-uac'), remote: `127.0.0.1:${uasPort}`, localPort: uacPort!, mediaPort: uacRtp,
    service: '5000', rate: 20, maxCalls: 10, timeoutS: 60, set: { hold_min_ms: 0, hold_spread_ms: 0 },
  });
  const r = await uac.done;
  tt.equal(r.stats?.failed, 0, `no SIPp failures (errors: ${r.errorLog})`);
  tt.equal(r.stats?.failedTimeouts, 0);
  tt.same(r.finalFailures, { 486: 10 }, `ten clean 486 final responses (counts: ${JSON.stringify(r.counts)})`);
  tt.equal(r.unexpected, 0);
  tt.equal(r.rttMs.length, 0, 'no call reached a 200');
});

t.test('agent-noanswer.xml rings, then answers CANCEL with 200 and the INVITE with 487', async (tt) => {
  if (!needSipp(tt)) return;
  const [uasPort] = await freePorts(1);
  startSippFor(tt, { scenario: scenarioPath('agent-noanswer'), dir: join(dir, 'noanswer-uas'), localPort: uasPort! });
  await sleep(300);
  const caller = await TestCaller.start();
  tt.teardown(() => caller.close());
  let cancel: Promise<number> | null = null;
  const d = await caller.invite(`sip:1001@127.0.0.1:${uasPort}`, { host: '127.0.0.1', port: uasPort! }, {
    onProvisional: (status, tx) => {
      if (status === 180 && cancel === null) cancel = caller.cancel(tx);
    },
  });
  tt.equal(d.final.status, 487);
  tt.equal(await cancel, 200);
});

t.test('register.xml registers each DN through a digest challenge', async (tt) => {
  if (!needSipp(tt)) return;
  const dns = ['1001', '1002', '1003'];
  const registrar = await TestRegistrar.start({ realm: 'ringfence', passwords: new Map(dns.map((d) => [d, `pw-${d}`])), algorithms: ['MD5'] });
  tt.teardown(() => registrar.close());
  for (const dn of dns) {
    const [regPort] = await freePorts(1);
    const reg = startSippFor(tt, {
      scenario: scenarioPath('register'), dir: join(dir, `register-${dn}`), remote: `127.0.0.1:${registrar.port}`, localPort: regPort!,
      service: dn, maxCalls: 1, timeoutS: 30, keys: { contact_host: '127.0.0.1', contact_port: 47000, expires: 120 }, extra: ['-au', dn, '-ap', `pw-${dn}`],
    });
    const r = await reg.done;
    tt.equal(r.stats?.successful, 1, `${dn} registered (errors: ${r.errorLog})`);
  }
  tt.same([...registrar.bindings.keys()].sort(), dns);
  for (const dn of dns) tt.equal(registrar.bindings.get(dn)?.contact, `sip:${dn}@127.0.0.1:47000`);
  tt.equal(registrar.challenges.refused, 0);
});

t.test('caller.xml calls our agent phones directly: answered, held, BYE', async (tt) => {
  if (!needSipp(tt)) return;
  const registrar = await TestRegistrar.start({ realm: 'ringfence', passwords: new Map([['1001', 'pw-1001']]) });
  tt.teardown(() => registrar.close());
  const ua = await PhonesUa.start({
    host: '127.0.0.1', answerAfterMs: 20, expiresS: 60, prefer: 'SHA-256',
    phones: [{ dn: '1001', behaviour: 'answer', password: 'pw-1001', registrar: { protocol: 'UDP', host: '127.0.0.1', port: registrar.port }, domain: 'ringfence' }],
  });
  tt.teardown(() => ua.stop({ unregister: false }));
  await ua.allRegistered();
  const [uacPort] = await freePorts(1);
  const uacRtp = await freeSippMediaPort();
  const uac = startSippFor(tt, {
    scenario: scenarioPath('caller'), dir: join(dir, 'phones-uac'), remote: `127.0.0.1:${ua.port}`, localPort: uacPort!, mediaPort: uacRtp,
    service: '1001', rate: 10, maxCalls: 8, limit: 1, timeoutS: 60, set: { hold_min_ms: 200, hold_spread_ms: 0, rtp: 1 },
  });
  const r = await uac.done;
  tt.equal(r.stats?.successful, 8, `every call completed (errors: ${r.errorLog})`);
  tt.equal(r.stats?.failed, 0);
  tt.equal(r.finalFailuresTotal, 0);
  const s = ua.status();
  tt.equal(s.invites, 8);
  tt.equal(s.answered, 8);
  tt.equal(s.doubleOffers, 0, 'one call at a time: never a double offer');
  tt.equal(s.activeCalls, 0, 'every call ended by BYE');
  tt.ok(s.rtpEchoed > 0, 'RTP from SIPp reached the phone and was echoed');
});
