// Proves the binary codec is lossless and safe on hostile input, with fast-check:
// decode(encode(m)) deep-equals m for every Message variant, entry, hard state and
// snapshot; a batch frame of many (group, message) items and a ping frame decode back to
// what was encoded; random bytes, truncations and single-byte corruptions of valid encodings
// throw a RaftGroupError with code RAFT_ERR_CORRUPT and never anything else (no
// RangeError, no TypeError, no silent success with trailing garbage).

import t from 'tap';
import fc from 'fast-check';
import { RaftGroupError } from '../../../raft/errors.js';
import {
  decodeEntry, decodeFrame, decodeHardState, decodeMessage, decodeSnapshot, encodeBatchFrame, encodeEntry, encodeHardState, encodeItem,
  encodeMessage, encodePingFrame, encodeSnapshot,
} from '../../../raft/codec.js';
import { ByteReader, ByteWriter } from '../../../raft/codec-bytes.js';
import { entryArb, groupIdArb, messageArb } from './arbitraries.js';

function throwsCorrupt(fn: () => unknown): boolean {
  try {
    fn();
    return false;
  } catch (e) {
    return e instanceof RaftGroupError && e.code === 'RAFT_ERR_CORRUPT';
  }
}

/** Decoding either succeeds or fails with the typed error: anything else is a bug. */
function decodesOrCorrupt(fn: () => unknown): boolean {
  try {
    fn();
    return true;
  } catch (e) {
    return e instanceof RaftGroupError && e.code === 'RAFT_ERR_CORRUPT';
  }
}

t.test('every message round-trips', async (t) => {
  fc.assert(
    fc.property(groupIdArb, messageArb, (groupId, message) => {
      const decoded = decodeMessage(encodeMessage(groupId, message));
      t.same(decoded, { groupId, message });
      return decoded.groupId === groupId && decoded.message.type === message.type;
    }),
    { numRuns: 400 },
  );
});

t.test('entries, hard states and snapshots round-trip through their CRC-sealed form', async (t) => {
  fc.assert(
    fc.property(entryArb, (e) => {
      t.same(decodeEntry(encodeEntry(e)), e);
    }),
    { numRuns: 200 },
  );
  const hs = { term: 7, vote: 'n2', commit: 41 };
  t.same(decodeHardState(encodeHardState(hs)), hs);
  t.same(decodeHardState(encodeHardState({ term: 0, vote: null, commit: 0 })), { term: 0, vote: null, commit: 0 });
  const snap = { meta: { index: 9, term: 2, conf: { voters: ['a', 'b'], learners: ['c'] } }, data: new Uint8Array([1, 2, 3]) };
  t.same(decodeSnapshot(encodeSnapshot(snap)), snap);
});

t.test('an append message carries entry data as raw bytes, not JSON', async (t) => {
  const data = new Uint8Array(1000).fill(7);
  const m = { type: 'append' as const, from: 'a', to: 'b', term: 3, prevIndex: 10, prevTerm: 3, commit: 10, entries: [{ term: 3, index: 11, kind: 'normal' as const, timestampMs: 1, data }] };
  const bytes = encodeMessage('g', m);
  t.ok(bytes.length < 1040, `1000 data bytes encode in ${bytes.length} bytes`);
});

t.test('random bytes never decode into anything but a message or RAFT_ERR_CORRUPT', async (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => decodesOrCorrupt(() => decodeMessage(bytes))),
    { numRuns: 2000 },
  );
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 100 }), (bytes) =>
      decodesOrCorrupt(() => decodeEntry(bytes)) && decodesOrCorrupt(() => decodeHardState(bytes)) && decodesOrCorrupt(() => decodeSnapshot(bytes)),
    ),
    { numRuns: 1000 },
  );
  t.pass('no untyped error escaped');
});

t.test('truncated or extended encodings are refused', async (t) => {
  fc.assert(
    fc.property(groupIdArb, messageArb, fc.nat(), (groupId, message, cut) => {
      const bytes = encodeMessage(groupId, message);
      const at = cut % bytes.length;
      const extended = new Uint8Array(bytes.length + 1);
      extended.set(bytes);
      return throwsCorrupt(() => decodeMessage(bytes.subarray(0, at))) && throwsCorrupt(() => decodeMessage(extended));
    }),
    { numRuns: 300 },
  );
  t.pass('every prefix and every one-byte extension threw RAFT_ERR_CORRUPT');
});

