// Proves the agent phones (sip/phones) behave as real SIP user agents over UDP sockets on
// loopback: each phone registers its own DN through a digest challenge (SHA-256 preferred,
// MD5 when that is all that is offered) against an independent test registrar; a phone
// that answers rings, answers with an SDP answer, is ACKed, echoes RTP back to its
// source and ends on BYE; a second INVITE during a call is refused 486 and recorded as a
// double offer; busy phones answer 486; a ringing no-answer phone ends on CANCEL with
// 487. Everything is asserted from what crossed the sockets and from the phones' record.
import t, { type Test } from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { getHeader } from '../../../sip/syntax/index.js';
import { parseRecord } from '../../../sip/phones/call-recorder.js';
import { PhonesUa } from '../../../sip/phones/ua.js';
import type { Behaviour } from '../../../sip/phones/phone-spec.js';
import { TestRegistrar } from './test-registrar.js';
import { rtpRoundTrip, sdpAudioPort, TestCaller } from './test-caller.js';
import { tempDir } from '../../support/temp-dir.js';

const dir = tempDir(t, 'phones');

async function setup(tt: Test, spec: Record<string, Behaviour>, algorithms?: string[], answerAfterMs = 50) {
  const passwords = new Map(Object.keys(spec).map((dn) => [dn, `secret-${dn}`]));
  const registrar = await TestRegistrar.start({ realm: 'ringfence', passwords, grantS: 60, ...(algorithms ? { algorithms } : {}) });
  tt.teardown(() => registrar.close());
  const recordPath = join(dir, `record-${Math.random().toString(16).slice(2)}.jsonl`);
  const ua = await PhonesUa.start({
    host: '127.0.0.1',
    answerAfterMs,
    expiresS: 60,
    prefer: 'SHA-256',
    recordPath,
    phones: Object.entries(spec).map(([dn, behaviour]) => ({ dn, behaviour, password: `secret-${dn}`, registrar: { protocol: 'UDP' as const, host: '127.0.0.1', port: registrar.port }, domain: `127.0.0.1:${registrar.port}` })),
  });
  tt.teardown(() => ua.stop({ unregister: false }));
  const caller = await TestCaller.start();
  tt.teardown(() => caller.close());
  await ua.allRegistered();
  return { registrar, ua, caller, recordPath };
}

t.test('every phone registers its DN through the digest challenge', async (tt) => {
  const { registrar, ua } = await setup(tt, { '1001': 'answer', '1002': 'busy', '1003': 'no-answer' });
  tt.equal(ua.registeredCount(), 3);
  tt.same([...registrar.bindings.keys()].sort(), ['1001', '1002', '1003']);
  for (const [dn, b] of registrar.bindings) {
    tt.equal(b.contact, `sip:${dn}@127.0.0.1:${ua.port}`, `${dn} bound to its own contact`);
    tt.equal(b.algorithm, 'SHA-256', 'SHA-256 preferred when offered');
  }
  tt.equal(registrar.challenges.sent, 3, 'one challenge per phone');
  tt.equal(registrar.challenges.refused, 0);
});

t.test('MD5 is used when it is the only algorithm offered; a wrong password never binds', async (tt) => {
  const { registrar } = await setup(tt, { '2001': 'answer' }, ['MD5']);
  tt.equal(registrar.bindings.get('2001')?.algorithm, 'MD5');
  const passwords = new Map([['2002', 'right']]);
  const strict = await TestRegistrar.start({ realm: 'ringfence', passwords });
  tt.teardown(() => strict.close());
  const errors: string[] = [];
  const ua = await PhonesUa.start({
    host: '127.0.0.1', answerAfterMs: 0, expiresS: 60, prefer: 'MD5',
    phones: [{ dn: '2002', behaviour: 'answer', password: 'wrong', registrar: { protocol: 'UDP', host: '127.0.0.1', port: strict.port }, domain: 'x' }],
    onError: (_dn, err) => errors.push(err.code),
  });
  tt.teardown(() => ua.stop({ unregister: false }));
  while (errors.length === 0) await new Promise((r) => setTimeout(r, 20));
  tt.same(errors, ['PHONES_ERR_AUTH_REJECTED']);
  tt.equal(strict.bindings.size, 0);
  tt.equal(ua.registeredCount(), 0);
});

