// A reader of GET /v1/events/stream that stops reading (sip/node/events-stream.ts): the
// node sends it only what its socket takes (memory stays bounded however far behind it
// is), and when the ring overwrites events it was due, it gets a `gap` naming exactly
// those before the events that follow: every seq it sees is accounted for, in order, once.
// The route on a real admin app on 127.0.0.1 port 0, and a raw TCP reader that pauses.
import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import t from 'tap';
import { Registry } from 'prom-client';
import { createAdminApp } from '../../common/admin.js';
import { EventLog } from '../../sip/node/events.js';
import { eventStreamRoutes } from '../../sip/node/events-stream.js';
import { waitFor } from '../sip/node/harness.js';

const tokens = { read: randomBytes(24).toString('hex'), admin: randomBytes(24).toString('hex') };
const log = new EventLog({ nodeId: 'sipA', retain: 50, now: () => Date.now(), epoch: 'slow' });
const app = await createAdminApp({ title: 'events', tokens, registry: new Registry() });
await app.register(eventStreamRoutes, { events: log });
await app.listen({ host: '127.0.0.1', port: 0 });
t.teardown(() => app.close());
const port = (app.server.address() as { port: number }).port;

t.test('a paused reader falls behind the ring: a gap for exactly what was lost, nothing else', async (t) => {
  const socket = connect(port, '127.0.0.1');
  t.teardown(() => socket.destroy());
  await new Promise((r) => socket.once('connect', r));
  socket.write(`GET /v1/events/stream HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${tokens.read}\r\n\r\n`);
  socket.pause();
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  socket.pause(); // 'data' listeners resume a socket: pause it again
  // 64 KiB events: a few hundred of them fill the loopback socket buffers and the node's
  // response buffer, after which the node stops writing to this reader.
  const filler = 'x'.repeat(64 * 1024);
  for (let i = 1; i <= 600; i++) {
    log.call({ type: 'call.arrived', callId: `c${i}-${filler}`, service: '7001' });
    if (i % 20 === 0) await new Promise((r) => setImmediate(r));
  }
  t.ok(log.oldestSeq > 500, `the ring holds only the latest 50 (from ${log.oldestSeq})`);
  socket.resume();
  const frames = (): { event: string; data: { seq?: number; fromSeq?: number; toSeq?: number | null; reason?: string } }[] =>
    // Whole frames only (the last block may still be arriving); chunked-encoding size lines
    // fall between frames, each frame being one write.
    Buffer.concat(chunks).toString('utf8').split('\n\n').slice(0, -1).filter((b) => b.includes('data: ')).map((b) => ({
      event: /^event: (.*)$/m.exec(b)?.[1] ?? 'message',
      data: JSON.parse(/^data: (.*)$/m.exec(b)![1]!) as { seq?: number },
    }));
  await waitFor('the last event', () => frames().some((f) => f.data.seq === 600), (x) => x, 20_000);
  const got = frames();
  const gaps = got.filter((f) => f.event === 'gap');
  t.equal(gaps.length, 1, 'one gap');
  const gap = gaps[0]!.data;
  t.equal(gap.reason, 'expired');
  const seqs = got.filter((f) => f.event !== 'gap').map((f) => f.data.seq!);
  const at = got.indexOf(gaps[0]!);
  const before = got.slice(0, at).map((f) => f.data.seq!);
  t.same(before, before.map((_, i) => i + 1), `before the gap: 1..${before.length}, consecutive (what the socket took)`);
  t.equal(gap.fromSeq, before.length + 1, 'the gap starts right after the last event sent');
  const after = got.slice(at + 1).map((f) => f.data.seq!);
  t.equal(after[0], gap.toSeq! + 1, 'and ends right before the next one sent');
  t.same(after, after.map((_, i) => after[0]! + i), 'then consecutive to the last');
  t.equal(after[after.length - 1], 600);
  t.equal(new Set(seqs).size, seqs.length, 'none twice');
  t.ok(before.length < 550, `the node stopped writing after ${before.length} events, not buffering the rest`);
});
