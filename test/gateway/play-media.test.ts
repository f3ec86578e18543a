// `play media` / `stop media` on the real gateway process over signed ng (NgClient), with
// RTP endpoints on loopback sockets:
// - the early-media offer answers the offerer too (`early-sdp` on its own leg's port), and
//   both SDPs keep only its first G.711 codec;
// - a prompt is named, never a path: traversal, absolute paths, upper case, blobs and
//   unknown names are refused with an ng error and a stable code;
// - the named prompt arrives at the party as 20 ms PCMU frames, byte for byte;
// - while it plays, the other party's RTP toward that leg is muted; after `stop media`
//   the other party's packets arrive in the same stream (one SSRC, seq +1);
// - a --prompts-dir holding a bad file stops the gateway at start, naming the file.

import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { PT_PCMU } from '../../gateway/g711.js';
import { NgClient } from '../../gateway/ng-client.js';
import { defaultPromptsDir, FRAME_SAMPLES, PromptLibrary } from '../../gateway/prompts.js';
import { writeWav } from '../../gateway/wav.js';
import { tempDir } from '../support/temp-dir.js';
import { Endpoint, freePortRange, rtpPacket, sdp, spawnGateway } from './helpers.js';

async function until(what: string, check: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const portOf = (s: string): number => Number(/m=audio (\d+)/.exec(s)?.[1]);

t.test('play media and stop media on a call, over signed ng', async (t) => {
  const gw = await spawnGateway(t, ['--ports', await freePortRange(4)]);
  const ng = new NgClient({ host: '127.0.0.1', port: gw.control, key: gw.key! });
  t.teardown(() => ng.close());
  const caller = await Endpoint.open(t);
  const agent = await Endpoint.open(t);
  const prompts = PromptLibrary.load(defaultPromptsDir);
  const music = prompts.get('music');

  const offer = await ng.offer({ callId: 'moh-1', fromTag: 'q', sdp: sdp(caller.port), flags: ['early-media'] });
  const early = offer.raw['early-sdp'];
  t.type(early, 'string', 'the early-media offer carries an early answer');
  t.match(early, /m=audio \d+ RTP\/AVP 0 101\r\n/, 'early answer: only PCMU (and telephone-event)');
  t.match(offer.sdp, /m=audio \d+ RTP\/AVP 0 101\r\n/, 'the SDP for the other party too');
  const legA = portOf(early as string);
  t.not(legA, portOf(offer.sdp), 'the early answer names the offerer\'s own leg');
  await t.rejects(ng.offer({ callId: 'moh-2', fromTag: 'q', sdp: sdp(caller.port).replace('RTP/AVP 0 101', 'RTP/AVP 18').replace('a=rtpmap:0 PCMU/8000', 'a=rtpmap:18 G729/8000'), flags: ['early-media'] }), { code: 'GW_ERR_NO_G711' }, 'early media needs G.711');

  const req = (extra: Record<string, unknown>) => ng.request({ command: 'play media', 'call-id': 'moh-1', 'from-tag': 'q', ...extra } as never);
  for (const file of ['../music', '/etc/passwd', 'music.wav', 'MUSIC', 'gateway/prompts/music']) {
    await t.rejects(req({ file }), { code: 'GW_ERR_NG_MALFORMED' }, `file ${file} refused`);
  }
  await t.rejects(req({ file: 'no-such-prompt' }), { code: 'GW_ERR_UNKNOWN_PROMPT' });
  await t.rejects(req({ blob: 'RIFF....' }), { code: 'GW_ERR_NG_MALFORMED' }, 'blob refused');
  await t.rejects(req({}), { code: 'GW_ERR_NG_MISSING_KEY' }, 'no file');
  await t.rejects(req({ file: 'music', 'repeat-times': 0 }), { code: 'GW_ERR_NG_MALFORMED' });
  await t.rejects(ng.playMedia({ callId: 'moh-1', fromTag: 'nobody', files: ['music'] }), { code: 'GW_ERR_UNKNOWN_TAG' });
  await t.rejects(ng.playMedia({ callId: 'nope', fromTag: 'q', files: ['music'] }), { code: 'GW_ERR_UNKNOWN_CALL' });

  const started = await ng.playMedia({ callId: 'moh-1', fromTag: 'q', files: ['music'], repeatTimes: 2 });
  t.equal(started.durationMs, 2 * music.frames * 20, 'duration: both rounds');
  await until('10 music frames', () => caller.received.length >= 10);
  const got = caller.received.map((r) => r.data);
  t.equal(got[0]![1], 0x80 | PT_PCMU, 'PCMU, first frame marked');
  for (let i = 0; i < 10; i++) {
    t.ok(got[i]!.subarray(12).equals(music.encoded[PT_PCMU]!.subarray(i * FRAME_SAMPLES, (i + 1) * FRAME_SAMPLES)), `frame ${i} is the prompt's`);
  }
  t.equal(caller.received[0]!.port, legA, 'sent from the leg\'s own port (where the caller sends)');

  // The agent answers and talks while the music plays: muted toward the caller.
  const answer = await ng.answer({ callId: 'moh-1', fromTag: 'q', toTag: 'agent', sdp: sdp(agent.port) });
  t.equal(portOf(answer.sdp), legA, 'the answer for the caller names the same leg as the early answer');
  const legB = portOf(offer.sdp);
  let seq = 7000;
  const talk = (): Buffer => rtpPacket(seq++, 0xa9e17).fill(0x2a, 12);
  const isAgent = (d: Buffer): boolean => d.subarray(12).every((b) => b === 0x2a);
  for (let i = 0; i < 5; i++) await agent.send(talk(), legB);
  await new Promise((r) => setTimeout(r, 60));
  t.notOk(caller.received.some((r) => isAgent(r.data)), 'the agent is not heard over the music');

  const lastFrame = await ng.stopMedia({ callId: 'moh-1', fromTag: 'q' });
  t.ok(lastFrame >= 10, `stop media: last-frame-pos ${lastFrame}`);
  const n = caller.received.length;
  for (let i = 0; i < 5; i++) await agent.send(talk(), legB);
  await until('the agent\'s packets', () => caller.received.filter((r) => isAgent(r.data)).length >= 5);
  const all = caller.received.map((r) => r.data);
  t.equal(new Set(all.map((d) => d.readUInt32BE(8))).size, 1, 'one SSRC throughout');
  t.ok(all.every((d, i) => i === 0 || ((d.readUInt16BE(2) - all[i - 1]!.readUInt16BE(2)) & 0xffff) === 1), 'sequence +1 throughout');
  t.ok(all.slice(n).some(isAgent), 'the agent\'s audio arrives after the stop');
  t.equal(all.slice(-5).filter(isAgent).length, 5, 'and is what the caller hears then');

  const stopAgain = await ng.request({ command: 'stop media', 'call-id': 'moh-1', 'from-tag': 'q' });
  t.equal(stopAgain['warning'], 'no media playing');
  await ng.delete({ callId: 'moh-1' });
});

t.test('played media counts as activity: a silent caller hearing music is not timed out', async (t) => {
  const gw = await spawnGateway(t, ['--ports', await freePortRange(4), '--media-timeout-s', '1']);
  const ng = new NgClient({ host: '127.0.0.1', port: gw.control, key: gw.key! });
  t.teardown(() => ng.close());
  const a = await Endpoint.open(t);
  const b = await Endpoint.open(t);
  await ng.offer({ callId: 'hears-music', fromTag: 'q', sdp: sdp(a.port), flags: ['early-media'] });
  await ng.offer({ callId: 'silent', fromTag: 'q', sdp: sdp(b.port), flags: ['early-media'] });
  await ng.playMedia({ callId: 'hears-music', fromTag: 'q', files: ['music'], repeatTimes: 10 });
  let timedOut: string[] = [];
  const deadline = Date.now() + 10_000;
  while (!timedOut.includes('silent') && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    timedOut = (await ng.list()).timedOut;
  }
  t.ok(timedOut.includes('silent'), 'a call with no media at all times out');
  t.notOk(timedOut.includes('hears-music'), 'one whose caller hears music does not');
});

t.test('a bad prompt file stops the gateway at start, naming the file', async (t) => {
  const dir = tempDir(t, 'bad-prompts');
  writeFileSync(join(dir, 'fine.wav'), writeWav(new Int16Array(160)));
  writeFileSync(join(dir, 'loud.wav'), Buffer.from('RIFF\x00\x00\x00\x00WAVEjunk', 'latin1'));
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'gateway/gateway-process.ts', '--control', '127.0.0.1:0', '--ng-auth', 'off', '--prompts-dir', dir], { encoding: 'utf8', timeout: 30_000 });
  t.equal(r.status, 2, 'exit 2');
  t.match(r.stderr, `${join(dir, 'loud.wav')}: no fmt chunk`, r.stderr);
});
