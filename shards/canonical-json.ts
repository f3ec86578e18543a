// JSON with object keys in sorted order, so equal state always gives equal bytes
// (snapshots are compared byte for byte across replicas).
//
// Native JSON.stringify writes the bytes; a replacer hands it each object with its keys
// in order (most of ours already are: restored state comes from sorted JSON). Building
// the string in JS instead held every replica's event loop for 7-28 ms per shard snapshot
// of 50 agents under load (all three at once, then; a group's replicas now take turns,
// raft/group/snapshot-phase.ts): about 3× as long as this (on a real 88 KB snapshot,
// 7.5-12.4 ms cold and 3.4-3.9 ms warm, against 2.2-4.5 and 0.8-1.5 ms). V8 always lists
// integer-like keys ("7", "42") first and in numeric order, whatever order they were added
// in, so an object with such a key is written by hand for the whole value (rare: skill
// names and ids are not numbers).

import assert from 'node:assert';

class IndexLikeKey extends Error {}

export function canonicalJson(value: unknown): string {
  try {
    const text = JSON.stringify(value, sortedKeys);
    assert(typeof text === 'string', `canonicalJson: cannot encode ${typeof value}`);
    return text;
  } catch (e) {
    if (e instanceof IndexLikeKey) return canonicalJsonByHand(value);
    throw e;
  }
}

function sortedKeys(this: unknown, _key: string, value: unknown): unknown {
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
      assert(!Array.isArray(this), 'canonicalJson: cannot encode undefined in an array');
      return value;
    case 'object':
      break;
    default:
      assert.fail(`canonicalJson: cannot encode ${typeof value}`);
  }
  if (value === null || Array.isArray(value)) return value;
  const keys = Object.keys(value);
  let inOrder = true;
  for (let i = 0; i < keys.length; i++) {
    if (isIndexLike(keys[i]!)) throw new IndexLikeKey();
    if (i > 0 && keys[i - 1]! > keys[i]!) inOrder = false;
  }
  if (inOrder) return value;
  keys.sort();
  const record = value as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const k of keys) out[k] = record[k];
  return out;
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
