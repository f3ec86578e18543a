// Proves what a queued caller hears (issue #21 point 3) with real processes: a shard
// replica process, a media gateway process (gateway/gateway-process.ts, its shipped
// prompts), a SIP node, SIPp as the caller and a SIP UA as the agent.
//
// SIPp's INVITE offers PCMU on a UDP socket this test owns, so every RTP packet the
// caller receives is recorded (SIPp's own media is not involved: no -rtp_echo). No agent
// is READY, so the call queues: the caller gets 183 with the gateway's early answer and
// the service's music, then at everyMs its position ("you are caller number" "1"). After
// 10 s of queue the agent turns READY, is offered the call and answers; its UA sends RTP
// with a payload no prompt has. The test asserts on the recorded stream:
// - one SSRC from the first music packet to the agent's last packet;
// - sequence numbers +1 for every packet (none missing, none repeated) across the
//   switch from played media to the agent's relayed audio;
// - timestamps advancing at every packet, by whole 20 ms frames between played frames (more
//   than one only where the gateway skipped ahead after a stall);
// - the music's first frame first, the announcement's frames after at least everyMs of
//   stream time, then the agent's payload, and after the first agent packet only the
//   agent's audio.
// Gaps between arrivals are printed (max gap) but not asserted here: tests carry no
// wall-clock thresholds and run in parallel on 2 shared cores. The gap bound is measured by
// `npm run bench -- queue-media` (bench/queue-media.ts), which reports the max gap.
//
// Without SIPp the test skips, unless REQUIRE_SIPP=1, which makes a missing SIPp a failure.

import dgram from 'node:dgram';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { bindUdp, freeSippMediaPort, needSipp, startSippFor } from '../../cluster/sipp/driver.js';
import { deriveKey } from '../../common/keys.js';
import { PT_PCMU } from '../../gateway/g711.js';
import { NgClient } from '../../gateway/ng-client.js';
import { defaultPromptsDir, FRAME_SAMPLES, PromptLibrary } from '../../gateway/prompts.js';
import { addAgent, password, sipTarget, startCluster, startGatewayProcess, startNode, waitFor } from '../sip/node/harness.js';
import { TestUa } from '../sip/node/test-ua.js';
import { tempDir } from '../support/temp-dir.js';

if (!needSipp(t)) process.exit(0);

const everyMs = 5000;
const queuedMs = 10_000;
const service = { number: '6301', skill: 'moh', minLevel: 0, announcements: { music: 'music', everyMs, position: true, estimatedWait: true } };
/** No agent has this skill: its callers only wait. */
const unstaffed = { number: '6302', skill: 'nobody', minLevel: 0, announcements: { music: 'music', everyMs, position: true, estimatedWait: false } };

const { cluster, config: base } = await startCluster(t, [service, unstaffed], 1);
const gw = await startGatewayProcess(t, 'gw-moh', '32600-32699', 30, base.secret);
const config = { ...base, gateways: [gw.config] };
const node = await startNode(t, config, { nodeId: 'sip-moh', ringTimeoutMs: 5000 });
const ng = new NgClient({ host: '127.0.0.1', port: gw.config.control.port, key: deriveKey(base.secret, 'ng-control') });
t.teardown(() => ng.close());

export type Received = { seq: number; ts: number; ssrc: number; pt: number; marker: boolean; payload: Buffer; atMs: number };

/** Records every RTP packet arriving at a socket on 127.0.0.1. */
async function recorder(): Promise<{ port: number; packets: Received[] }> {
  const sock = dgram.createSocket('udp4');
  const packets: Received[] = [];
  sock.on('message', (m) => {
    if (m.length < 12) return;
    packets.push({ seq: m.readUInt16BE(2), ts: m.readUInt32BE(4), ssrc: m.readUInt32BE(8), pt: m[1]! & 0x7f, marker: (m[1]! & 0x80) !== 0, payload: m.subarray(12), atMs: performance.now() });
  });
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  t.teardown(() => sock.close());
  return { port: sock.address().port, packets };
}

