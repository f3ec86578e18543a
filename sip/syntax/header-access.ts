// Reading and changing a message's headers. Every change returns a new message; the
// input is never mutated (messages are shared, logged and replayed). Names match
// case-insensitively and compact forms are accepted ("i" finds Call-ID).

import type { SipHeader, SipMessage } from './message.js';
import { canonicalHeaderName, headerKey } from './headers.js';

export function getHeader(m: SipMessage, name: string): string | undefined {
  const key = headerKey(name);
  for (const h of m.headers) if (headerKey(h.name) === key) return h.value;
  return undefined;
}

export function getHeaders(m: SipMessage, name: string): string[] {
  const key = headerKey(name);
  const out: string[] = [];
  for (const h of m.headers) if (headerKey(h.name) === key) out.push(h.value);
  return out;
}

export function hasHeader(m: SipMessage, name: string): boolean {
  return getHeader(m, name) !== undefined;
}

function withList<M extends SipMessage>(m: M, headers: readonly SipHeader[]): M {
  return { ...m, headers };
}

/** Replaces every entry of `name` by one entry with `value`, at the first one's place
 * (appended when absent). */
export function setHeader<M extends SipMessage>(m: M, name: string, value: string): M {
  const key = headerKey(name);
  const h: SipHeader = { name: canonicalHeaderName(name), value };
  const out: SipHeader[] = [];
  let placed = false;
  for (const x of m.headers) {
    if (headerKey(x.name) !== key) out.push(x);
    else if (!placed) { out.push(h); placed = true; }
  }
  if (!placed) out.push(h);
  return withList(m, out);
}

export function removeHeader<M extends SipMessage>(m: M, name: string): M {
  const key = headerKey(name);
  return withList(m, m.headers.filter((x) => headerKey(x.name) !== key));
}

/** Inserts before the first entry of the same header (or first overall when absent):
 * how a proxy adds its Via or Record-Route on top. */
export function prependHeader<M extends SipMessage>(m: M, name: string, value: string): M {
  const key = headerKey(name);
  const h: SipHeader = { name: canonicalHeaderName(name), value };
  const at = m.headers.findIndex((x) => headerKey(x.name) === key);
  const out = [...m.headers];
  out.splice(at < 0 ? 0 : at, 0, h);
  return withList(m, out);
}

export function appendHeader<M extends SipMessage>(m: M, name: string, value: string): M {
  return withList(m, [...m.headers, { name: canonicalHeaderName(name), value }]);
}

export type HeaderChanges = Readonly<{
  remove?: readonly string[];
  set?: Readonly<Record<string, string>>;
  prepend?: readonly SipHeader[];
  append?: readonly SipHeader[];
}>;

/** Applies removals, then sets, then prepends, then appends. */
export function withHeaders<M extends SipMessage>(m: M, changes: HeaderChanges): M {
  let out = m;
  for (const n of changes.remove ?? []) out = removeHeader(out, n);
  for (const [n, v] of Object.entries(changes.set ?? {})) out = setHeader(out, n, v);
  for (const h of changes.prepend ?? []) out = prependHeader(out, h.name, h.value);
  for (const h of changes.append ?? []) out = appendHeader(out, h.name, h.value);
  return out;
}
