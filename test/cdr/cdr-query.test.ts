// GET /v1/cdrs's reading of a CDR file (sip/node/cdr-query.ts) on a real file: records in
// file order, filters on start time, service and agent, a limit that stops the read (the
// first match past it sets `truncated`), a torn last line skipped and counted, a missing
// file read as empty; and the query parser's 400s, each naming its parameter.
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import type { CdrRecord } from '../../sip/node/cdr.js';
import { CdrWriter } from '../../sip/node/cdr.js';
import { isProblem, parseCdrQuery, parseInstant, readCdrs, type CdrFilter } from '../../sip/node/cdr-query.js';
import { tempDir } from '../support/temp-dir.js';

const cdr = (i: number, o: Partial<CdrRecord> = {}): CdrRecord => ({
  node: 'sipA', callId: `c${i}`, service: i % 2 === 0 ? '7001' : '7002', skill: 'sales', from: 'sip:caller@127.0.0.1', dn: i % 3 === 0 ? null : `90${i % 3}`,
  agentCallId: null, startedAt: new Date(Date.UTC(2026, 11, 6, 5, 0, i)).toISOString(), answeredAt: null, endedAt: new Date(Date.UTC(2026, 11, 6, 5, 1, i)).toISOString(),
  setupMs: null, talkMs: 0, queuedMs: 0, outcome: 'completed', endedBy: 'caller', attempts: [], ...o,
});
const all: CdrFilter = { fromMs: null, toMs: null, service: null, dn: null, limit: 1000 };

t.test('a file written by CdrWriter, read back with filters and a limit', async (t) => {
  const path = join(tempDir(t, 'cdr'), 'cdr.jsonl');
  const w = new CdrWriter(path);
  for (let i = 1; i <= 12; i++) w.write(cdr(i));
  await w.flush();
  t.same((await readCdrs(path, all)).cdrs.map((c) => c.callId), Array.from({ length: 12 }, (_, i) => `c${i + 1}`), 'everything, in file order');
  t.same((await readCdrs(path, { ...all, service: '7001' })).cdrs.map((c) => c.callId), ['c2', 'c4', 'c6', 'c8', 'c10', 'c12']);
  t.same((await readCdrs(path, { ...all, dn: '901' })).cdrs.map((c) => c.callId), ['c1', 'c4', 'c7', 'c10']);
  const from = Date.UTC(2026, 11, 6, 5, 0, 5);
  t.same((await readCdrs(path, { ...all, fromMs: from, toMs: from + 3000 })).cdrs.map((c) => c.callId), ['c5', 'c6', 'c7'], 'from inclusive, to exclusive, on startedAt');
  const limited = await readCdrs(path, { ...all, limit: 4, service: '7002' });
  t.same([limited.cdrs.map((c) => c.callId), limited.truncated], [['c1', 'c3', 'c5', 'c7'], true], 'stops at the limit, says more matched');
  const exact = await readCdrs(path, { ...all, limit: 6, service: '7002' });
  t.equal(exact.truncated, false, 'exactly the limit matched: not truncated');
  appendFileSync(path, '{"node":"sipA","callId":"torn');
  const torn = await readCdrs(path, all);
  t.same([torn.cdrs.length, torn.skippedLines], [12, 1], 'a torn last line is skipped and counted');
  await w.close();
  t.same(await readCdrs(join(tempDir(t, 'none'), 'absent.jsonl'), all), { cdrs: [], truncated: false, skippedLines: 0 }, 'no file yet: no records');
});

t.test('the query: instants as ISO-8601 or epoch ms; each bad parameter named', async (t) => {
  t.equal(parseInstant('1765000000000'), 1765000000000);
  t.equal(parseInstant('2026-12-06T05:00:00Z'), Date.UTC(2026, 11, 6, 5));
  t.equal(parseInstant('2026-12-06T06:00:00+01:00'), Date.UTC(2026, 11, 6, 5));
  t.equal(parseInstant('2026-12-06'), Date.UTC(2026, 11, 6));
  for (const bad of ['yesterday', '2026-13-01T00:00:00Z', '12/06/2026', '-5', '1e12', '']) t.equal(parseInstant(bad), null, JSON.stringify(bad));
  const field = (q: Record<string, string>): string | null => {
    const r = parseCdrQuery(q);
    return isProblem(r) ? r.field : null;
  };
  t.equal(field({}), null);
  t.same(parseCdrQuery({ from: '1000', to: '2000', service: '7001', dn: '9001', limit: '5' }), { fromMs: 1000, toMs: 2000, service: '7001', dn: '9001', limit: 5 });
  t.equal(field({ from: 'soon' }), 'querystring.from');
  t.equal(field({ to: 'later' }), 'querystring.to');
  t.equal(field({ from: '2000', to: '2000' }), 'querystring.to');
  t.equal(field({ limit: '0' }), 'querystring.limit');
  t.equal(field({ limit: '1001' }), 'querystring.limit');
  t.equal(field({ limit: '2.5' }), 'querystring.limit');
  t.equal(field({ service: 'a b' }), 'querystring.service');
  t.equal(field({ dn: '9'.repeat(65) }), 'querystring.dn');
});