/** A UAC that offers PCMU at [rtp_port] (-key), waits through 100/182/183, ACKs the 200,
 * holds for -d ms and hangs up. */
function callerScenario(dir: string): string {
  const path = join(dir, 'queued-caller.xml');
  writeFileSync(path, `<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="queued caller">
  <send retrans="500" start_txn="invite"><![CDATA[

INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
From: "sipp" <sip:caller@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: 1 INVITE
Contact: <sip:caller@[local_ip]:[local_port]>
Max-Forwards: 70
Content-Type: application/sdp
Content-Length: [len]

v=0
o=sipp 1 1 IN IP4 127.0.0.1
s=-
c=IN IP4 127.0.0.1
t=0 0
m=audio [rtp_port] RTP/AVP 0 8
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=sendrecv

]]></send>
  <recv response_txn="invite" response="100" optional="true" />
  <recv response_txn="invite" response="182" optional="true" />
  <recv response_txn="invite" response="183" optional="true" />
  <recv response_txn="invite" response="180" optional="true" />
  <recv response_txn="invite" response="200" rrs="true" />
  <send ack_txn="invite"><![CDATA[

ACK [next_url] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
From: "sipp" <sip:caller@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
[last_To:]
[routes]
Call-ID: [call_id]
CSeq: 1 ACK
Contact: <sip:caller@[local_ip]:[local_port]>
Max-Forwards: 70
Content-Length: 0

]]></send>
  <pause />
  <send retrans="500" start_txn="bye"><![CDATA[

BYE [next_url] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
From: "sipp" <sip:caller@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
[last_To:]
[routes]
Call-ID: [call_id]
CSeq: 2 BYE
Contact: <sip:caller@[local_ip]:[local_port]>
Max-Forwards: 70
Content-Length: 0

]]></send>
  <recv response_txn="bye" response="200" />
</scenario>
`);
  return path;
}

function mediaOf(body: Uint8Array): { ip: string; port: number } {
  const s = Buffer.from(body).toString();
  return { ip: /c=IN IP4 ([0-9.]+)/.exec(s)?.[1] ?? '', port: Number(/m=audio (\d+)/.exec(s)?.[1]) };
}

/** Index of the first frame of a prompt that is not pure silence (G.711 silence would
 * match the gateway's fill frames too). */
function firstVoicedFrame(encoded: Buffer): Buffer {
  for (let i = 0; i + FRAME_SAMPLES <= encoded.length; i += FRAME_SAMPLES) {
    const f = encoded.subarray(i, i + FRAME_SAMPLES);
    if (f.some((b) => b !== 0xff && b !== 0x7f && b !== 0xfe && b !== 0x7e)) return f;
  }
  throw new Error('prompt is all silence');
}

