// Bytes → SipMessage (RFC 3261 §7). One pass: find the end of the header section in the
// buffer, decode that section once (ASCII fast path, else strict UTF-8), cut it into
// lines, unfold continuation lines (§7.3.1), split list headers at top-level commas,
// check the message, then take the body by Content-Length (§18.3). No regular expression
// ever sees the whole message, nothing recurses, and every size is bounded by limits.ts.
// parseMessage never throws: a parser bug surfaces as SIP_ERR_INTERNAL.

import { isAscii } from 'node:buffer';
import type { SipHeader, SipMessage, SipRequest } from './message.js';
import type { SipErrorCode, SipSyntaxError } from './errors.js';
import { parseStartLine, type StartLine } from './start-line.js';
import { headerInfo, isKnownHeaderSpelling, splitList } from './headers.js';
import { parseContentLength, validateHeaders, type Problem } from './validate.js';
import { isToken } from './chars.js';
import { parseVia } from './via.js';
import { headerCountMax, lineBytesMax, messageBytesMax } from './limits.js';

export type ParseResult =
  | Readonly<{ ok: true; message: SipMessage }>
  | Readonly<{ ok: false; error: SipSyntaxError }>;

/** 'datagram': UDP rules (Content-Length optional, extra bytes dropped, fewer bytes an
 * error). 'stream': the caller framed exactly one message by Content-Length. */
export type Framing = 'datagram' | 'stream';

const CRLFCRLF = Buffer.from('\r\n\r\n', 'latin1');
const EMPTY_BODY = new Uint8Array(0);
const utf8Fatal = new TextDecoder('utf-8', { fatal: true });

/** Parses one UDP datagram (or any buffer holding one whole message). */
export function parseMessage(bytes: Uint8Array): ParseResult {
  return parseFramed(bytes, 'datagram');
}

export function parseFramed(bytes: Uint8Array, framing: Framing): ParseResult {
  try {
    return parseUnsafe(bytes, framing);
  } catch (e) {
    return fail('SIP_ERR_INTERNAL', `Parser error: ${e instanceof Error ? e.message : String(e)}`);
  }
}

function fail(code: SipErrorCode, reason: string, partial?: SipRequest): ParseResult {
  return partial === undefined
    ? { ok: false, error: { code, reason, canRespond: false } }
    : { ok: false, error: { code, reason, canRespond: true, partial } };
}

/** Index just past any CRLFs that precede a start line (§7.5: ignored on streams; on a
 * datagram they are harmless keepalive residue). */
export function skipLeadingCrlf(buf: Uint8Array, i: number): number {
  while (i + 1 < buf.length && buf[i] === 13 && buf[i + 1] === 10) i += 2;
  return i;
}

export function decodeHead(buf: Buffer, start: number, end: number): string | null {
  if (isAscii(buf.subarray(start, end))) return buf.toString('latin1', start, end);
  try {
    return utf8Fatal.decode(buf.subarray(start, end));
  } catch {
    return null;
  }
}

function parseUnsafe(bytes: Uint8Array, framing: Framing): ParseResult {
  if (bytes.length > messageBytesMax) return fail('SIP_ERR_MESSAGE_TOO_LARGE', `Message larger than ${messageBytesMax} bytes`);
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const start = skipLeadingCrlf(buf, 0);
  if (start >= buf.length) return fail('SIP_ERR_EMPTY_MESSAGE', 'Empty message');
  const end = buf.indexOf(CRLFCRLF, start);
  if (end < 0) return fail('SIP_ERR_HEADERS_INCOMPLETE', 'Header section not terminated by an empty line');
  const head = decodeHead(buf, start, end);
  if (head === null) return fail('SIP_ERR_BAD_ENCODING', 'Header section is not valid UTF-8');
  return parseHead(head, buf, end + 4, framing);
}

type RawHeader = { name: string; value: string };

type HeadLines = { startLine: string; raw: RawHeader[]; problem: Problem | null } | { fatal: Problem };

