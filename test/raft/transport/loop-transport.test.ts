// Proves LoopRaftTransport behaves like the TCP transport's twin: messages reach the
// group registered on the addressed node, asynchronously and through the codec (the
// receiver gets an equal copy, never the sender's object); blocked links and closed or
// unregistered nodes drop messages; an id can be re-opened after close.

import t from 'tap';
import { LoopRaftHub } from '../../../raft/transport/loop-transport.js';
import type { Message } from '../../../raft/types.js';
import { heartbeat, waitFor } from './helpers.js';

t.test('delivery, isolation, close and re-open', async (t) => {
  const hub = new LoopRaftHub();
  const a = hub.transport('a');
  const b = hub.transport('b');
  const got: Message[] = [];
  b.register('g', (m) => got.push(m));
  const sent = heartbeat('a', 'b', 3, 'ctx');
  a.send('g', [sent]);
  t.equal(got.length, 0, 'not delivered synchronously');
  await waitFor(() => got.length === 1, 'delivery');
  t.same(got[0], sent);
  t.not(got[0], sent, 'a copy, not the same object');

  a.send('other-group', [heartbeat('a', 'b')]);
  hub.isolate('a', ['a', 'b']);
  a.send('g', [heartbeat('a', 'b', 4)]);
  await new Promise((r) => setImmediate(r));
  await new Promise((r) => setImmediate(r));
  t.equal(got.length, 1, 'unregistered group and blocked link dropped');
  t.equal(hub.dropped, 2);
  hub.heal();

  t.throws(() => hub.transport('b'), /already open/);
  await b.close();
  const b2 = hub.transport('b');
  const got2: Message[] = [];
  b2.register('g', (m) => got2.push(m));
  t.throws(() => b2.register('g', () => {}), /already registered/);
  a.send('g', [heartbeat('a', 'b', 5)]);
  await waitFor(() => got2.length === 1, 'delivery to the re-opened node');
  t.equal(got.length, 1, 'the closed transport got nothing more');
});