t.test('a flipped bit anywhere in a stored entry is caught by its CRC', async (t) => {
  fc.assert(
    fc.property(entryArb, fc.nat(), fc.integer({ min: 0, max: 7 }), (e, pos, bit) => {
      const bytes = new Uint8Array(encodeEntry(e));
      bytes[pos % bytes.length]! ^= 1 << bit;
      return throwsCorrupt(() => decodeEntry(bytes));
    }),
    { numRuns: 300 },
  );
  t.pass('all single-bit flips detected');
});

t.test('mutated valid messages decode or fail typed', async (t) => {
  fc.assert(
    fc.property(groupIdArb, messageArb, fc.nat(), fc.nat({ max: 255 }), (groupId, message, pos, value) => {
      const bytes = new Uint8Array(encodeMessage(groupId, message));
      bytes[pos % bytes.length] = value;
      return decodesOrCorrupt(() => decodeMessage(bytes));
    }),
    { numRuns: 1000 },
  );
  t.pass('no untyped error escaped');
});

t.test('encoding refuses a term or index that is not a non-negative safe integer', async (t) => {
  const base = { type: 'heartbeat', from: 'a', to: 'b', term: 1, commit: 0, context: '' } as const;
  for (const term of [-1, 1.5, Number.NaN, 2 ** 53]) {
    t.throws(() => encodeMessage('g', { ...base, term }), /codec: not a non-negative safe integer/, `term ${term}`);
  }
  t.doesNotThrow(() => encodeMessage('g', { ...base, term: 2 ** 53 - 1 }));
});

const itemsArb = fc.array(fc.record({ groupId: groupIdArb, message: messageArb }), { minLength: 1, maxLength: 8 });
const batchOf = (items: { groupId: string; message: Parameters<typeof encodeItem>[1] }[]) => encodeBatchFrame(items.map((i) => encodeItem(i.groupId, i.message)));

t.test('batch frames, single-message frames and pings decode to what was encoded', async (t) => {
  fc.assert(
    fc.property(itemsArb, (items) => {
      const decoded = decodeFrame(batchOf(items));
      t.same(decoded, { kind: 'messages', messages: items });
      return decoded.kind === 'messages' && decoded.messages.length === items.length;
    }),
    { numRuns: 200 },
  );
  t.same(decodeFrame(encodePingFrame()), { kind: 'ping' });
  const one = { type: 'heartbeat' as const, from: 'a', to: 'b', term: 2, commit: 1, context: '', quiesce: true };
  t.same(decodeFrame(encodeMessage('g', one)), { kind: 'messages', messages: [{ groupId: 'g', message: one }] }, 'a single-message frame is a frame too');
  t.ok(throwsCorrupt(() => decodeFrame(Uint8Array.of(1))), 'wire version 1 (no quiesce flag) is refused');
});

t.test('hostile frames decode or fail typed; truncated or extended batches are refused', async (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => decodesOrCorrupt(() => decodeFrame(bytes))),
    { numRuns: 2000 },
  );
  fc.assert(
    fc.property(fc.constantFrom(3, 4), fc.uint8Array({ maxLength: 200 }), (kind, rest) => {
      const bytes = new Uint8Array(rest.length + 1);
      bytes[0] = kind;
      bytes.set(rest, 1);
      return decodesOrCorrupt(() => decodeFrame(bytes));
    }),
    { numRuns: 2000 },
  );
  fc.assert(
    fc.property(itemsArb, fc.nat(), fc.nat({ max: 255 }), (items, pos, value) => {
      const bytes = new Uint8Array(batchOf(items));
      const at = pos % bytes.length;
      const extended = new Uint8Array(bytes.length + 1);
      extended.set(bytes);
      const truncatedOrExtended = throwsCorrupt(() => decodeFrame(bytes.subarray(0, at))) && throwsCorrupt(() => decodeFrame(extended));
      bytes[at] = value;
      return truncatedOrExtended && decodesOrCorrupt(() => decodeFrame(bytes));
    }),
    { numRuns: 500 },
  );
  t.ok(throwsCorrupt(() => decodeFrame(Uint8Array.of(3, 0xff, 0xff, 0xff, 0x7f))), 'a count beyond the bytes left is refused before allocating');
  t.pass('no untyped error escaped');
});

