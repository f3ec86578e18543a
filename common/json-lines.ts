// Reading a child process's stdout as JSON lines: every Ringfence role reports its
// `{"event":"ready",…}` line, and later events, that way. One reader for the launcher,
// the tests and the benches, so that a line split across two reads is never lost.
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';

export type JsonEvent = Record<string, unknown>;

/** Calls `onLine` with each complete line of `stream` and, when the line is a JSON object,
 * that object (null for plain output). */
export function onJsonLines(stream: Readable, onLine: (line: string, event: JsonEvent | null) => void): void {
  createInterface({ input: stream, crlfDelay: Infinity }).on('line', (line) => onLine(line, parseJsonObject(line)));
}

function parseJsonObject(line: string): JsonEvent | null {
  if (!line.startsWith('{')) return null;
  try {
    const v: unknown = JSON.parse(line);
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as JsonEvent) : null;
  } catch {
    return null;
  }
}
