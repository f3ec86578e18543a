// Proves interoperability with a real SIP peer: SIPp's built-in `uac` scenario (Debian
// sip-tester) places calls through the SIP node to agent phones; every call is answered
// and BYEd without a SIPp failure or timeout (exit status 0), and the agents are READY again.

import { spawn, spawnSync } from 'node:child_process';
import t from 'tap';
import { freePorts } from '../../../cluster/local-cluster.js';
import { freeSippMediaPort } from '../../../cluster/sipp/driver.js';
import { addAgent, password, readAgent, sipTarget, startCluster, startNode, waitFor } from './harness.js';
import { TestUa } from './test-ua.js';

const sipp = spawnSync('which', ['sipp']).stdout?.toString().trim();
if (!sipp) {
  t.test('SIPp uac → node → agent phones', { skip: 'sipp is not installed' }, async () => {});
} else {
  const { cluster, config } = await startCluster(t, [{ number: '5100', skill: 'sipp', minLevel: 0 }], 1);
  const node = await startNode(t, config);
  const phones = [await TestUa.start('answer'), await TestUa.start('answer')];
  t.teardown(() => Promise.all(phones.map((p) => p.close())));
  const dns = ['9101', '9102'];

  // Two agents for one call at a time: the next INVITE may arrive before the previous
  // agent's release has committed, and SIPp's built-in uac does not accept 182 Queued.
  t.test('SIPp uac → node → agent phones, 6 calls', async (t) => {
    for (const [i, dn] of dns.entries()) {
      await addAgent(cluster, config, dn, { sipp: 50 });
      t.equal((await phones[i]!.register(sipTarget(node), dn, password(dn), { expires: 600 })).response.status, 200);
      await waitFor('view', () => node.view.get(dn), (a) => a?.status.state === 'READY' && a.contacts.length > 0);
    }
    const [port] = await freePorts(1);
    const mediaPort = await freeSippMediaPort();
    // Not spawnSync: the node under test runs in this process's event loop.
    const proc = spawn(sipp, [
      '-sn', 'uac', '-s', '5100', `127.0.0.1:${node.udpPort}`, '-i', '127.0.0.1', '-p', String(port), '-mp', String(mediaPort),
      '-m', '6', '-r', '5', '-l', '1', '-d', '200', '-timeout', '30s', '-timeout_error', '-nostdin',
    ], { stdio: ['ignore', 'ignore', 'pipe'] });
    t.teardown(() => { if (proc.exitCode === null) proc.kill('SIGKILL'); });
    let stderr = '';
    proc.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const status = await new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
    t.equal(status, 0, `sipp exit status (stderr: ${stderr.slice(0, 500)})`);
    t.equal(phones[0]!.invites.length + phones[1]!.invites.length, 6, 'six INVITEs reached the agent phones');
    t.same(phones.map((p) => p.maxActive), [1, 1], 'one call at a time per phone');
    const agents = await Promise.all(dns.map((dn) => waitFor(`${dn} READY`, () => readAgent(cluster, dn), (a) => a.status.state === 'READY')));
    t.equal(agents[0]!.counters.callsAnswered + agents[1]!.counters.callsAnswered, 6, 'six answered calls counted');
  });
}
