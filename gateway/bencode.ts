// Bencoding (BEP 3) as rtpengine's ng protocol uses it: byte strings, integers, lists and
// dictionaries. Strings are carried as UTF-8 JS strings because every ng value of interest
// (SDP, call-ids, tags, flags) is text. The decoder is strict about syntax, bounded in
// depth and item count, and never reads past the buffer; malformed input is a typed error.

import { GatewayError, GatewayErrorCode } from './errors.js';
import { bencodeDepthMax, bencodeItemsMax } from './limits.js';

export type BValue = string | number | readonly BValue[] | BDict;
export type BDict = { readonly [key: string]: BValue };

const C_I = 0x69, C_L = 0x6c, C_D = 0x64, C_E = 0x65, C_COLON = 0x3a, C_MINUS = 0x2d;

/** Encodes a value. Dict keys are written in sorted (bytewise) order as BEP 3 requires;
 * numbers must be safe integers. */
export function bencode(value: BValue): Buffer {
  const parts: Buffer[] = [];
  encodeInto(value, parts, 0);
  return Buffer.concat(parts);
}

function encodeInto(v: BValue, out: Buffer[], depth: number): void {
  if (depth > bencodeDepthMax) throw new GatewayError(GatewayErrorCode.BENCODE_TOO_DEEP, 'value nested too deeply');
  if (typeof v === 'string') {
    const b = Buffer.from(v, 'utf8');
    out.push(Buffer.from(`${b.length}:`, 'latin1'), b);
  } else if (typeof v === 'number') {
    if (!Number.isSafeInteger(v)) throw new GatewayError(GatewayErrorCode.BENCODE_MALFORMED, `not an integer: ${v}`);
    out.push(Buffer.from(`i${v}e`, 'latin1'));
  } else if (Array.isArray(v)) {
    out.push(Buffer.of(C_L));
    for (const x of v as readonly BValue[]) encodeInto(x, out, depth + 1);
    out.push(Buffer.of(C_E));
  } else {
    const d = v as BDict;
    out.push(Buffer.of(C_D));
    const keys = Object.keys(d).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    for (const k of keys) {
      const x = d[k];
      if (x === undefined) continue;
      encodeInto(k, out, depth + 1);
      encodeInto(x, out, depth + 1);
    }
    out.push(Buffer.of(C_E));
  }
}

/** Decodes exactly one value filling the whole buffer. */
export function bdecode(buf: Uint8Array): BValue {
  const r = { pos: 0 };
  const v = decodeAt(buf, r, 0);
  if (r.pos !== buf.length) malformed(`trailing bytes at ${r.pos}`);
  return v;
}

/** Decodes one value starting at `offset`; returns it and where it ended. Used by the ng
 * framing, where a cookie precedes the dictionary. */
export function bdecodePrefix(buf: Uint8Array, offset: number): { value: BValue; end: number } {
  const r = { pos: offset };
  const value = decodeAt(buf, r, 0);
  return { value, end: r.pos };
}

function malformed(why: string): never {
  throw new GatewayError(GatewayErrorCode.BENCODE_MALFORMED, `malformed bencode: ${why}`);
}

function decodeAt(buf: Uint8Array, r: { pos: number }, depth: number): BValue {
  if (depth > bencodeDepthMax) throw new GatewayError(GatewayErrorCode.BENCODE_TOO_DEEP, 'bencode nested too deeply');
  if (r.pos >= buf.length) malformed('unexpected end of input');
  const c = buf[r.pos]!;
  if (c === C_I) {
    r.pos++;
    const n = readInt(buf, r, C_E);
    return n;
  }
  if (c === C_L) {
    r.pos++;
    const items: BValue[] = [];
    for (;;) {
      if (r.pos >= buf.length) malformed('unterminated list');
      if (buf[r.pos] === C_E) { r.pos++; return items; }
      if (items.length >= bencodeItemsMax) malformed('list too long');
      items.push(decodeAt(buf, r, depth + 1));
    }
  }
  if (c === C_D) {
    r.pos++;
    const d: Record<string, BValue> = Object.create(null) as Record<string, BValue>;
    let count = 0;
    for (;;) {
      if (r.pos >= buf.length) malformed('unterminated dictionary');
      if (buf[r.pos] === C_E) { r.pos++; return d; }
      if (count++ >= bencodeItemsMax) malformed('dictionary too long');
      if (buf[r.pos]! < 0x30 || buf[r.pos]! > 0x39) malformed(`dictionary key is not a string at ${r.pos}`);
      const k = readString(buf, r);
      if (Object.prototype.hasOwnProperty.call(d, k)) malformed(`duplicate key ${JSON.stringify(k)}`);
      d[k] = decodeAt(buf, r, depth + 1);
    }
  }
  if (c >= 0x30 && c <= 0x39) return readString(buf, r);
  return malformed(`unexpected byte 0x${c.toString(16)} at ${r.pos}`);
}

/** Reads a decimal integer up to `terminator`. Rejects leading zeros and "-0" (BEP 3). */
function readInt(buf: Uint8Array, r: { pos: number }, terminator: number): number {
  const start = r.pos;
  let neg = false;
  if (buf[r.pos] === C_MINUS) { neg = true; r.pos++; }
  const digitsStart = r.pos;
  let n = 0;
  while (r.pos < buf.length && buf[r.pos]! >= 0x30 && buf[r.pos]! <= 0x39) {
    n = n * 10 + (buf[r.pos]! - 0x30);
    r.pos++;
  }
  const digits = r.pos - digitsStart;
  if (digits === 0) malformed(`integer without digits at ${start}`);
  if (digits > 1 && buf[digitsStart] === 0x30) malformed(`leading zero at ${start}`);
  if (neg && n === 0) malformed(`negative zero at ${start}`);
  if (!Number.isSafeInteger(n)) malformed(`integer out of range at ${start}`);
  if (r.pos >= buf.length || buf[r.pos] !== terminator) malformed(`bad integer terminator at ${r.pos}`);
  r.pos++;
  return neg ? -n : n;
}

function readString(buf: Uint8Array, r: { pos: number }): string {
  const at = r.pos;
  if (buf[r.pos] === C_MINUS) malformed(`negative string length at ${at}`);
  const len = readInt(buf, r, C_COLON);
  if (len > buf.length - r.pos) malformed(`string length ${len} past end of input at ${at}`);
  const s = Buffer.from(buf.buffer, buf.byteOffset + r.pos, len).toString('utf8');
  r.pos += len;
  return s;
}

/** Type guards for reading decoded dictionaries without casts at every call site. */
export function isBDict(v: BValue | undefined): v is BDict {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
export function isBList(v: BValue | undefined): v is readonly BValue[] {
  return Array.isArray(v);
}