t.test('a queued caller hears music and its position, then the agent, in one continuous RTP stream', async (t) => {
  const dn = '4301';
  await addAgent(cluster, config, dn, { moh: 50 }, { ready: false });
  const phone = await TestUa.start('answer');
  t.teardown(() => phone.close());
  const agentRtp = dgram.createSocket('udp4');
  await new Promise<void>((r) => agentRtp.bind(0, '127.0.0.1', () => r()));
  t.teardown(() => agentRtp.close());
  phone.answerPort = agentRtp.address().port;
  t.equal((await phone.register(sipTarget(node), dn, password(dn), { expires: 600 })).response.status, 200, 'agent registered');

  const caller = await recorder();
  const dir = tempDir(t, 'moh-sipp');
  const probe = await bindUdp(0);
  const sipPort = (probe!.address() as { port: number }).port;
  probe!.close();
  const sipp = startSippFor(t, {
    scenario: callerScenario(dir), dir, remote: `127.0.0.1:${node.udpPort}`, localPort: sipPort, mediaPort: await freeSippMediaPort(),
    service: service.number, maxCalls: 1, timeoutS: 60, keys: { rtp_port: caller.port }, extra: ['-d', '2000'],
  });

  // Queued: the gateway's music reaches the caller's socket.
  await waitFor('music at the caller', () => caller.packets.length, (n) => n > 0, 20_000);
  const firstAtMs = caller.packets[0]!.atMs;
  await new Promise((r) => setTimeout(r, queuedMs));
  const beforeAnswer = caller.packets.length;

  // The agent turns READY: the queue's shard claims it, the node invites its phone.
  const ready = await cluster.client.command(dn, { type: 'ready', dn });
  t.ok(ready.ok, 'agent READY');
  await waitFor('the agent\'s INVITE', () => phone.invites.length, (n) => n > 0, 15_000);
  const to = mediaOf(phone.invites[0]!.body);
  t.equal(to.ip, '127.0.0.1', 'the agent is offered the gateway\'s address');
  t.match(Buffer.from(phone.invites[0]!.body).toString(), /m=audio \d+ RTP\/AVP 0\r?\n/, 'the agent is offered only the codec of the caller\'s early answer');

  // The agent's phone talks: PCMU frames of a byte no prompt frame consists of.
  const agentPayload = Buffer.alloc(FRAME_SAMPLES, 0x2a);
  let agentSeq = 1000;
  let agentTs = 90_000;
  const talk = setInterval(() => {
    const h = Buffer.alloc(12);
    h[0] = 0x80;
    h[1] = PT_PCMU;
    h.writeUInt16BE(agentSeq++ & 0xffff, 2);
    h.writeUInt32BE((agentTs += FRAME_SAMPLES) >>> 0, 4);
    h.writeUInt32BE(0xa9e17, 8);
    agentRtp.send(Buffer.concat([h, agentPayload]), to.port, to.ip);
  }, 20);
  t.teardown(() => clearInterval(talk));

  const result = await sipp.done;
  clearInterval(talk);
  t.equal(result.exitCode, 0, `SIPp's call succeeded: ${result.errorLog}`);
  await new Promise((r) => setTimeout(r, 100)); // the last relayed packets

  const packets = caller.packets;
  const isAgent = (p: Received): boolean => p.payload.equals(agentPayload);
  const firstAgent = packets.findIndex(isAgent);
  t.ok(beforeAnswer >= 100, `RTP throughout the wait (${beforeAnswer} packets in ${Math.round(packets[beforeAnswer - 1]!.atMs - firstAtMs)} ms)`);
  t.ok(firstAgent > 0, 'the agent\'s audio reaches the caller');
  t.ok(packets.length - firstAgent >= 20, `the agent's audio keeps coming (${packets.length - firstAgent} packets)`);
  t.ok(packets.slice(firstAgent).every(isAgent), 'after the switch the caller hears only the agent');

  // One stream: one SSRC, sequence +1 each, timestamps always advancing.
  const ssrcs = new Set(packets.map((p) => p.ssrc));
  t.equal(ssrcs.size, 1, 'one SSRC from music to agent');
  let seqBreaks = 0;
  let tsBackwards = 0;
  let playedTsOff = 0;
  let framesSkipped = 0;
  for (let i = 1; i < packets.length; i++) {
    if (((packets[i]!.seq - packets[i - 1]!.seq) & 0xffff) !== 1) seqBreaks++;
    const dts = (packets[i]!.ts - packets[i - 1]!.ts) >>> 0;
    if (dts === 0 || dts >= 0x80000000) tsBackwards++;
    // Between two played frames of one playback the timestamp moves one frame, or whole
    // frames when the gateway skipped ahead after a stall (player.ts).
    if (i < firstAgent && !packets[i]!.marker) {
      if (dts % FRAME_SAMPLES !== 0) playedTsOff++;
      else framesSkipped += dts / FRAME_SAMPLES - 1;
    }
  }
  t.equal(seqBreaks, 0, 'sequence numbers continuous (+1) across the switch to the agent');
  t.equal(tsBackwards, 0, 'timestamps advance at every packet');
  t.equal(playedTsOff, 0, 'played frames whole 20 ms frames apart in RTP time, except where a new playback starts (marker)');
  const sw = packets[firstAgent]!;
  const last = packets[firstAgent - 1]!;
  t.ok(((sw.ts - last.ts) >>> 0) >= 1, `the switch advances the timestamp (${(sw.ts - last.ts) >>> 0} samples after ${Math.round(sw.atMs - last.atMs)} ms)`);

  // What was played: the music first, the announcement after everyMs of stream time.
  const prompts = PromptLibrary.load(defaultPromptsDir);
  const music = prompts.get('music').encoded[PT_PCMU]!;
  t.ok(packets[0]!.payload.equals(music.subarray(0, FRAME_SAMPLES)) && packets[0]!.marker, 'the music\'s first frame opens the stream, marked');
  const announceFrame = firstVoicedFrame(prompts.get('you-are-caller-number').encoded[PT_PCMU]!);
  const positionFrame = firstVoicedFrame(prompts.get('1').encoded[PT_PCMU]!);
  const announced = packets.findIndex((p) => p.payload.equals(announceFrame));
  t.ok(announced > 0, '"you are caller number" was played');
  t.ok(((packets[announced]!.ts - packets[0]!.ts) >>> 0) >= (everyMs - 500) * 8, 'not before everyMs of queue');
  t.ok(packets.slice(announced, firstAgent).some((p) => p.payload.equals(positionFrame)), '... followed by "1" (the caller\'s position)');
  t.ok(packets.slice(announced + 1, firstAgent).some((p) => p.payload.equals(music.subarray(FRAME_SAMPLES, 2 * FRAME_SAMPLES))), 'then the music again');

  // The call's one media session is gone from the gateway once the call ended.
  await waitFor('the gateway to hold no call', async () => (await ng.list()).callsTotal, (n) => n === 0);
  t.pass('the media session was deleted with the call');

  let gapMaxMs = 0;
  for (let i = 1; i < packets.length; i++) gapMaxMs = Math.max(gapMaxMs, packets[i]!.atMs - packets[i - 1]!.atMs);
  t.comment(`caller received ${packets.length} packets (${firstAgent} played, ${packets.length - firstAgent} from the agent); largest gap between arrivals ${gapMaxMs.toFixed(1)} ms; ${framesSkipped} frames skipped by the gateway after stalls`);
});

