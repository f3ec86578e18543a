// Proves overload recovery: two flooder processes blast RTP at two calls of the gateway
// (no rate ceiling, so the flood hits the CPU, not the token bucket) for five seconds while
// a third call carries a normal 100 packets/s stream from this process. During the flood
// the control socket still answers; one second after the flood ends, every packet of the
// normal stream is delivered again (zero loss). The gateway, the flooders and all sockets
// are torn down at the end even on failure.

import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { NgClient } from '../../gateway/ng-client.js';
import { Endpoint, eventually, freePortRange, mediaPort, rtpPacket, sdp, sleep, spawnGateway } from './helpers.js';

// The acceptance case: a 5-second overload, then zero loss within 1 second.
const FLOOD_MS = 5000;
const RECOVERY_MS = 1000;

const flooder = path.join(path.dirname(fileURLToPath(import.meta.url)), 'flooder.ts');

function flood(t: { teardown(fn: () => void): void }, port: number): Promise<number> {
  const child = spawn(process.execPath, ['--import', 'tsx', flooder, String(port), String(FLOOD_MS)], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  return new Promise((resolve) => child.once('exit', () => resolve(Number(out.trim()))));
}

t.test('loss returns to zero within a second after a flood', async (t) => {
  // latch-any: the flooders send from ports no SDP names, and this test is about CPU
  // overload (their packets must reach the relay and be counted), not about latching.
  const gw = await spawnGateway(t, ['--ports', await freePortRange(10), '--max-pps', '0', '--latching', 'latch-any']);
  const ng = new NgClient({ host: '127.0.0.1', port: gw.control, timeoutMs: 1000, retries: 3, key: gw.key! });
  t.teardown(() => ng.close());
  const void1 = await Endpoint.open(t);
  const floodPorts: number[] = [];
  for (const id of ['f1', 'f2']) {
    await ng.offer({ callId: id, fromTag: 'a', sdp: sdp(9) });
    floodPorts.push(mediaPort((await ng.answer({ callId: id, fromTag: 'a', toTag: 'b', sdp: sdp(void1.port) })).sdp));
  }
  void1.socket.removeAllListeners('message'); // the flood's destination; we do not keep it
  const caller = await Endpoint.open(t);
  const agent = await Endpoint.open(t);
  await ng.offer({ callId: 'n', fromTag: 'a', sdp: sdp(caller.port) });
  const portA = mediaPort((await ng.answer({ callId: 'n', fromTag: 'a', toTag: 'b', sdp: sdp(agent.port) })).sdp);

  const floods = Promise.all(floodPorts.map((p) => flood(t, p)));
  let seq = 0;
  let floodOver = false;
  let firstSeqAfterRecovery = -1;
  void floods.then(async () => {
    floodOver = true;
    await sleep(RECOVERY_MS);
    firstSeqAfterRecovery = seq;
  });
  // Answered while the flood is on: the gateway already counts flood packets, and the
  // flooders have not finished.
  const midFlood = eventually(async () => {
    const r = await ng.query({ callId: 'f1' });
    return r.legs[0]!.packets > 1000 ? !floodOver : undefined;
  }, 200);
  // The normal stream: 100 packets/s until 300 packets after the recovery mark.
  while (firstSeqAfterRecovery < 0 || seq < firstSeqAfterRecovery + 300) {
    await caller.send(rtpPacket(seq++), portA);
    await sleep(10);
  }
  const sent = await floods;
  t.ok(await midFlood, 'the control socket answered during the flood');
  const q = await ng.query({ callId: 'f1' });
  t.comment(`flooded ${sent.join(' + ')} packets; gateway counted ${q.legs[0]!.packets} on f1`);
  const wanted = new Set<number>();
  for (let s = firstSeqAfterRecovery; s < seq; s++) wanted.add(s);
  await eventually(() => {
    for (const r of agent.received) wanted.delete(r.data.readUInt16BE(2));
    return wanted.size === 0 ? true : undefined;
  }, 100).catch(() => undefined);
  t.equal(wanted.size, 0, `every one of the 300 packets sent ${RECOVERY_MS} ms after the flood arrived (missing ${wanted.size})`);
});
