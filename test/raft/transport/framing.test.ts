// Proves common/framing.ts reassembles frames exactly however TCP splits the stream
// (fast-check over payloads and chunk boundaries, zero-length frames included) and
// refuses a header announcing more than the maximum before buffering it; and that the
// coalescing writer turns one event-loop turn's frames into one write, in order.

import t from 'tap';
import fc from 'fast-check';
import { CoalescingFrameWriter, FrameDecoder, FrameError, encodeFrame, encodeFrames } from '../../../common/framing.js';

t.test('frames survive any chunking of the stream', async (t) => {
  fc.assert(
    fc.property(fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 12 }), fc.array(fc.integer({ min: 1, max: 50 }), { minLength: 1 }), (payloads, cuts) => {
      const stream = encodeFrames(payloads);
      const decoder = new FrameDecoder(1000);
      const got: Uint8Array[] = [];
      let at = 0;
      for (let i = 0; at < stream.length; i++) {
        const n = cuts[i % cuts.length]!;
        got.push(...decoder.push(stream.subarray(at, at + n)));
        at += n;
      }
      return got.length === payloads.length && got.every((g, i) => Buffer.compare(Buffer.from(g), Buffer.from(payloads[i]!)) === 0) && decoder.bufferedBytes === 0;
    }),
    { numRuns: 500 },
  );
  t.pass('all chunkings reassembled');
});

t.test('encodeFrame and encodeFrames agree', async (t) => {
  const a = new Uint8Array([1, 2, 3]);
  const b = new Uint8Array([]);
  t.same(encodeFrames([a, b]), Buffer.concat([encodeFrame(a), encodeFrame(b)]));
});

t.test('an oversized header is refused before its payload arrives', async (t) => {
  const decoder = new FrameDecoder(16);
  t.same(decoder.push(encodeFrame(new Uint8Array(16))).length, 1, 'exactly the maximum passes');
  const header = Buffer.alloc(4);
  header.writeUInt32BE(17);
  t.throws(() => decoder.push(header), FrameError);
  try {
    new FrameDecoder(1024).push(Buffer.from([0xff, 0xff, 0xff, 0xff]));
  } catch (e) {
    t.equal((e as FrameError).code, 'FRAME_ERR_TOO_LARGE');
  }
});

t.test('a partial frame is held until its last byte', async (t) => {
  const decoder = new FrameDecoder(100);
  const frame = encodeFrame(new Uint8Array([9, 9, 9]));
  t.same(decoder.push(frame.subarray(0, 5)), []);
  t.equal(decoder.bufferedBytes, 5);
  t.same(decoder.push(frame.subarray(5)).map((b) => [...b]), [[9, 9, 9]]);
});

t.test('the limit can be raised between frames of one chunk', async (t) => {
  const decoder = new FrameDecoder(4);
  decoder.feed(encodeFrames([new Uint8Array([1]), new Uint8Array(100)]));
  t.same([...decoder.next()!], [1], 'the small frame passes the small limit');
  decoder.frameBytesMax = 1000;
  t.equal(decoder.next()!.length, 100, 'the big one passes the raised limit');
  t.equal(decoder.next(), null);
  const strict = new FrameDecoder(4);
  t.throws(() => strict.push(encodeFrames([new Uint8Array([1]), new Uint8Array(100)])), { code: 'FRAME_ERR_TOO_LARGE' });
});

t.test('a coalescing writer sends everything queued in one turn as one write, in order', async (t) => {
  const writes: Uint8Array[] = [];
  const sink = { destroyed: false, write: (b: Uint8Array) => writes.push(b) };
  const writer = new CoalescingFrameWriter(sink);
  for (const text of ['a', 'bb', 'ccc']) writer.write(Buffer.from(text));
  t.equal(writes.length, 0, 'nothing leaves before the turn ends');
  await new Promise((r) => setImmediate(r));
  t.equal(writes.length, 1, 'one write for three frames');
  writer.write(Buffer.from('dddd'));
  await new Promise((r) => setImmediate(r));
  t.equal(writes.length, 2, 'a later turn gets its own write');
  const decoder = new FrameDecoder(100);
  t.same(writes.flatMap((w) => decoder.push(w)).map((f) => f.toString()), ['a', 'bb', 'ccc', 'dddd']);
  sink.destroyed = true;
  writer.write(Buffer.from('lost'));
  await new Promise((r) => setImmediate(r));
  t.equal(writes.length, 2, 'nothing is written to a destroyed stream');
});
