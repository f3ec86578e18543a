// Byte-level writer and reader for the Raft binary codec. The reader checks every length
// against what is left before it allocates anything, so hostile or torn input fails with
// RAFT_ERR_CORRUPT instead of a RangeError, a huge allocation or a half-built object.

import assert from 'node:assert';
import { ioError } from './io-error.js';
import { varintBytesMax } from './limits.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });
/** Short ASCII strings a reader decodes are interned in a fixed table (ByteReader.str):
 * bounded whatever a peer sends, and a collision only costs a fresh decode. */
const internBytesMax = 48;
const internSlots = 1024;
const internTable: (string | undefined)[] = new Array<string | undefined>(internSlots);

export class ByteWriter {
  private buf: Uint8Array;
  private view: DataView;
  private length = 0;

  /** Small writers take their bytes from Node's shared buffer pool (Buffer.allocUnsafe):
   * a fresh zero-filled ArrayBuffer per message was the largest self time in encoding at
   * 100 groups a store. Every byte handed out by finish() was written first. */
  constructor(sizeHint = 256) {
    this.buf = Buffer.allocUnsafe(Math.max(16, sizeHint));
    this.view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
  }

  private reserve(n: number): void {
    if (this.length + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.length + n) size *= 2;
    const next = Buffer.allocUnsafe(size);
    next.set(this.buf.subarray(0, this.length));
    this.buf = next;
    this.view = new DataView(next.buffer, next.byteOffset, next.byteLength);
  }

  /** Overwrites 4 bytes already written at `at` (a length or checksum known only later). */
  u32At(at: number, v: number): void {
    assert(at >= 0 && at + 4 <= this.length, `codec: u32At(${at}) outside the ${this.length} bytes written`);
    this.view.setUint32(at, v >>> 0);
  }

  u8(v: number): this {
    this.reserve(1);
    this.buf[this.length++] = v;
    return this;
  }

  u32(v: number): this {
    this.reserve(4);
    this.view.setUint32(this.length, v >>> 0);
    this.length += 4;
    return this;
  }

  bool(v: boolean): this {
    return this.u8(v ? 1 : 0);
  }

