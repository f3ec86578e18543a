// Builders shared by the storage tests.
import type { Entry } from '../../../raft/types.js';

export function entry(index: number, term: number, text = `e${index}t${term}`): Entry {
  return { index, term, kind: 'normal', timestampMs: 1_700_000_000_000 + index, data: new TextEncoder().encode(text) };
}

export function entries(from: number, to: number, term: number): Entry[] {
  const out: Entry[] = [];
  for (let i = from; i <= to; i++) out.push(entry(i, term));
  return out;
}
