// Character classes of RFC 3261 §25.1 as lookup tables, and the few scanners every
// header grammar shares (whitespace, token, quoted-string). Tables keep the hot path to
// one array read per character, with no regular expressions over untrusted input.

function table(chars: string, alnum: boolean): Uint8Array {
  const t = new Uint8Array(128);
  if (alnum) {
    for (let c = 0x30; c <= 0x39; c++) t[c] = 1;
    for (let c = 0x41; c <= 0x5a; c++) t[c] = 1;
    for (let c = 0x61; c <= 0x7a; c++) t[c] = 1;
  }
  for (let i = 0; i < chars.length; i++) t[chars.charCodeAt(i)] = 1;
  return t;
}

const TOKEN = table("-.!%*_+`'~", true);
const UNRESERVED = table("-_.!~*'()", true);
const USER_EXTRA = table('&=+$,;?/', false);
const PASSWORD_EXTRA = table('&=+$,', false);
const PARAM_EXTRA = table('[]/:&+$', false);
const HNV_EXTRA = table('[]/?:+$', false);
const RESERVED = table(';/?:@&=+$,', false);
const WORD = table('-.!%*_+`\'~()<>:\\"/[]?{}', true);
const HEX = table('', false);
for (const c of '0123456789abcdefABCDEF') HEX[c.charCodeAt(0)] = 1;

const inTable = (t: Uint8Array, c: number): boolean => c < 128 && t[c] === 1;

export const isTokenChar = (c: number): boolean => inTable(TOKEN, c);
export const isUnreservedChar = (c: number): boolean => inTable(UNRESERVED, c);
export const isUserChar = (c: number): boolean => inTable(UNRESERVED, c) || inTable(USER_EXTRA, c);
export const isPasswordChar = (c: number): boolean => inTable(UNRESERVED, c) || inTable(PASSWORD_EXTRA, c);
export const isParamChar = (c: number): boolean => inTable(UNRESERVED, c) || inTable(PARAM_EXTRA, c);
export const isHeaderNvChar = (c: number): boolean => inTable(UNRESERVED, c) || inTable(HNV_EXTRA, c);
export const isUricChar = (c: number): boolean => inTable(UNRESERVED, c) || inTable(RESERVED, c);
export const isWordChar = (c: number): boolean => inTable(WORD, c);
export const isHexChar = (c: number): boolean => inTable(HEX, c);
export const isDigit = (c: number): boolean => c >= 0x30 && c <= 0x39;
export const isAlpha = (c: number): boolean => (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
export const isWs = (c: number): boolean => c === 0x20 || c === 0x09;

/** True when every character of a non-empty string is a token character. */
export function isToken(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) if (!isTokenChar(s.charCodeAt(i))) return false;
  return true;
}

/** True for 1*DIGIT. */
export function isDigits(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) if (!isDigit(s.charCodeAt(i))) return false;
  return true;
}

export function skipWs(s: string, i: number): number {
  while (i < s.length && isWs(s.charCodeAt(i))) i++;
  return i;
}

export function scanToken(s: string, i: number): number {
  while (i < s.length && isTokenChar(s.charCodeAt(i))) i++;
  return i;
}

/** Scans a quoted-string starting at the opening DQUOTE at `i`. Returns the index after
 * the closing DQUOTE and the unescaped content, or null if unterminated or holding a raw
 * CR/LF (quoted-pair admits %x00-09 / %x0B-0C / %x0E-7F, RFC 3261 §25.1). */
export function scanQuoted(s: string, i: number): { end: number; text: string } | null {
  let text = '';
  let j = i + 1;
  let runStart = j;
  while (j < s.length) {
    const c = s.charCodeAt(j);
    if (c === 0x22) return { end: j + 1, text: text + s.slice(runStart, j) };
    if (c === 0x5c) {
      if (j + 1 >= s.length) return null;
      const n = s.charCodeAt(j + 1);
      if (n === 0x0a || n === 0x0d || n > 0x7f) return null;
      text += s.slice(runStart, j) + s[j + 1];
      j += 2;
      runStart = j;
      continue;
    }
    if (c === 0x0a || c === 0x0d) return null;
    j++;
  }
  return null;
}

/** Quotes a string for a quoted-string, escaping backslash and DQUOTE. */
export function quote(s: string): string {
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const ch = s[i];
    out += ch === '"' || ch === '\\' ? '\\' + ch : ch;
  }
  return out + '"';
}

/** Sets an own enumerable property even for names like "__proto__", so attacker-chosen
 * parameter names can never reach an object's prototype. */
export function setOwn<T>(obj: Record<string, T>, key: string, value: T): void {
  // Plain assignment creates an own property for every key but "__proto__".
  if (key === '__proto__') Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
  else obj[key] = value;
}

export function hasOwn(obj: object, key: string): boolean {
  return Object.hasOwn(obj, key);
}

/** Decodes %HH escapes; returns null on a malformed escape. Decoded bytes are taken as
 * UTF-8 where they form it, else as single code units (e.g. "%00", "%FF"). */
export function unescapePercent(s: string): string | null {
  if (s.indexOf('%') < 0) return s;
  const bytes: number[] = [];
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x25) {
      if (i + 2 >= s.length) return null;
      const h1 = s.charCodeAt(i + 1);
      const h2 = s.charCodeAt(i + 2);
      if (!isHexChar(h1) || !isHexChar(h2)) return null;
      bytes.push(parseInt(s.slice(i + 1, i + 3), 16));
      i += 2;
    } else if (c < 0x80) {
      bytes.push(c);
    } else {
      // Non-ASCII characters never pass the URI character checks; keep them intact anyway.
      for (const b of Buffer.from(s[i] ?? '', 'utf8')) bytes.push(b);
    }
  }
  const buf = Buffer.from(bytes);
  const utf8 = buf.toString('utf8');
  return Buffer.from(utf8, 'utf8').equals(buf) ? utf8 : buf.toString('latin1');
}

/** Escapes every character outside `allowed` as %HH of its UTF-8 bytes. (A value decoded
 * from non-UTF-8 escapes comes back as UTF-8 escapes: equal text, different bytes.) */
export function escapePercent(s: string, allowed: (c: number) => boolean): string {
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 128 && c !== 0x25 && allowed(c)) { out += s[i]; continue; }
    const cp = s.codePointAt(i) ?? c;
    const ch = String.fromCodePoint(cp);
    if (ch.length === 2) i++;
    for (const b of Buffer.from(ch, 'utf8')) out += '%' + (b < 16 ? '0' : '') + b.toString(16).toUpperCase();
  }
  return out;
}