  /** Unsigned LEB128 of a non-negative safe integer (terms, indexes, offsets, counts). */
  uint(v: number): this {
    if (!Number.isSafeInteger(v) || v < 0) assert.fail(`codec: not a non-negative safe integer: ${v}`);
    this.reserve(varintBytesMax);
    while (v >= 0x80) {
      this.buf[this.length++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    this.buf[this.length++] = v;
    return this;
  }

  f64(v: number): this {
    this.reserve(8);
    this.view.setFloat64(this.length, v);
    this.length += 8;
    return this;
  }

  bytes(v: Uint8Array): this {
    this.uint(v.length);
    return this.raw(v);
  }

  raw(v: Uint8Array): this {
    this.reserve(v.length);
    this.buf.set(v, this.length);
    this.length += v.length;
    return this;
  }

  /** Ids, group ids and read contexts are short ASCII: copied straight in, they skip the
   * TextEncoder's fresh array per string (the encoder was most of encoding a message at
   * 100 groups a store). The bytes are the same either way. */
  str(v: string): this {
    const n = v.length;
    if (n < 0x80) {
      this.reserve(1 + n);
      const buf = this.buf;
      let pos = this.length + 1;
      for (let i = 0; i < n; i++) {
        const c = v.charCodeAt(i);
        if (c >= 0x80) return this.bytes(encoder.encode(v));
        buf[pos++] = c;
      }
      buf[this.length] = n;
      this.length = pos;
      return this;
    }
    return this.bytes(encoder.encode(v));
  }

  /** The written bytes (a view of the internal buffer; the writer is not used after). */
  finish(): Uint8Array {
    return this.buf.subarray(0, this.length);
  }
}

export class ByteReader {
  private pos = 0;
  private readonly view: DataView;

  constructor(
    private readonly buf: Uint8Array,
    private readonly what: string,
  ) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  get remaining(): number {
    return this.buf.length - this.pos;
  }

  fail(reason: string): never {
    throw ioError('RAFT_ERR_CORRUPT', `${this.what}: ${reason} at byte ${this.pos} of ${this.buf.length}`);
  }

  private need(n: number): void {
    if (n > this.remaining) this.fail(`truncated (need ${n} bytes, have ${this.remaining})`);
  }

  u8(): number {
    this.need(1);
    return this.buf[this.pos++]!;
  }

  u32(): number {
    this.need(4);
    const v = this.view.getUint32(this.pos);
    this.pos += 4;
    return v;
  }

  bool(): boolean {
    const b = this.u8();
    if (b > 1) this.fail(`bad boolean ${b}`);
    return b === 1;
  }

  uint(): number {
    let v = 0;
    let scale = 1;
    for (let i = 0; i < varintBytesMax; i++) {
      const b = this.u8();
      v += (b & 0x7f) * scale;
      if ((b & 0x80) === 0) {
        if (b === 0 && i > 0) this.fail('non-canonical varint');
        if (!Number.isSafeInteger(v)) this.fail('varint beyond 2^53');
        return v;
      }
      scale *= 0x80;
    }
    return this.fail('varint too long');
  }

  f64(): number {
    this.need(8);
    const v = this.view.getFloat64(this.pos);
    this.pos += 8;
    return v;
  }

  /** A length-prefixed byte string, copied so it does not pin the whole input buffer. */
  bytes(): Uint8Array {
    const n = this.uint();
    return this.raw(n);
  }

  raw(n: number): Uint8Array {
    this.need(n);
    const out = new Uint8Array(this.buf.subarray(this.pos, this.pos + n));
    this.pos += n;
    return out;
  }

  str(): string {
    const n = this.uint();
    this.need(n);
    if (n <= internBytesMax) {
      const interned = this.internedAscii(n);
      if (interned !== null) return interned;
    }
    const view = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    try {
      return decoder.decode(view);
    } catch {
      return this.fail('invalid UTF-8');
    }
  }

  /** The short ASCII string at the read position, `n` bytes, from the intern table when
   * it was read before (null when a byte is not ASCII). Store, group and replica ids come
   * in every message: one string each instead of a fresh decode per message, and a string
   * that already knows its hash when it keys the routing maps. */
  private internedAscii(n: number): string | null {
    const buf = this.buf;
    const start = this.pos;
    let h = 0x811c9dc5;
    for (let i = start; i < start + n; i++) {
      const c = buf[i]!;
      if (c >= 0x80) return null;
      h = Math.imul(h ^ c, 0x01000193);
    }
    const slot = (h >>> 0) & (internSlots - 1);
    const hit = internTable[slot];
    this.pos += n;
    if (hit !== undefined && hit.length === n) {
      let same = true;
      for (let i = 0; i < n; i++) {
        if (hit.charCodeAt(i) !== buf[start + i]) {
          same = false;
          break;
        }
      }
      if (same) return hit;
    }
    let s = '';
    for (let i = start; i < start + n; i++) s += String.fromCharCode(buf[i]!);
    internTable[slot] = s;
    return s;
  }

  /** A count of items each at least `itemBytesMin` long: bounded by what is left. */
  count(itemBytesMin: number): number {
    const n = this.uint();
    if (n * itemBytesMin > this.remaining) this.fail(`count ${n} exceeds remaining bytes`);
    return n;
  }

  end(): void {
    if (this.remaining !== 0) this.fail(`${this.remaining} trailing bytes`);
  }
}

/** `data`, copied when it is a view into a larger buffer: for bytes kept a long time, such
 * as a proposal, which stays in the in-memory log until a snapshot covers it. A view keeps
 * its whole buffer alive that long, and a small Buffer (Buffer.from of a string, say) is a
 * slice of one of Node's shared 8 KB pool slabs: a busy store's leaders held 844 such slabs
 * (6.9 MB) for entries of 150-250 bytes (a heap snapshot under bench stores load). */
export function ownBytes(data: Uint8Array): Uint8Array {
  return data.byteOffset === 0 && data.byteLength === data.buffer.byteLength ? data : new Uint8Array(data);
}
