// Request-Line = Method SP Request-URI SP SIP-Version (RFC 3261 §7.1) and
// Status-Line = SIP-Version SP Status-Code SP Reason-Phrase (§7.2). Exactly one SP
// between elements and none at the end: RFC 4475 §3.1.2.8-10 allow rejecting the rest,
// and a strict start line is what keeps a proxy from forwarding ambiguous requests.

import type { SipErrorCode } from './errors.js';
import { isDigit, isDigits, isToken } from './chars.js';
import { parseUri, uriScheme, isAbsoluteUri } from './uri.js';
import { uriCharsMax } from './limits.js';

export type StartLine =
  | { kind: 'request'; method: string; uri: string }
  | { kind: 'response'; status: number; reason: string };

export type StartLineResult =
  | { ok: true; line: StartLine }
  /** `loose` is a best guess at method and URI, kept so a 400 can still be addressed. */
  | { ok: false; code: SipErrorCode; reason: string; loose?: { method: string; uri: string } };

function versionOf(v: string): 'ok' | 'other' | 'bad' {
  if (v === 'SIP/2.0') return 'ok';
  if (v.length < 5 || v.slice(0, 4).toUpperCase() !== 'SIP/') return 'bad';
  if (v.slice(4) === '2.0') return 'ok';
  const dot = v.indexOf('.', 4);
  return dot > 4 && isDigits(v.slice(4, dot)) && isDigits(v.slice(dot + 1)) ? 'other' : 'bad';
}

export function parseStartLine(line: string): StartLineResult {
  if (line.startsWith('SIP/') || (line.length >= 4 && line.slice(0, 4).toUpperCase() === 'SIP/')) return parseStatusLine(line);
  return parseRequestLine(line);
}

function parseStatusLine(line: string): StartLineResult {
  const sp1 = line.indexOf(' ');
  if (sp1 < 0) return { ok: false, code: 'SIP_ERR_BAD_START_LINE', reason: 'Malformed Status-Line' };
  const v = versionOf(line.slice(0, sp1));
  if (v !== 'ok') {
    return v === 'other'
      ? { ok: false, code: 'SIP_ERR_VERSION_NOT_SUPPORTED', reason: 'Unsupported SIP version in Status-Line' }
      : { ok: false, code: 'SIP_ERR_BAD_START_LINE', reason: 'Malformed Status-Line' };
  }
  const code = line.slice(sp1 + 1, sp1 + 4);
  const after = line.charCodeAt(sp1 + 4);
  if (code.length !== 3 || !isDigits(code) || isDigit(after) || Number(code) < 100 || Number(code) > 699) {
    return { ok: false, code: 'SIP_ERR_BAD_STATUS_CODE', reason: 'Status code is not a 3-digit 100-699 value' };
  }
  if (line.length > sp1 + 4 && after !== 0x20) {
    return { ok: false, code: 'SIP_ERR_BAD_START_LINE', reason: 'Malformed Status-Line' };
  }
  if (line.length === sp1 + 4) return { ok: false, code: 'SIP_ERR_BAD_START_LINE', reason: 'Status-Line lacks SP before Reason-Phrase' };
  const reason = line.slice(sp1 + 5);
  for (let i = 0; i < reason.length; i++) {
    const c = reason.charCodeAt(i);
    if ((c < 0x20 && c !== 0x09) || c === 0x7f) {
      return { ok: false, code: 'SIP_ERR_BAD_REASON_PHRASE', reason: 'Control character in Reason-Phrase' };
    }
  }
  return { ok: true, line: { kind: 'response', status: Number(code), reason } };
}

function looseRequest(line: string): { method: string; uri: string } | undefined {
  const parts = line.split(/[ \t]+/).filter((p) => p.length > 0);
  if (parts.length < 3 || !isToken(parts[0] ?? '') || versionOf(parts[parts.length - 1] ?? '') === 'bad') return undefined;
  return { method: parts[0] ?? '', uri: parts.slice(1, -1).join(' ') };
}

function badRequestLine(line: string, code: SipErrorCode, reason: string): StartLineResult {
  const loose = looseRequest(line);
  return loose === undefined ? { ok: false, code, reason } : { ok: false, code, reason, loose };
}

function parseRequestLine(line: string): StartLineResult {
  const sp1 = line.indexOf(' ');
  const sp2 = line.lastIndexOf(' ');
  if (sp1 <= 0 || sp2 === sp1) return badRequestLine(line, 'SIP_ERR_BAD_START_LINE', 'Malformed Request-Line');
  if (sp2 === line.length - 1) return badRequestLine(line, 'SIP_ERR_BAD_START_LINE', 'Trailing whitespace after SIP-Version');
  const method = line.slice(0, sp1);
  if (!isToken(method)) return badRequestLine(line, 'SIP_ERR_BAD_METHOD', 'Method is not a token');
  const version = versionOf(line.slice(sp2 + 1));
  if (version === 'bad') return badRequestLine(line, 'SIP_ERR_BAD_START_LINE', 'Malformed SIP-Version in Request-Line');
  const uri = line.slice(sp1 + 1, sp2);
  if (uri.length === 0 || uri.charCodeAt(0) === 0x20 || uri.charCodeAt(uri.length - 1) === 0x20) {
    return badRequestLine(line, 'SIP_ERR_BAD_START_LINE', 'Request-Line elements must be separated by exactly one SP');
  }
  if (version === 'other') return badRequestLine(line, 'SIP_ERR_VERSION_NOT_SUPPORTED', 'Unsupported SIP version in Request-Line');
  const uriError = checkRequestUri(uri);
  if (uriError !== null) return badRequestLine(line, 'SIP_ERR_BAD_REQUEST_URI', uriError);
  return { ok: true, line: { kind: 'request', method, uri } };
}

function checkRequestUri(uri: string): string | null {
  if (uri.length > uriCharsMax) return 'Request-URI too long';
  for (let i = 0; i < uri.length; i++) {
    const c = uri.charCodeAt(i);
    if (c <= 0x20 || c >= 0x7f) return 'Request-URI contains whitespace or a control character';
  }
  if (uri.charCodeAt(0) === 0x3c) return 'Request-URI must not be enclosed in <>';
  const scheme = uriScheme(uri);
  if (scheme === 'sip' || scheme === 'sips' || scheme === 'tel') {
    const u = parseUri(uri);
    if (u === null) return 'Malformed Request-URI';
    // Table 1 of RFC 3261 §19.1.1: URI headers are not allowed in a Request-URI.
    if (Object.keys(u.headers).length > 0) return 'Request-URI must not contain URI headers';
    return null;
  }
  return isAbsoluteUri(uri) ? null : 'Malformed Request-URI';
}
