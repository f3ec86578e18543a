// Proves NgClient speaks the ng protocol to a real rtpengine (the drop-in alternative the
// design promises): ping, offer, answer, query, delete and error replies, with RTP
// actually relayed by rtpengine between two sockets using the ports from the SDP it
// returned. rtpengine runs userspace-only as a child process, killed in teardown. Skipped
// when rtpengine is not installed, unless REQUIRE_RTPENGINE=1, which makes that a failure.

import { spawn } from 'node:child_process';
import t from 'tap';
import { isBDict } from '../../gateway/bencode.js';
import { GatewayErrorCode } from '../../gateway/errors.js';
import { NgClient } from '../../gateway/ng-client.js';
import { freeUdpPort, rtpengineInstalled as installed } from '../../bench/media.js';
import { Endpoint, eventually, mediaPort, rtpPacket, sdp, sendAll } from './helpers.js';

if (!installed()) {
  if (process.env['REQUIRE_RTPENGINE'] === '1') t.fail('REQUIRE_RTPENGINE=1 but rtpengine is not installed (apt-get install rtpengine-daemon)');
  else t.plan(0, 'rtpengine not installed');
} else {
  t.test('NgClient against rtpengine', async (t) => {
    const ngPort = await freeUdpPort();
    const base = 10000 + Math.floor(Math.random() * 400) * 20; // below the ephemeral range
    const child = spawn(
      'rtpengine',
      ['--table=-1', '--interface=127.0.0.1', `--listen-ng=127.0.0.1:${ngPort}`, '--foreground', '--config-file=none',
        '--num-threads=1', '--delete-delay=0', `--port-min=${base}`, `--port-max=${base + 19}`, '--log-stderr', '--log-level=3'],
      { stdio: ['ignore', 'ignore', 'inherit'] },
    );
    t.teardown(() => {
      if (child.exitCode === null) child.kill('SIGKILL');
    });
    const ng = new NgClient({ host: '127.0.0.1', port: ngPort, timeoutMs: 200, retries: 1 });
    t.teardown(() => ng.close());
    await eventually(() => ng.ping().then(() => true, () => undefined), 50, 100);

    const caller = await Endpoint.open(t);
    const agent = await Endpoint.open(t);
    const offer = await ng.offer({ callId: 'interop-1', fromTag: 'caller', sdp: sdp(caller.port), ice: 'remove', replace: ['origin'] });
    const portB = mediaPort(offer.sdp);
    t.ok(portB >= base && portB <= base + 19, 'offer answered with a port from rtpengine range');
    const answer = await ng.answer({ callId: 'interop-1', fromTag: 'caller', toTag: 'agent', sdp: sdp(agent.port) });
    const portA = mediaPort(answer.sdp);
    t.not(portA, portB);

    await sendAll(caller, Array.from({ length: 20 }, (_, i) => rtpPacket(i)), portA);
    await eventually(() => (agent.received.length >= 20 ? true : undefined));
    t.ok(agent.received.every((r) => r.port === portB), 'rtpengine relayed from its leg-B port');

    const q = await ng.query({ callId: 'interop-1' });
    t.ok(isBDict(q.raw['tags']) && 'caller' in q.raw['tags'] && 'agent' in q.raw['tags'], 'query reports both tags');
    t.equal(q.timedOut, false);
    await ng.delete({ callId: 'interop-1', fromTag: 'caller' });
    await t.rejects(ng.query({ callId: 'interop-1' }), { code: GatewayErrorCode.NG_REMOTE }, 'error replies become typed errors');
  });
}
