// Header names: the canonical spelling of each known header, the compact forms
// (RFC 3261 §7.3.3, §20 and extensions), which headers are comma-separated lists that
// the parser splits into one entry per value (§7.3.1), and which may appear only once.

import { headerNamesCachedMax } from './limits.js';
import { isToken } from './chars.js';

const CANONICAL = [
  'Accept', 'Accept-Contact', 'Accept-Encoding', 'Accept-Language', 'Alert-Info', 'Allow',
  'Allow-Events', 'Authentication-Info', 'Authorization', 'Call-ID', 'Call-Info', 'Contact',
  'Content-Disposition', 'Content-Encoding', 'Content-Language', 'Content-Length',
  'Content-Type', 'CSeq', 'Date', 'Diversion', 'Error-Info', 'Event', 'Expires', 'From',
  'History-Info', 'Identity', 'In-Reply-To', 'Max-Forwards', 'MIME-Version', 'Min-Expires',
  'Min-SE', 'Organization', 'P-Asserted-Identity', 'P-Preferred-Identity', 'Path', 'Priority',
  'Privacy', 'Proxy-Authenticate', 'Proxy-Authorization', 'Proxy-Require', 'RAck', 'Reason',
  'Record-Route', 'Refer-To', 'Referred-By', 'Reject-Contact', 'Replaces', 'Reply-To',
  'Request-Disposition', 'Require', 'Retry-After', 'Route', 'RSeq', 'Security-Client',
  'Security-Server', 'Security-Verify', 'Server', 'Service-Route', 'Session-Expires',
  'SIP-ETag', 'SIP-If-Match', 'Subject', 'Subscription-State', 'Supported', 'Timestamp', 'To',
  'Unsupported', 'User-Agent', 'Via', 'Warning', 'WWW-Authenticate',
] as const;

/** Compact forms (RFC 3261 §7.3.3 and the extensions that registered one). */
const COMPACT: Readonly<Record<string, string>> = {
  a: 'Accept-Contact', b: 'Referred-By', c: 'Content-Type', d: 'Request-Disposition',
  e: 'Content-Encoding', f: 'From', i: 'Call-ID', j: 'Reject-Contact', k: 'Supported',
  l: 'Content-Length', m: 'Contact', o: 'Event', r: 'Refer-To', s: 'Subject', t: 'To',
  u: 'Allow-Events', v: 'Via', x: 'Session-Expires', y: 'Identity',
};

/** Headers whose grammar is `#value` and that may be split at top-level commas. Not the
 * auth headers (their params hold commas, §7.3.1), not Date/Retry-After/unknown ones. */
const LIST_HEADERS = new Set([
  'accept', 'accept-contact', 'accept-encoding', 'accept-language', 'alert-info', 'allow',
  'allow-events', 'call-info', 'contact', 'content-encoding', 'content-language', 'diversion',
  'error-info', 'history-info', 'in-reply-to', 'p-asserted-identity', 'p-preferred-identity',
  'path', 'proxy-require', 'reason', 'record-route', 'reject-contact', 'require', 'route',
  'security-client', 'security-server', 'security-verify', 'service-route', 'supported',
  'unsupported', 'via', 'warning',
]);

/** Headers that may appear at most once (RFC 3261 §20 and RFC 4475 §3.3.8/§3.3.9). */
const SINGLE_HEADERS = new Set([
  'call-id', 'cseq', 'from', 'to', 'max-forwards', 'content-length', 'content-type',
  'expires', 'min-expires', 'date', 'mime-version', 'rseq', 'rack',
]);

/** What the parser and header access need to know about one header name. */
export type HeaderInfo = Readonly<{
  /** Canonical long form ("Via", "Call-ID"); an unknown name as written. */
  canonical: string;
  /** Lower-cased canonical name: the key two spellings of one header share. */
  key: string;
  list: boolean;
  single: boolean;
  /** The name as spelled is a token (RFC 3261 §25.1), so it may go on the wire. */
  token: boolean;
}>;

const BY_LOWER = new Map<string, string>();
for (const name of CANONICAL) BY_LOWER.set(name.toLowerCase(), name);
for (const [short, long] of Object.entries(COMPACT)) BY_LOWER.set(short, long);

function infoFor(name: string): HeaderInfo {
  const lower = name.toLowerCase();
  const canonical = BY_LOWER.get(lower) ?? name;
  const key = BY_LOWER.has(lower) ? canonical.toLowerCase() : lower;
  return { canonical, key, list: LIST_HEADERS.has(key), single: SINGLE_HEADERS.has(key), token: isToken(name) };
}

// Keyed by the name exactly as spelled, so the common spellings (canonical, lower-case,
// compact) cost one map lookup and no toLowerCase. Other spellings are remembered up to
// headerNamesCachedMax, after which they are computed each time (an attacker sending
// random header names cannot grow it without bound).
const BY_SPELLING = new Map<string, HeaderInfo>();
for (const lower of BY_LOWER.keys()) {
  const canon = BY_LOWER.get(lower) ?? lower;
  for (const spelling of [lower, canon, lower.toUpperCase()]) BY_SPELLING.set(spelling, infoFor(spelling));
}
const knownSpellings = BY_SPELLING.size;
const KNOWN_SPELLINGS = new Set(BY_SPELLING.keys());

/** A canonical, lower-case, upper-case or compact spelling of a known header. */
export function isKnownHeaderSpelling(name: string): boolean {
  return KNOWN_SPELLINGS.has(name);
}

export function headerInfo(name: string): HeaderInfo {
  let info = BY_SPELLING.get(name);
  if (info === undefined) {
    info = infoFor(name);
    if (BY_SPELLING.size < knownSpellings + headerNamesCachedMax) BY_SPELLING.set(name, info);
  }
  return info;
}

/** The canonical long form of a header name ("v" → "Via", "call-id" → "Call-ID");
 * unknown names come back unchanged. */
export function canonicalHeaderName(name: string): string {
  return headerInfo(name).canonical;
}

/** The key two header names share when they name the same header: the lower-cased
 * canonical name ("i" and "CALL-ID" both give "call-id"). */
export function headerKey(name: string): string {
  return headerInfo(name).key;
}

export function isListHeader(key: string): boolean {
  return LIST_HEADERS.has(key);
}

export function isSingleHeader(key: string): boolean {
  return SINGLE_HEADERS.has(key);
}

/** Splits a list header value at commas outside quoted strings and <...>; elements are
 * trimmed. Returns null if an element is empty (",," or a trailing comma) or a quote is
 * unterminated. An all-blank value yields [""] (e.g. an empty Supported). */
export function splitList(value: string): string[] | null {
  const out: string[] = [];
  let start = 0;
  let inQuote = false;
  let inAngle = false;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (inQuote) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inQuote = false;
    } else if (c === 0x22) {
      inQuote = true;
    } else if (c === 0x3c) {
      inAngle = true;
    } else if (c === 0x3e) {
      inAngle = false;
    } else if (c === 0x2c && !inAngle) {
      out.push(value.slice(start, i).trim());
      start = i + 1;
    }
  }
  if (inQuote) return null;
  out.push(value.slice(start).trim());
  if (out.length === 1) return out;
  for (const e of out) if (e.length === 0) return null;
  return out;
}
