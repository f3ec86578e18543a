// Framing SIP over a byte stream (TCP/TLS; RFC 3261 §18.3): a message ends Content-Length
// bytes after the empty line that ends its headers, so Content-Length is mandatory. Bytes
// arrive in arbitrary chunks; push() returns every message completed so far.
//
// A message that is framed but malformed (missing Call-ID, bad URI, ...) comes back as an
// error result and the stream goes on: its length was known. When framing itself fails
// (no Content-Length, an unreadable or oversized one, a header section that never ends
// within the limit), the position of the next message is unknowable: the parser returns
// that error, becomes `closed`, and the transport must close the connection.
// CRLFs between messages are skipped; each CRLFCRLF seen there is counted as an RFC 5626
// keepalive ping, which the transport answers with a CRLF pong (takePings()).

import type { SipErrorCode } from './errors.js';
import { decodeHead, parseFramed, type ParseResult } from './parser.js';
import { parseContentLength } from './validate.js';
import { messageBytesMax } from './limits.js';

const CRLFCRLF = Buffer.from('\r\n\r\n', 'latin1');
const EMPTY = Buffer.alloc(0);

export class SipStreamParser {
  private pending: Buffer = EMPTY;
  private isClosed = false;
  private pings = 0;
  private crlfRun = 0;
  // For the incomplete message at the start of `pending`: how far the search for its
  // header end already got, or its whole length once known. Keeps many small chunks
  // from re-scanning the same bytes (each push stays linear in what it adds).
  private searchedBytes = 0;
  private knownLength: number | undefined;

  /** True after a framing error; push() then ignores input. */
  get closed(): boolean {
    return this.isClosed;
  }

  /** Keepalive pings (CRLFCRLF between messages) seen since the last call. */
  takePings(): number {
    const n = this.pings;
    this.pings = 0;
    return n;
  }

  /** Bytes held while waiting for the rest of a message. */
  get bufferedBytes(): number {
    return this.pending.length;
  }

  push(chunk: Uint8Array): ParseResult[] {
    if (this.isClosed || chunk.length === 0) return [];
    const view = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    let buf = this.pending.length === 0 ? view : Buffer.concat([this.pending, view]);
    const out: ParseResult[] = [];
    let pos = 0;
    for (;;) {
      pos = this.skipCrlf(buf, pos);
      if (pos >= buf.length) break;
      const r = this.frame(buf, pos);
      if (r === 'wait') break;
      if ('fatal' in r) {
        out.push({ ok: false, error: { code: r.fatal, reason: r.reason, canRespond: false } });
        this.isClosed = true;
        this.pending = EMPTY;
        return out;
      }
      out.push(parseFramed(buf.subarray(pos, pos + r.length), 'stream'));
      pos += r.length;
      this.crlfRun = 0;
      this.searchedBytes = 0;
      this.knownLength = undefined;
    }
    // Keep only the unconsumed tail, copied so the caller may reuse its chunk buffer.
    this.pending = pos >= buf.length ? EMPTY : Buffer.from(buf.subarray(pos));
    buf = EMPTY;
    return out;
  }

  private skipCrlf(buf: Buffer, pos: number): number {
    while (pos + 1 < buf.length && buf[pos] === 13 && buf[pos + 1] === 10) {
      pos += 2;
      if (++this.crlfRun === 2) { this.pings++; this.crlfRun = 0; }
    }
    return pos;
  }

  private frame(buf: Buffer, pos: number): 'wait' | { length: number } | { fatal: SipErrorCode; reason: string } {
    if (this.knownLength !== undefined) return buf.length - pos >= this.knownLength ? { length: this.knownLength } : 'wait';
    const searchEnd = Math.min(buf.length, pos + messageBytesMax);
    const end = buf.subarray(0, searchEnd).indexOf(CRLFCRLF, pos + this.searchedBytes);
    if (end < 0) {
      if (buf.length - pos >= messageBytesMax) return { fatal: 'SIP_ERR_MESSAGE_TOO_LARGE', reason: `No end of headers within ${messageBytesMax} bytes` };
      this.searchedBytes = Math.max(0, buf.length - pos - 3);
      return 'wait';
    }
    const head = decodeHead(buf, pos, end);
    if (head === null) return { fatal: 'SIP_ERR_BAD_ENCODING', reason: 'Header section is not valid UTF-8' };
    const values = contentLengthValues(head);
    if (values.length === 0) return { fatal: 'SIP_ERR_MISSING_CONTENT_LENGTH', reason: 'Missing Content-Length header on a stream transport' };
    if (values.length > 1) return { fatal: 'SIP_ERR_DUPLICATE_HEADER', reason: 'Multiple Content-Length headers' };
    const cl = parseContentLength(values[0] ?? '');
    if (typeof cl !== 'number') return { fatal: cl.code, reason: cl.reason };
    const length = end + 4 - pos + cl;
    if (length > messageBytesMax) return { fatal: 'SIP_ERR_MESSAGE_TOO_LARGE', reason: `Message larger than ${messageBytesMax} bytes` };
    if (buf.length - pos >= length) return { length };
    this.knownLength = length;
    return 'wait';
  }
}

/** Content-Length ("l") values in a header section, unfolded and trimmed. */
function contentLengthValues(head: string): string[] {
  const out: string[] = [];
  const lines = head.split('\r\n');
  let inCl = false;
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i] ?? '';
    const c0 = line.charCodeAt(0);
    if (c0 === 0x20 || c0 === 0x09) {
      if (inCl) out[out.length - 1] = `${out[out.length - 1] ?? ''} ${line}`.trim();
      continue;
    }
    const colon = line.indexOf(':');
    const name = colon < 0 ? '' : line.slice(0, colon).trim().toLowerCase();
    inCl = name === 'content-length' || name === 'l';
    if (inCl) out.push(line.slice(colon + 1).trim());
  }
  return out;
}
