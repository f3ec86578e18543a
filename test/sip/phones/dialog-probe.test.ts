// Proves that an agent phone notices a dead dialog (RFC 5057 §5.1 probing, RFC 3261
// §12.2.1.2): a phone (sip/phones/phone.ts) on the in-memory LoopNetwork answers a call
// from a peer standing in for the SIP node, then, every probe interval of a FakeClock,
// sends OPTIONS in the dialog. A 481 ends the call at once with a BYE, a silent peer ends
// it when the OPTIONS transaction times out (timer F, 64*T1), and in both cases the record
// says `ended` / `dialog-lost` and the phone stops echoing RTP; probes keep going out while
// one is unanswered, so a peer that comes back without the dialog (a restarted node) is
// caught by the next probe, not 32 s later, while a lost probe followed by answered ones
// does not end the call; a peer answering 200 or 405 keeps the call; a call ended by BYE
// (even with a probe in flight) is probed no more and leaves no timer behind; an interval
// of 0 never probes. Asserted from the packets on the loop network, the phone's record
// file, and real RTP sent to its echo socket.
import t, { type Test } from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseRecord, type CallEvent } from '../../../sip/phones/call-recorder.js';
import { getHeader, parseCSeq, parseNameAddr, type SipRequest, type SipResponse } from '../../../sip/syntax/index.js';
import { dialogProbesInFlightMax } from '../../../sip/phones/limits.js';
import { PEER, startLoopRig, type LoopRig } from './loop-peer.js';
import { rtpRoundTrip } from './test-caller.js';
import { tempDir } from '../../support/temp-dir.js';

const dir = tempDir(t, 'probe');

const probeMs = 5000;
/** RFC 3261 timer F with the default T1 of 500 ms. */
const timerFMs = 64 * 500;

async function rig(tt: Test, dialogProbeMs = probeMs): Promise<LoopRig & { recordPath: string }> {
  const recordPath = join(dir, `record-${Math.random().toString(16).slice(2)}.jsonl`);
  const r = await startLoopRig({ dialogProbeMs, recordPath });
  tt.teardown(() => r.close());
  return { ...r, recordPath };
}

/** Places a call, lets the phone answer and the peer ACK it; returns the INVITE and 2xx. */
function answeredCall(r: LoopRig): { callId: string; invite: SipRequest; ok: SipResponse } {
  let ok: SipResponse | null = null;
  const { callId } = r.peer.invite('1001', (res) => (ok = res));
  r.clock.flush(); // loop deliveries are due now: INVITE, 200, ACK
  if (ok === null) throw new Error('no final response to the INVITE');
  const invite = r.network.sentFrom(PEER, (p) => p.message.kind === 'request' && p.message.method === 'INVITE')[0]!.message as SipRequest;
  return { callId, invite, ok };
}

const cseqOf = (m: SipRequest): number => parseCSeq(getHeader(m, 'CSeq') ?? '')!.seq;
/** Distinct probes (a retransmission repeats its CSeq). */
const probeCseqs = (r: LoopRig): number[] => [...new Set(r.sentByPhone('OPTIONS').map(cseqOf))];
const endedEvents = (path: string): Extract<CallEvent, { ev: 'ended' }>[] => parseRecord(readFileSync(path, 'utf8')).filter((e): e is Extract<CallEvent, { ev: 'ended' }> => e.ev === 'ended');

t.test('a 481 to the probe ends the call with a BYE, records dialog-lost, stops the echo', async (tt) => {
  const r = await rig(tt);
  const { callId, invite, ok } = answeredCall(r);
  tt.equal(ok.status, 200);
  tt.equal(r.phone.activeCalls(), 1);
  tt.equal(await rtpRoundTrip('127.0.0.1', r.rtp.port, 5), 5, 'RTP echoed while the call is up');

  r.peer.mode = 'gone';
  r.clock.advance(probeMs - 1);
  tt.same(probeCseqs(r), [], 'no probe before the interval');
  r.clock.advance(1);
  const [options] = r.peer.received.filter((m) => m.method === 'OPTIONS');
  tt.ok(options, 'the peer received the OPTIONS');
  tt.equal(options!.uri, `sip:b2bua@${PEER.host}:${PEER.port}`, 'sent to the remote target (the INVITE Contact)');
  tt.equal(getHeader(options!, 'Call-ID'), callId);
  tt.equal(parseNameAddr(getHeader(options!, 'From')!)!.params['tag'], parseNameAddr(getHeader(ok, 'To')!)!.params['tag'], 'From tag is the phone\'s To tag');
  tt.equal(getHeader(options!, 'To'), getHeader(invite, 'From'), 'To is the caller side, with its tag');

  const byes = r.peer.received.filter((m) => m.method === 'BYE');
  tt.equal(byes.length, 1, 'the phone sent a BYE');
  tt.ok(cseqOf(byes[0]!) > cseqOf(options!), 'the BYE takes the next CSeq of the phone\'s side');
  tt.equal(r.phone.activeCalls(), 0, 'the call is gone');
  tt.same(endedEvents(r.recordPath).map((e) => ({ callId: e.callId, reason: e.reason, status: e.status })), [{ callId, reason: 'dialog-lost', status: 481 }]);
  tt.equal(r.recorder.counters().dialogsLost, 1);
  tt.equal(await rtpRoundTrip('127.0.0.1', r.rtp.port, 5), 0, 'RTP of the dead call is no longer echoed');

  r.clock.advance(10 * probeMs);
  tt.same(probeCseqs(r), [cseqOf(options!)], 'no probe after the call ended');
});

