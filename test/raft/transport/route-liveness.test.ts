// Proves store routing and store liveness of TcpRaftTransport over real sockets on
// 127.0.0.1 (port 0), with stores a and b and members named `<group>-<store>`:
// - a message travels to the store route() names for its receiver, and several groups'
//   messages sent in one turn share one batch frame;
// - a message whose sender belongs to another store than the authenticated peer (or
//   whose receiver is not on this store) is dropped and counted, and the link stays up;
// - with nothing to send, the stores ping each other; each sees the other alive (one
//   edge), and once b closes, a reports b silent (one edge) and peerSilentMs grows.

import t from 'tap';
import { TcpRaftTransport } from '../../../raft/transport/tcp-transport.js';
import type { Message } from '../../../raft/types.js';
import { heartbeat, recordingLogger, waitFor } from './helpers.js';

const route = (member: string): string => member.slice(member.lastIndexOf('-') + 1);

t.test('routing, misrouting, pings and silence between two stores', async (t) => {
  const logger = recordingLogger();
  const listen = (id: string) => TcpRaftTransport.listen({ id, host: '127.0.0.1', port: 0, secret: 'route-liveness-secret', peers: {}, route, logger });
  const a = await listen('a');
  const b = await listen('b');
  t.teardown(async () => {
    await a.close();
    await b.close();
  });
  const edges: string[] = [];
  a.onPeerLiveness((peer, alive) => edges.push(`${peer}:${alive ? 'alive' : 'silent'}`));
  a.setPeer('b', { host: '127.0.0.1', port: b.port });
  b.setPeer('a', { host: '127.0.0.1', port: a.port });
  const got: { group: string; m: Message }[] = [];
  for (const g of ['g1', 'g2', 'g3']) a.register(g, (m) => got.push({ group: g, m }));

  await waitFor(() => a.peerLiveness().b === true && b.peerLiveness().a === true, 'both stores alive from pings alone');
  await waitFor(() => a.stats().pingsReceived >= 2, 'pings with nothing else to send');
  t.same(edges, ['b:alive'], 'one alive edge');
  t.equal(b.stats().framesSent, 0, 'no Raft frame was sent: pings alone kept the stores alive');

  const framesBefore = b.stats().framesSent;
  b.send('g1', [heartbeat('g1-b', 'g1-a', 1)]);
  b.send('g2', [heartbeat('g2-b', 'g2-a', 2)]);
  b.send('g3', [heartbeat('g3-b', 'g3-a', 3)]);
  await waitFor(() => got.length === 3, 'three groups delivered');
  t.same(got.map((x) => [x.group, x.m.from, x.m.term]), [['g1', 'g1-b', 1], ['g2', 'g2-b', 2], ['g3', 'g3-b', 3]]);
  t.equal(b.stats().framesSent - framesBefore, 1, 'three groups, one frame');

  b.send('g1', [heartbeat('g1-c', 'g1-a', 4)]); // sender on store c, sent over b's link
  b.send('g1', [heartbeat('g1-b', 'g1-a', 5)]);
  await waitFor(() => got.length === 4, 'the honest message after the misrouted one');
  t.equal(got[3]!.m.term, 5, 'only the honest message delivered');
  t.equal(a.stats().misrouted, 1, 'the misrouted one counted');
  t.match(logger.warnings.join('\n'), /claims sender g1-c \(store c\) on b's link/);
  t.ok(b.peerStats().a!.connected && b.peerStats().a!.connects === 1, 'the link stayed up');

  await b.close();
  await waitFor(() => a.peerLiveness().b === false, 'b reported silent');
  t.same(edges, ['b:alive', 'b:silent'], 'one silent edge');
  const silent = a.peerSilentMs('b');
  await waitFor(() => a.peerSilentMs('b') > silent, 'silence grows');
  t.equal(a.peerSilentMs('nobody'), Infinity, 'a store never heard is silent forever');
});
