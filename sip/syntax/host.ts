// Hosts as RFC 3261 §25.1 writes them: hostname, IPv4address, IPv6reference. Parsed
// hosts are kept WITHOUT the IPv6 brackets (what a socket wants); formatHost adds them.

import { isAlpha, isDigit, isDigits, isHexChar } from './chars.js';

export function isIPv4(s: string): boolean {
  // One pass, no split: four groups of 1-3 digits, each at most 255.
  let groups = 0;
  let digits = 0;
  let value = 0;
  for (let i = 0; i <= s.length; i++) {
    const c = i === s.length ? 0x2e : s.charCodeAt(i);
    if (c === 0x2e) {
      if (digits === 0 || value > 255) return false;
      groups++;
      digits = 0;
      value = 0;
    } else if (c >= 0x30 && c <= 0x39) {
      if (++digits > 3) return false;
      value = value * 10 + (c - 0x30);
    } else {
      return false;
    }
  }
  return groups === 4;
}

/** IPv6address (RFC 3261 §25.1 / RFC 4291 text forms), without brackets. */
export function isIPv6(s: string): boolean {
  if (s.length < 2 || s.length > 45) return false;
  let groups = s;
  const lastColon = s.lastIndexOf(':');
  if (lastColon >= 0 && s.indexOf('.', lastColon) > 0) {
    if (!isIPv4(s.slice(lastColon + 1))) return false;
    groups = s.slice(0, lastColon + 1) + '0:0'; // the dotted quad fills two groups
  }
  const dbl = groups.indexOf('::');
  if (dbl >= 0 && groups.indexOf('::', dbl + 1) >= 0) return false;
  const halves = dbl >= 0 ? [groups.slice(0, dbl), groups.slice(dbl + 2)] : [groups];
  let count = 0;
  for (const h of halves) {
    if (h.length === 0) continue;
    for (const g of h.split(':')) {
      if (g.length === 0 || g.length > 4) return false;
      for (let i = 0; i < g.length; i++) if (!isHexChar(g.charCodeAt(i))) return false;
      count++;
    }
  }
  return dbl >= 0 ? count < 8 : count === 8;
}

/** hostname = *( domainlabel "." ) toplabel [ "." ]; labels are alphanum and inner "-".
 * One pass over the characters; an all-numeric dotted name must be valid IPv4. */
export function isHostname(s: string): boolean {
  const n = s.endsWith('.') ? s.length - 1 : s.length;
  if (n <= 0 || n > 255) return false;
  let labelStart = 0;
  let topAlpha = false;
  for (let i = 0; i <= n; i++) {
    const c = i === n ? 0x2e : s.charCodeAt(i);
    if (c === 0x2e) {
      const len = i - labelStart;
      if (len === 0 || len > 63 || s.charCodeAt(labelStart) === 0x2d || s.charCodeAt(i - 1) === 0x2d) return false;
      topAlpha = isAlpha(s.charCodeAt(labelStart));
      labelStart = i + 1;
    } else if (!isAlpha(c) && !isDigit(c) && c !== 0x2d) {
      return false;
    }
  }
  return topAlpha || isIPv4(s);
}

/** Parses "host" or "[v6]" text; returns the bare host or null. */
export function parseHost(s: string): string | null {
  if (s.startsWith('[')) {
    if (!s.endsWith(']')) return null;
    const inner = s.slice(1, -1);
    return isIPv6(inner) ? inner : null;
  }
  return isHostname(s) ? s : null;
}

export function formatHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

/** Parses a port (1*DIGIT, 0-65535). */
export function parsePort(s: string): number | null {
  if (!isDigits(s) || s.length > 5) return null;
  const n = Number(s);
  return n <= 65535 ? n : null;
}