t.test('a call: 180, 200 with an SDP answer, RTP echoed, second INVITE is a double offer, BYE ends it', async (tt) => {
  const { ua, caller, recordPath } = await setup(tt, { '1001': 'answer' });
  const target = { host: '127.0.0.1', port: ua.port };
  const d = await caller.invite(`sip:1001@127.0.0.1:${ua.port}`, target);
  tt.same(d.provisional.filter((s) => s !== 100), [180]);
  tt.equal(d.final.status, 200);
  tt.equal(getHeader(d.final, 'Content-Type'), 'application/sdp');
  const body = Buffer.from(d.final.body).toString('utf8');
  tt.match(body, /m=audio \d+ RTP\/AVP 0 101/, 'PCMU chosen (first offered) plus telephone-event');
  const rtpPort = sdpAudioPort(d.final.body);
  tt.equal(rtpPort, ua.rtpPort('1001'));
  tt.equal(await rtpRoundTrip('127.0.0.1', rtpPort, 50), 50, 'all 50 RTP packets echoed back to their source');

  const second = await caller.invite(`sip:1001@127.0.0.1:${ua.port}`, target);
  tt.equal(second.final.status, 486, 'a phone on a call refuses the next one');

  tt.equal(await caller.bye(d), 200);
  const third = await caller.invite(`sip:1001@127.0.0.1:${ua.port}`, target);
  tt.equal(third.final.status, 200, 'free again after BYE');
  tt.equal(await caller.bye(third), 200);

  const rec = parseRecord(readFileSync(recordPath, 'utf8'));
  const invites = rec.filter((e) => e.ev === 'invite');
  tt.equal(invites.length, 3);
  tt.same(invites.map((e) => e.ev === 'invite' && e.doubleOffer), [false, true, false]);
  tt.equal(ua.status().doubleOffers, 1, 'the double offer is counted');
  tt.ok(rec.some((e) => e.ev === 'confirmed' && e.callId === d.callId), 'ACK reached the phone');
  tt.ok(rec.some((e) => e.ev === 'ended' && e.callId === d.callId && e.reason === 'bye'));
});

t.test('busy phones answer 486; no-answer phones ring until CANCEL, then 487', async (tt) => {
  const { ua, caller, recordPath } = await setup(tt, { '1002': 'busy', '1003': 'no-answer' });
  const target = { host: '127.0.0.1', port: ua.port };
  const busy = await caller.invite(`sip:1002@127.0.0.1:${ua.port}`, target);
  tt.equal(busy.final.status, 486);
  let cancelStatus: Promise<number> | null = null;
  const ringing = await caller.invite(`sip:1003@127.0.0.1:${ua.port}`, target, {
    onProvisional: (status, tx) => {
      if (status === 180 && cancelStatus === null) cancelStatus = caller.cancel(tx);
    },
  });
  tt.equal(ringing.final.status, 487, 'INVITE ends 487 Request Terminated');
  tt.equal(await cancelStatus, 200, 'CANCEL answered 200');
  const rec = parseRecord(readFileSync(recordPath, 'utf8'));
  tt.ok(rec.some((e) => e.ev === 'rejected' && e.dn === '1002' && e.status === 486));
  tt.ok(rec.some((e) => e.ev === 'ended' && e.dn === '1003' && e.reason === 'cancel'));
  tt.equal(ua.status().doubleOffers, 0);
  tt.equal(ua.status().activeCalls, 0);
});

t.test('a binding is refreshed before it expires, reusing the nonce with a rising nonce count', async (tt) => {
  const passwords = new Map([['1005', 'secret-1005']]);
  const registrar = await TestRegistrar.start({ realm: 'ringfence', passwords, grantS: 2 });
  tt.teardown(() => registrar.close());
  const ua = await PhonesUa.start({
    host: '127.0.0.1', answerAfterMs: 0, expiresS: 60, prefer: 'SHA-256',
    phones: [{ dn: '1005', behaviour: 'answer', password: 'secret-1005', registrar: { protocol: 'UDP', host: '127.0.0.1', port: registrar.port }, domain: 'ringfence' }],
  });
  tt.teardown(() => ua.stop({ unregister: false }));
  await ua.allRegistered();
  // Granted 2 s: refreshes come every second; wait for two of them.
  while ((registrar.bindings.get('1005')?.registrations ?? 0) < 3) await new Promise((r) => setTimeout(r, 50));
  const b = registrar.bindings.get('1005')!;
  tt.ok(b.expiresAtMs > Date.now(), 'the binding never lapsed');
  tt.equal(registrar.challenges.sent, 1, 'one challenge: refreshes reuse the nonce');
  tt.equal(registrar.challenges.refused, 0, 'the registrar saw no replayed nonce count');
});