/** Cuts the decoded header section into the start line and unfolded header fields. */
function cutLines(head: string): HeadLines {
  let problem: Problem | null = null;
  const raw: RawHeader[] = [];
  let pos = 0;
  let startLine: string | undefined;
  let dropContinuation = false;
  const bare = hasBareCrOrLf(head);
  // Works on indices into `head`: name and value are cut straight out of it, trimmed,
  // without an intermediate string per line.
  while (pos <= head.length) {
    let eol = head.indexOf('\r\n', pos);
    if (eol < 0) eol = head.length;
    const from = pos;
    pos = eol + 2;
    if (eol - from > lineBytesMax) return { fatal: { code: 'SIP_ERR_LINE_TOO_LONG', reason: `Line longer than ${lineBytesMax} bytes` } };
    if (bare) {
      const line = head.slice(from, eol);
      if (line.indexOf('\r') >= 0 || line.indexOf('\n') >= 0) {
        return { fatal: { code: 'SIP_ERR_BAD_LINE_ENDING', reason: 'Bare CR or LF in the header section' } };
      }
    }
    if (startLine === undefined) { startLine = head.slice(from, eol); continue; }
    const c0 = from < eol ? head.charCodeAt(from) : -1;
    if (c0 === 0x20 || c0 === 0x09) {
      const last = raw[raw.length - 1];
      if (last === undefined || dropContinuation) {
        problem ??= { code: 'SIP_ERR_BAD_HEADER_LINE', reason: 'Continuation line without a header field' };
        continue;
      }
      last.value = trimWsEnd(last.value) + ' ' + trimWs(head.slice(from, eol));
      if (last.value.length > lineBytesMax) return { fatal: { code: 'SIP_ERR_LINE_TOO_LONG', reason: `${last.name} header longer than ${lineBytesMax} bytes` } };
      continue;
    }
    let colon = head.indexOf(':', from);
    if (colon >= eol) colon = -1;
    let nameEnd = colon;
    while (nameEnd > from && isWsCode(head.charCodeAt(nameEnd - 1))) nameEnd--;
    const name = colon < 0 ? '' : head.slice(from, nameEnd);
    if (colon < 0 || !isHeaderName(name)) {
      problem ??= { code: 'SIP_ERR_BAD_HEADER_LINE', reason: colon < 0 ? 'Header line without a colon' : 'Malformed header name' };
      dropContinuation = true;
      continue;
    }
    dropContinuation = false;
    let vs = colon + 1;
    while (vs < eol && isWsCode(head.charCodeAt(vs))) vs++;
    let ve = eol;
    while (ve > vs && isWsCode(head.charCodeAt(ve - 1))) ve--;
    // Trimmed here already (a continuation joins trimmed parts the same way), so the
    // trim in buildHeaders finds nothing to cut.
    raw.push({ name, value: head.slice(vs, ve) });
    if (raw.length > headerCountMax) return { fatal: { code: 'SIP_ERR_TOO_MANY_HEADERS', reason: `More than ${headerCountMax} header fields` } };
  }
  return { startLine: startLine ?? '', raw, problem };
}

function isWsCode(c: number): boolean {
  return c === 0x20 || c === 0x09;
}

/** True when some CR is not followed by LF or some LF is not preceded by CR: the
 * per-line check for them (and its error precedence) is only needed then. */
function hasBareCrOrLf(head: string): boolean {
  let crs = 0;
  for (let i = head.indexOf('\r'); i >= 0; i = head.indexOf('\r', i + 1)) {
    if (head.charCodeAt(i + 1) !== 0x0a) return true;
    crs++;
  }
  let lfs = 0;
  for (let i = head.indexOf('\n'); i >= 0; i = head.indexOf('\n', i + 1)) lfs++;
  return lfs !== crs;
}

/** A known spelling is a token by construction; anything else is checked. */
function isHeaderName(name: string): boolean {
  return isKnownHeaderSpelling(name) || isToken(name);
}

const LIST_ERROR: Readonly<Record<string, SipErrorCode>> = { via: 'SIP_ERR_BAD_VIA', contact: 'SIP_ERR_BAD_NAME_ADDR', route: 'SIP_ERR_BAD_NAME_ADDR', 'record-route': 'SIP_ERR_BAD_NAME_ADDR' };

/** Canonical names, trimmed values, list headers split (RFC 3261 §7.3.1). */
function buildHeaders(raw: RawHeader[]): { headers: SipHeader[]; byKey: Map<string, string[]>; problem: Problem | null } | { fatal: Problem } {
  const headers: SipHeader[] = [];
  const byKey = new Map<string, string[]>();
  let problem: Problem | null = null;
  for (const r of raw) {
    const info = headerInfo(r.name);
    const name = info.canonical;
    const key = info.key;
    const value = trimWs(r.value);
    let values = byKey.get(key);
    if (values === undefined) byKey.set(key, (values = []));
    const parts = info.list ? splitList(value) : null;
    if (parts === null || parts.length === 1) {
      if (parts === null && info.list) {
        problem ??= { code: Object.hasOwn(LIST_ERROR, key) ? (LIST_ERROR[key] ?? 'SIP_ERR_BAD_HEADER_VALUE') : 'SIP_ERR_BAD_HEADER_VALUE', reason: `Malformed ${name} header (empty list element or unbalanced quote)` };
      }
      const one = parts === null ? value : (parts[0] ?? value);
      // The raw field becomes the header: one object per field instead of two.
      r.name = name;
      r.value = one;
      headers.push(r);
      values.push(one);
    } else {
      for (const p of parts) {
        headers.push({ name, value: p });
        values.push(p);
      }
    }
    if (headers.length > headerCountMax) return { fatal: { code: 'SIP_ERR_TOO_MANY_HEADERS', reason: `More than ${headerCountMax} header fields` } };
  }
  return { headers, byKey, problem };
}

