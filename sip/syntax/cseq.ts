// CSeq = 1*DIGIT LWS Method (RFC 3261 §20.16). The number must fit 32 bits unsigned
// (§8.1.1.5); an overlarge one is a syntax error, not a wrap (RFC 4475 §3.1.2.4).

import { isDigit, isToken, isWs, skipWs } from './chars.js';
import { integerDigitsMax } from './limits.js';

export type CSeq = Readonly<{ seq: number; method: string }>;

export function parseCSeq(value: string): CSeq | null {
  let i = skipWs(value, 0);
  const start = i;
  while (i < value.length && isDigit(value.charCodeAt(i))) i++;
  if (i === start) return null;
  // Leading zeros are legal ("0009", RFC 4475 §3.1.1.1); count significant digits.
  let sig = start;
  while (sig < i - 1 && value.charCodeAt(sig) === 0x30) sig++;
  if (i - sig > integerDigitsMax) return null;
  const seq = Number(value.slice(sig, i));
  if (seq > 0xffffffff) return null;
  if (!isWs(value.charCodeAt(i))) return null;
  const method = value.slice(skipWs(value, i)).trimEnd();
  if (!isToken(method)) return null;
  return { seq, method };
}

export function formatCSeq(c: CSeq): string {
  return `${c.seq} ${c.method}`;
}