t.test('a queued caller gets 183 with the early answer; its CANCEL ends the music and the session', async (t) => {
  const rtp = await recorder();
  const caller = await TestUa.start();
  t.teardown(() => caller.close());
  caller.offerPort = rtp.port;
  const call = caller.call(sipTarget(node), unstaffed.number);
  await waitFor('183 with SDP', () => call.provisionals.filter((p) => p.status === 183).length, (n) => n > 0, 15_000);
  const p183 = call.provisionals.find((p) => p.status === 183)!;
  t.ok(call.provisionals.findIndex((p) => p.status === 182) < call.provisionals.indexOf(p183), '182 Queued first, then 183');
  const early = Buffer.from(p183.body).toString();
  t.match(early, /m=audio \d+ RTP\/AVP 0\r?\n/, '183 carries an SDP answer (PCMU)');
  t.equal(mediaOf(p183.body).ip, '127.0.0.1');
  await waitFor('music', () => rtp.packets.length, (n) => n >= 10);
  t.equal(rtp.packets[0]!.ssrc, rtp.packets[9]!.ssrc);
  caller.cancel(call, sipTarget(node));
  t.equal((await call.final).status, 487, 'CANCEL → 487');
  await waitFor('the session deleted', async () => (await ng.list()).callsTotal, (n) => n === 0);
  const n = rtp.packets.length;
  await new Promise((r) => setTimeout(r, 200));
  t.equal(rtp.packets.length, n, 'the music stopped with the call');
});
