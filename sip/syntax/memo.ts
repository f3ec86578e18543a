// A bounded memo for the pure parsers of header values (Via, name-addr, URI). One value
// is parsed several times on its way through the layers: the parser validates a Via, the
// transport stamps it, the transaction layer keys on it, response routing reads it; the
// B2BUA reads From/To tags and Contact URIs that validation already parsed. Results are
// shared between callers, so they are readonly by type and never mutated (Object.freeze
// cost more than the memo saved on a miss); the memo is emptied when full (no LRU
// bookkeeping on the hot path) and long values are not kept, so memory stays bounded.

import { parseMemoEntriesMax, parseMemoKeyCharsMax } from './limits.js';

/** `seed` records a result computed another way (it must equal what `parse` returns). */
export type Memo<T> = Readonly<{ get: (value: string) => T | null; seed: (value: string, result: T) => void; clear: () => void }>;

const ALL: Array<Memo<object>> = [];

/** Empties every parse memo (tests use it to compare a memoized result with a fresh parse). */
export function clearParseMemos(): void {
  for (const m of ALL) m.clear();
}

export function memoize<T extends object>(parse: (value: string) => T | null): Memo<T> {
  const table = new Map<string, T | null>();
  const memo: Memo<T> = {
    get(value) {
      if (value.length > parseMemoKeyCharsMax) return parse(value);
      const hit = table.get(value);
      if (hit !== undefined) return hit;
      const result = parse(value);
      if (table.size >= parseMemoEntriesMax) table.clear();
      table.set(value, result);
      return result;
    },
    seed(value, result) {
      if (value.length > parseMemoKeyCharsMax) return;
      if (table.size >= parseMemoEntriesMax) table.clear();
      table.set(value, result);
    },
    clear() {
      table.clear();
    },
  };
  ALL.push(memo as Memo<object>);
  return memo;
}
