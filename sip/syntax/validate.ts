// Message-level checks after the header section is split into fields: mandatory
// headers (RFC 3261 §8.1.1, §8.2.2), single-valued headers appearing once, and the
// grammar of the headers every layer above relies on. First failure wins; the order
// puts the most useful diagnosis first (missing before malformed).

import type { SipErrorCode } from './errors.js';
import { canonicalHeaderName, isSingleHeader } from './headers.js';
import { isDigits, isToken, isWordChar } from './chars.js';
import { parseVia } from './via.js';
import { parseCSeq } from './cseq.js';
import { parseNameAddrDetail } from './name-addr.js';
import { parseParamsExact } from './params.js';
import { contentLengthMax, integerDigitsMax } from './limits.js';

export type Problem = { code: SipErrorCode; reason: string };

const MANDATORY: readonly [string, string][] = [
  ['via', 'Via'], ['from', 'From'], ['to', 'To'], ['call-id', 'Call-ID'], ['cseq', 'CSeq'],
];

/** `byKey` maps each header key (headerKey) to its values in order. */
export function validateHeaders(byKey: Map<string, string[]>, method: string | undefined): Problem | null {
  const missing = MANDATORY.filter(([key]) => !byKey.has(key)).map(([, name]) => name);
  if (missing.length > 0) {
    return { code: 'SIP_ERR_MISSING_HEADER', reason: `Missing ${missing.join(', ')} header${missing.length > 1 ? 's' : ''}` };
  }
  for (const [key, values] of byKey) {
    if (values.length > 1 && isSingleHeader(key)) {
      return { code: 'SIP_ERR_DUPLICATE_HEADER', reason: `Multiple ${canonicalHeaderName(key)} headers` };
    }
  }
  for (const [key, values] of byKey) {
    const check = CHECKS.get(key);
    if (check === undefined) continue;
    for (const v of values) {
      const p = check(v, values.length, method);
      if (p !== null) return p;
    }
  }
  return null;
}

type Check = (value: string, count: number, method: string | undefined) => Problem | null;

const nameAddr = (header: string, opts: { star?: boolean; brackets?: boolean }): Check => (v, count) => {
  const na = parseNameAddrDetail(v);
  // The problem is built only on failure, and without a closure: this runs for
  // From/To/Contact of every message.
  if (na === null) return badNameAddr(header);
  if (na.uri === '*') return opts.star === true && count === 1 ? null : badNameAddr(header);
  if (opts.brackets === true && !na.bracketed) return badNameAddr(header);
  return null;
};

function badNameAddr(header: string): Problem {
  return { code: 'SIP_ERR_BAD_NAME_ADDR', reason: `Malformed ${header} header` };
}

const tokenList = (header: string): Check => (v) =>
  v === '' || isToken(v) ? null : { code: 'SIP_ERR_BAD_HEADER_VALUE', reason: `Malformed ${header} header` };

const digits = (header: string): Check => (v) =>
  isDigits(v) ? null : { code: 'SIP_ERR_BAD_HEADER_VALUE', reason: `Malformed ${header} header` };

function callId(v: string): Problem | null {
  const at = v.indexOf('@');
  const ok = at < 0 ? isWord(v) : isWord(v.slice(0, at)) && isWord(v.slice(at + 1));
  return ok ? null : { code: 'SIP_ERR_BAD_CALL_ID', reason: 'Malformed Call-ID header' };
}

function isWord(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) if (!isWordChar(s.charCodeAt(i))) return false;
  return true;
}

function cseq(v: string, _count: number, method: string | undefined): Problem | null {
  const c = parseCSeq(v);
  if (c === null) {
    const number = /^[ \t]*0*([0-9]+)/.exec(v)?.[1];
    const overflow = number !== undefined && (number.length > 10 || Number(number) > 0xffffffff);
    return { code: 'SIP_ERR_BAD_CSEQ', reason: overflow ? 'CSeq number exceeds 2^32-1' : 'Malformed CSeq header' };
  }
  if (method !== undefined && c.method !== method) {
    return { code: 'SIP_ERR_CSEQ_METHOD_MISMATCH', reason: 'CSeq method does not match the request method' };
  }
  return null;
}