function parseHead(head: string, buf: Buffer, bodyStart: number, framing: Framing): ParseResult {
  const cut = cutLines(head);
  if ('fatal' in cut) return fail(cut.fatal.code, cut.fatal.reason);
  const sl = parseStartLine(cut.startLine);
  let problem: Problem | null = sl.ok ? null : { code: sl.code, reason: sl.reason };
  problem ??= cut.problem;
  const built = buildHeaders(cut.raw);
  if ('fatal' in built) return fail(built.fatal.code, built.fatal.reason);
  problem ??= built.problem;
  const { headers, byKey } = built;
  const line: StartLine | undefined = sl.ok ? sl.line : undefined;
  const method = line?.kind === 'request' ? line.method : !sl.ok ? sl.loose?.method : undefined;
  problem ??= validateHeaders(byKey, line?.kind === 'request' ? line.method : undefined);

  const available = buf.length - bodyStart;
  let body: Uint8Array = EMPTY_BODY;
  const cl = byKey.get('content-length');
  const clValue = cl !== undefined && cl.length === 1 ? parseContentLength(cl[0] ?? '') : undefined;
  if (typeof clValue === 'number') {
    if (clValue > available) problem ??= { code: 'SIP_ERR_BODY_TRUNCATED', reason: `Content-Length ${clValue} exceeds the ${available} body bytes received` };
    else body = copyBytes(buf, bodyStart, bodyStart + clValue);
  } else if (cl === undefined) {
    if (framing === 'stream') problem ??= { code: 'SIP_ERR_MISSING_CONTENT_LENGTH', reason: 'Missing Content-Length header on a stream transport' };
    else body = copyBytes(buf, bodyStart, buf.length);
  }

  if (problem !== null) {
    const looseUri = line?.kind === 'request' ? line.uri : !sl.ok ? sl.loose?.uri : undefined;
    const partial = method !== undefined && looseUri !== undefined ? respondable(method, looseUri, headers, byKey) : undefined;
    return fail(problem.code, problem.reason, partial);
  }
  if (line === undefined) return fail('SIP_ERR_INTERNAL', 'Start line neither parsed nor rejected');
  const message: SipMessage = line.kind === 'request'
    ? { kind: 'request', method: line.method, uri: line.uri, headers, body }
    : { kind: 'response', status: line.status, reason: line.reason, headers, body };
  return { ok: true, message };
}

/** The request a 400 can be built from: a request other than ACK whose top Via parses,
 * since that Via alone says where the answer goes (RFC 3261 §18.2.2). From, To, Call-ID
 * and CSeq are copied into the 400 as they are, even when absent, repeated or malformed:
 * RFC 4475 §3.1.2 and §3.3.1 ask for a 400 ("ideally") rather than silence, and a sender
 * whose request lacks them cannot match any answer anyway, but its operator can read one.
 * ACK never gets a response (RFC 3261 §17.2.3). */
function respondable(method: string, uri: string, headers: readonly SipHeader[], byKey: Map<string, string[]>): SipRequest | undefined {
  if (method === 'ACK') return undefined;
  const via = byKey.get('via')?.[0];
  if (via === undefined || parseVia(via) === null) return undefined;
  return { kind: 'request', method, uri, headers: answerHeaders(headers), body: EMPTY_BODY };
}

/** The fields a 400 copies (all Vias in order, the first of each other one), so that a
 * request repeating a header many times earns an answer no bigger than needed. */
function answerHeaders(headers: readonly SipHeader[]): SipHeader[] {
  const kept: SipHeader[] = [];
  const seen = new Set<string>();
  for (const h of headers) {
    const key = headerInfo(h.name).key;
    if (key === 'via') kept.push(h);
    else if (ANSWER_COPIED.has(key) && !seen.has(key)) { seen.add(key); kept.push(h); }
  }
  return kept;
}

const ANSWER_COPIED: ReadonlySet<string> = new Set(['from', 'to', 'call-id', 'cseq']);

function copyBytes(buf: Buffer, from: number, to: number): Uint8Array {
  // A copy: the transport may reuse its receive buffer once we return.
  return new Uint8Array(buf.subarray(from, to));
}

function trimWsEnd(s: string): string {
  let e = s.length;
  while (e > 0 && (s.charCodeAt(e - 1) === 0x20 || s.charCodeAt(e - 1) === 0x09)) e--;
  return e === s.length ? s : s.slice(0, e);
}

function trimWs(s: string): string {
  let b = 0;
  while (b < s.length && (s.charCodeAt(b) === 0x20 || s.charCodeAt(b) === 0x09)) b++;
  return trimWsEnd(b === 0 ? s : s.slice(b));
}