t.test('a string is written as its UTF-8 length and bytes, on the ASCII fast path and off it', async (t) => {
  const encoder = new TextEncoder();
  const expected = (s: string): Uint8Array => {
    const utf8 = encoder.encode(s);
    return new ByteWriter().uint(utf8.length).raw(utf8).finish();
  };
  // The boundaries: empty, the longest one-byte length prefix (127), the first two-byte
  // one (128), non-ASCII at the start, the end and past the fast path's length.
  for (const s of ['', 'shard-7', 'a'.repeat(127), 'a'.repeat(128), 'a'.repeat(300), 'é', `${'a'.repeat(126)}é`, `ü${'a'.repeat(200)}`, '日本', '\u007f\u0080']) {
    t.same(new ByteWriter(1).str(s).finish(), expected(s), `str(${JSON.stringify(s.slice(0, 12))}…, ${s.length} chars)`);
  }
  fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 200 }), fc.string({ maxLength: 40 }), (a, b) => {
    const got = new ByteWriter(2).str(a).str(b).finish();
    const want = new ByteWriter().raw(expected(a)).raw(expected(b)).finish();
    return Buffer.from(got).equals(Buffer.from(want));
  }));
});

t.test('a reader returns the same strings through its intern table, and still refuses bad UTF-8', async (t) => {
  const read = (bytes: Uint8Array): string => new ByteReader(bytes, 'test').str();
  for (const s of ['', 's1', 's12-st3', 'a'.repeat(48), 'a'.repeat(49), 'é', 'ab\u007f']) {
    const bytes = new ByteWriter().str(s).finish();
    t.equal(read(bytes), s, `${JSON.stringify(s.slice(0, 12))} read once`);
    t.equal(read(bytes), s, `${JSON.stringify(s.slice(0, 12))} read again (interned when short ASCII)`);
  }
  // Many distinct ids of one length collide in the 1024-slot table: each read still
  // gives its own string, never a neighbour's.
  const ids = Array.from({ length: 5000 }, (_, i) => `g${String(i).padStart(6, '0')}`);
  for (let round = 0; round < 2; round++) {
    const wrong = ids.filter((id) => read(new ByteWriter().str(id).finish()) !== id);
    t.same(wrong, [], `round ${round}: every id read back as itself`);
  }
  t.ok(throwsCorrupt(() => read(Uint8Array.of(2, 0xc3, 0x28))), 'invalid UTF-8 is RAFT_ERR_CORRUPT');
  t.ok(throwsCorrupt(() => read(Uint8Array.of(5, 0x61, 0x62))), 'a length past the end is RAFT_ERR_CORRUPT');
});

// The bytes on disk and on the wire are a format: a replica restarted on a newer build
// reads its old log, and a rolling upgrade has old and new stores talk. These pin them.
t.test('stored records and wire messages keep their exact bytes', async (t) => {
  const e = { term: 7, index: 300, kind: 'normal' as const, timestampMs: 1765000000000, data: new TextEncoder().encode('{"type":"reserve"}') };
  const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
  t.equal(hex(encodeEntry(e)), '01654d0a0107ac02004279af232b200000127b2274797065223a2272657365727665227d', 'an entry: CRC32, version, term, index, kind, timestamp, data');
  t.equal(hex(encodeHardState({ term: 7, vote: 's1-b', commit: 299 })), 'e9f82b590107ab02010473312d62', 'a hard state');
  const m = { type: 'append', from: 's1-a', to: 's1-b', term: 7, prevIndex: 299, prevTerm: 7, entries: [e], commit: 299 } as const;
  t.equal(hex(encodeMessage('s42', m)), '0203733432040473312d610473312d6207ab0207ab020107ac02004279af232b200000127b2274797065223a2272657365727665227d', 'an append on the wire');
  t.same(decodeEntry(encodeEntry(e)), e, 'and they read back');
});
