// JSON with object keys in sorted order, so equal state always gives equal bytes
// (snapshots are compared byte for byte across replicas).
//
// Native JSON.stringify writes the bytes, of the value itself where every object's keys
// are already in order, else of a copy of the parts that are not (sorted, and made
// without a prototype, so that a member named "__proto__" stays a member: assigning it to
// a plain object set the copy's prototype instead, and the member was silently lost). A
// sorting JSON.stringify replacer did the same with a call from native code into JS for
// each member: for a snapshot of 100 agents (35 KB) whose keys are all in order, as after
// a restore, this takes 226-239 µs against its 305-310 (plain JSON.stringify: 150-180);
// where agents' keys are out of order, as after their commands, the copies cost both the
// same (531-584 and 544-782 µs on a noisy machine). Building the string in JS instead held
// every replica's event loop for 7-28 ms per shard snapshot of 50 agents under load (all
// three at once, then; a group's replicas now take turns, raft/group/snapshot-phase.ts).
// V8 always lists integer-like keys ("7", "42") first and in numeric order, whatever
// order they were added in, so an object with such a key is written by hand for the
// whole value (rare: skill names and ids are not numbers).

import assert from 'node:assert';

class IndexLikeKey extends Error {}

export function canonicalJson(value: unknown): string {
  let ordered: unknown;
  try {
    ordered = inKeyOrder(value, false);
  } catch (e) {
    if (e instanceof IndexLikeKey) return canonicalJsonByHand(value);
    throw e;
  }
  const text = JSON.stringify(ordered);
  assert(typeof text === 'string', `canonicalJson: cannot encode ${typeof value}`);
  return text;
}

/** `value` with every object's keys in sorted order: the same value where they already
 * are, a copy of what is not (the members in order already are shared, not copied). */
function inKeyOrder(value: unknown, inArray: boolean): unknown {
  switch (typeof value) {
    case 'number':
      assert(Number.isFinite(value), 'canonicalJson: non-finite number');
      return value;
    case 'string':
    case 'boolean':
      return value;
    case 'undefined':
      // An object member that is undefined is left out, as JSON.stringify does; an array
      // slot cannot be (JSON.stringify would write null).
      assert(!inArray, 'canonicalJson: cannot encode undefined in an array');
      return value;
    case 'object':
      break;
    default:
      assert.fail(`canonicalJson: cannot encode ${typeof value}`);
  }
  if (value === null) return value;
  if (Array.isArray(value)) {
    let copy: unknown[] | null = null;
    for (let i = 0; i < value.length; i++) {
      const v: unknown = value[i];
      const ordered = inKeyOrder(v, true);
      if (copy === null && ordered !== v) copy = value.slice(0, i);
      if (copy !== null) copy.push(ordered);
    }
    return copy ?? value;
  }
  // What JSON.stringify would write for it (a Date's string).
  if (typeof (value as { toJSON?: unknown }).toJSON === 'function') return inKeyOrder((value as { toJSON(): unknown }).toJSON(), inArray);
  const record = value as Record<string, unknown>;
  const keys = Object.keys(record);
  let inOrder = true;
  for (let i = 0; i < keys.length; i++) {
    if (isIndexLike(keys[i]!)) throw new IndexLikeKey();
    if (i > 0 && keys[i - 1]! > keys[i]!) inOrder = false;
  }
  if (!inOrder) keys.sort();
  // No prototype: a member named __proto__ stays a member.
  let copy: Record<string, unknown> | null = inOrder ? null : Object.create(null);
  for (let i = 0; i < keys.length; i++) {
    const v = record[keys[i]!];
    const ordered = inKeyOrder(v, false);
    if (copy === null && ordered !== v) {
      copy = Object.create(null) as Record<string, unknown>;
      for (let j = 0; j < i; j++) copy[keys[j]!] = record[keys[j]!];
    }
    if (copy !== null) copy[keys[i]!] = ordered;
  }
  return copy ?? value;
}

/** A key V8 stores as an array index (a canonical integer below 2^32 - 1). */
function isIndexLike(key: string): boolean {
  const c = key.charCodeAt(0);
  if (!(c >= 48 && c <= 57)) return false;
  return /^(0|[1-9]\d{0,9})$/.test(key) && Number(key) < 4294967295;
}

function canonicalJsonByHand(value: unknown): string {
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number') {
    assert(Number.isFinite(value), 'canonicalJson: non-finite number');
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map(canonicalJsonByHand).join(',')}]`;
  assert(typeof value === 'object', `canonicalJson: cannot encode ${typeof value}`);
  const record = value as Record<string, unknown>;
  const parts: string[] = [];
  for (const key of Object.keys(record).sort()) {
    if (record[key] === undefined) continue;
    parts.push(`${JSON.stringify(key)}:${canonicalJsonByHand(record[key])}`);
  }
  return `{${parts.join(',')}}`;
}