t.test('a silent peer: the call ends when the probe transaction times out', async (tt) => {
  const r = await rig(tt);
  const { callId } = answeredCall(r);
  r.peer.mode = 'silent';
  r.clock.advance(probeMs);
  tt.equal(probeCseqs(r).length, 1, 'one probe sent');
  r.clock.advance(timerFMs - 1000);
  tt.ok(r.sentByPhone('OPTIONS').length > 1, 'the probe is retransmitted while unanswered');
  tt.equal(r.phone.activeCalls(), 1, 'still up while the transaction may yet be answered');
  tt.same(endedEvents(r.recordPath), []);
  r.clock.advance(1000);
  tt.equal(r.phone.activeCalls(), 0, 'ended at timer F');
  tt.same(endedEvents(r.recordPath).map((e) => ({ callId: e.callId, reason: e.reason, status: e.status })), [{ callId, reason: 'dialog-lost', status: 408 }]);
  tt.ok(r.sentByPhone('BYE').length >= 1, 'a best-effort BYE went out');
});

t.test('a peer back without the dialog is caught by the next probe, long before timer F', async (tt) => {
  const r = await rig(tt);
  const { callId } = answeredCall(r);
  r.peer.mode = 'silent'; // the node is down
  r.clock.advance(2 * probeMs);
  tt.equal(probeCseqs(r).length, 2, 'a probe every interval, answered or not');
  tt.equal(r.phone.activeCalls(), 1);
  r.peer.mode = 'gone'; // restarted: it knows nothing of the call
  r.clock.advance(probeMs);
  tt.equal(r.phone.activeCalls(), 0, 'ended at the first probe after the restart');
  tt.same(endedEvents(r.recordPath).map((e) => ({ callId: e.callId, reason: e.reason, status: e.status })), [{ callId, reason: 'dialog-lost', status: 481 }]);
});

t.test('a probe lost on the way, then answered ones: the old probe\'s timeout does not end the call', async (tt) => {
  const r = await rig(tt);
  answeredCall(r);
  // Every copy of the first probe is lost; later probes get through and are answered 200.
  r.network.filter = (p) => (p.message.kind === 'request' && p.message.method === 'OPTIONS' && cseqOf(p.message) === 1 ? 'drop' : 'deliver');
  r.clock.advance(probeMs + timerFMs + probeMs);
  tt.ok(r.network.lost > 1, 'the first probe and its retransmissions were dropped');
  tt.ok(probeCseqs(r).length > 2, 'later probes went out');
  tt.equal(r.phone.activeCalls(), 1, 'still up after the first probe timed out');
  tt.same(endedEvents(r.recordPath), []);
});

t.test('a silent peer is sent a bounded number of probes at once', async (tt) => {
  const r = await rig(tt, 1000);
  answeredCall(r);
  r.peer.mode = 'silent';
  r.clock.advance(timerFMs);
  tt.equal(probeCseqs(r).length, dialogProbesInFlightMax, `no more than ${dialogProbesInFlightMax} unanswered probes`);
  r.clock.advance(1000);
  tt.equal(r.phone.activeCalls(), 0, 'the oldest probe\'s timeout ends the call');
});

t.test('a peer answering 200 or 405 keeps the call; BYE ends probing and leaves no timer', async (tt) => {
  const r = await rig(tt);
  const { invite, ok } = answeredCall(r);
  r.clock.advance(10 * probeMs);
  tt.same(probeCseqs(r), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 'one probe per interval, CSeq rising');
  r.peer.mode = 'not-allowed';
  r.clock.advance(3 * probeMs);
  tt.equal(probeCseqs(r).length, 13, 'a 405 (peer without OPTIONS) also proves the dialog alive');
  tt.equal(r.phone.activeCalls(), 1);
  tt.same(endedEvents(r.recordPath), []);

  r.peer.mode = 'ok';
  let byeStatus = 0;
  r.peer.bye(invite, ok, (s) => (byeStatus = s));
  r.clock.advance(1);
  tt.equal(byeStatus, 200);
  tt.same(endedEvents(r.recordPath).map((e) => e.reason), ['bye']);
  const probes = r.sentByPhone('OPTIONS').length;
  r.clock.advance(600_000);
  tt.equal(r.sentByPhone('OPTIONS').length, probes, 'no probe after the call ended');
  tt.equal(r.clock.pendingCount(), 0, 'no timer left: probe and transactions all finished');
});

t.test('a call ended by BYE while a probe is unanswered is ended once, as bye', async (tt) => {
  const r = await rig(tt);
  const { invite, ok } = answeredCall(r);
  r.peer.mode = 'silent';
  r.clock.advance(probeMs);
  tt.equal(probeCseqs(r).length, 1, 'a probe is in flight');
  r.peer.mode = 'ok';
  r.peer.bye(invite, ok, () => undefined);
  r.clock.advance(timerFMs + probeMs);
  tt.same(endedEvents(r.recordPath).map((e) => e.reason), ['bye'], 'the probe\'s later timeout changes nothing');
  tt.equal(r.sentByPhone('BYE').length, 0, 'the phone sent no BYE of its own');
  r.clock.advance(600_000);
  tt.equal(r.clock.pendingCount(), 0);
});

t.test('an interval of 0 never probes', async (tt) => {
  const r = await rig(tt, 0);
  answeredCall(r);
  r.clock.advance(600_000);
  tt.same(r.sentByPhone('OPTIONS'), []);
  tt.equal(r.phone.activeCalls(), 1, 'the call is held (nothing ended it)');
});