function maxForwards(v: string): Problem | null {
  if (isDigits(v)) {
    const sig = stripLeadingZeros(v);
    if (sig.length <= 3 && Number(sig) <= 255) return null;
  }
  return { code: 'SIP_ERR_BAD_MAX_FORWARDS', reason: isDigits(v) ? 'Max-Forwards exceeds 255' : 'Max-Forwards is not an integer 0-255' };
}

/** "007" → "7", "000" → "0" (keeps the last digit); digits only. */
function stripLeadingZeros(v: string): string {
  let i = 0;
  while (i < v.length - 1 && v.charCodeAt(i) === 0x30) i++;
  return i === 0 ? v : v.slice(i);
}

/** Content-Length = 1*DIGIT within contentLengthMax; returns the value or a problem. */
export function parseContentLength(v: string): number | Problem {
  if (!isDigits(v)) return { code: 'SIP_ERR_BAD_CONTENT_LENGTH', reason: 'Content-Length is not a decimal integer' };
  const sig = stripLeadingZeros(v);
  if (sig.length > integerDigitsMax || Number(sig) > contentLengthMax) {
    return { code: 'SIP_ERR_BODY_TOO_LARGE', reason: 'Content-Length exceeds the message size limit' };
  }
  return Number(sig);
}

const DAY = '(Mon|Tue|Wed|Thu|Fri|Sat|Sun)';
const MONTH = '(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)';
// Anchored, no nested quantifiers: linear on any input.
const RFC1123 = new RegExp(`^${DAY}, [0-9]{2} ${MONTH} [0-9]{4} [0-9]{2}:[0-9]{2}:[0-9]{2} GMT$`);

function date(v: string): Problem | null {
  return RFC1123.test(v) ? null : { code: 'SIP_ERR_BAD_DATE', reason: 'Date is not an RFC 1123 date in GMT' };
}

function contentType(v: string): Problem | null {
  const bad = { code: 'SIP_ERR_BAD_HEADER_VALUE' as const, reason: 'Malformed Content-Type header' };
  const slash = v.indexOf('/');
  if (slash <= 0) return bad;
  let end = slash + 1;
  while (end < v.length && v[end] !== ';' && v[end] !== ' ' && v[end] !== '\t') end++;
  if (!isToken(v.slice(0, slash).trimEnd()) || !isToken(v.slice(slash + 1, end).trimStart())) return bad;
  return parseParamsExact(v, end) === null ? bad : null;
}

function warning(v: string): Problem | null {
  const ok = v.length > 4 && isDigits(v.slice(0, 3)) && v[3] === ' ';
  return ok ? null : { code: 'SIP_ERR_BAD_HEADER_VALUE', reason: 'Malformed Warning header' };
}

function via(v: string): Problem | null {
  return parseVia(v) === null ? { code: 'SIP_ERR_BAD_VIA', reason: 'Malformed Via header' } : null;
}

const CHECKS: ReadonlyMap<string, Check> = new Map(Object.entries({
  'via': via,
  'from': nameAddr('From', {}),
  'to': nameAddr('To', {}),
  'contact': nameAddr('Contact', { star: true }),
  'route': nameAddr('Route', { brackets: true }),
  'record-route': nameAddr('Record-Route', { brackets: true }),
  'call-id': callId,
  'cseq': cseq,
  'max-forwards': maxForwards,
  'content-length': (v) => { const r = parseContentLength(v); return typeof r === 'number' ? null : r; },
  'content-type': contentType,
  'date': date,
  'expires': digits('Expires'),
  'min-expires': digits('Min-Expires'),
  'require': tokenList('Require'),
  'proxy-require': tokenList('Proxy-Require'),
  'supported': tokenList('Supported'),
  'unsupported': tokenList('Unsupported'),
  'allow': tokenList('Allow'),
  'warning': warning,
} satisfies Record<string, Check>));
