// Roles report readiness and later events as JSON lines on stdout, and a pipe delivers
// them in arbitrary chunks. The old per-chunk reader of the call cluster dropped any line
// split across two chunks (both halves failed to parse); this reader must not.
import { PassThrough } from 'node:stream';
import t from 'tap';
import { onJsonLines, type JsonEvent } from '../../common/json-lines.js';

function collect(): { stream: PassThrough; seen: { line: string; event: JsonEvent | null }[] } {
  const stream = new PassThrough();
  const seen: { line: string; event: JsonEvent | null }[] = [];
  onJsonLines(stream, (line, event) => seen.push({ line, event }));
  return { stream, seen };
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

t.test('a line split across chunks arrives whole, once', async (t) => {
  const { stream, seen } = collect();
  stream.write('{"event":"rea');
  await tick();
  t.same(seen, [], 'nothing before the newline');
  stream.write('dy","udp":5060}\n{"event":"status","n":');
  await tick();
  stream.write('1}\r\n');
  await tick();
  t.same(seen.map((s) => s.event), [{ event: 'ready', udp: 5060 }, { event: 'status', n: 1 }]);
});

t.test('several lines in one chunk each arrive', async (t) => {
  const { stream, seen } = collect();
  stream.write('{"a":1}\n{"a":2}\n{"a":3}\n');
  await tick();
  t.same(seen.map((s) => s.event?.['a']), [1, 2, 3]);
});

t.test('plain output and JSON that is not an object give null, with the line', async (t) => {
  const { stream, seen } = collect();
  stream.write('listening on 5060\n[1,2]\n"text"\n{"broken":\n42\n');
  await tick();
  t.same(seen, [
    { line: 'listening on 5060', event: null },
    { line: '[1,2]', event: null },
    { line: '"text"', event: null },
    { line: '{"broken":', event: null },
    { line: '42', event: null },
  ]);
});

t.test('a last line without a newline is delivered when the stream ends', async (t) => {
  const { stream, seen } = collect();
  stream.end('{"event":"bye"}');
  await new Promise((r) => stream.on('end', r));
  await tick();
  t.same(seen.map((s) => s.event), [{ event: 'bye' }]);
});
