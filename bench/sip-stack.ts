// In-process CPU micro-benchmark of the SIP stack: what one call costs the parser, the
// serializer and the transaction layer, without sockets, Raft or a second process.
// Messages are the ones a call really carries: SIPp's caller.xml INVITE/ACK/BYE, the
// 100/180/200 a B2BUA answers with, the B2BUA's own INVITE towards an agent phone.
// CPU time (process.cpuUsage, user + system) over a fixed count of iterations; each
// section runs `--runs` times and reports the median and the minimum (the machine is shared).
//
//   npm run bench -- sip-stack [--runs 7] [--scale 1] [--only 'call flow'] [--json]
//   node --cpu-prof --cpu-prof-dir=tmp/prof --import tsx bench/cli.ts sip-stack --runs 1 --scale 4

import { parseMessage, serializeMessage, buildResponse, getHeader, type SipRequest } from '../sip/syntax/index.js';
import { FakeClock } from '../sip/transport/fake-clock.js';
import { LoopNetwork } from '../sip/transport/loop-transport.js';
import { TransactionLayer, type ServerTransaction } from '../sip/transaction/transaction-layer.js';
import { intFlag, UsageError } from '../common/args.js';
import type { BenchArgs, BenchReport } from './bench-args.js';

const crlf = (lines: readonly string[], body = ''): Buffer =>
  Buffer.from(lines.join('\r\n') + '\r\n\r\n' + body, 'utf8');

const SDP = [
  'v=0', 'o=sipp 53655765 2353687637 IN IP4 127.0.0.1', 's=-', 'c=IN IP4 127.0.0.1', 't=0 0',
  'm=audio 6000 RTP/AVP 8 0 101', 'a=rtpmap:8 PCMA/8000', 'a=rtpmap:0 PCMU/8000',
  'a=rtpmap:101 telephone-event/8000', 'a=fmtp:101 0-15', 'a=sendrecv', '',
].join('\r\n');

const CALLER = 'From: "sipp" <sip:caller17@127.0.0.1:5070>;tag=4242SIPpTag0017';
const VIA_SIPP = 'Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-4242-17-0;rport';
const CALL_ID = 'Call-ID: 17-4242@127.0.0.1';

/** The messages of one call as the SIP node sees them on the caller leg and the agent leg. */
export const CALL_MESSAGES: Readonly<Record<string, Buffer>> = {
  'INVITE (SIPp)': crlf([
    'INVITE sip:8000@127.0.0.1:5060 SIP/2.0', VIA_SIPP, CALLER, 'To: <sip:8000@127.0.0.1:5060>', CALL_ID,
    'CSeq: 1 INVITE', 'Contact: <sip:caller17@127.0.0.1:5070>', 'Max-Forwards: 70', 'User-Agent: ringfence-sipp-caller',
    'Content-Type: application/sdp', `Content-Length: ${Buffer.byteLength(SDP)}`,
  ], SDP),
  'INVITE (B2BUA to agent)': crlf([
    'INVITE sip:1001@127.0.0.1:6001 SIP/2.0',
    'Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK5f0e3c4b2a1908d7e6f5a4b3;rport',
    'Max-Forwards: 70', 'From: <sip:8000@127.0.0.1:5060>;tag=a1b2c3d4e5f60718', 'To: <sip:1001@127.0.0.1:6001>',
    'Call-ID: 0f1e2d3c4b5a69788796a5b4c3d2e1f0@127.0.0.1', 'CSeq: 1 INVITE', 'Contact: <sip:ringfence@127.0.0.1:5060>',
    'Content-Type: application/sdp', `Content-Length: ${Buffer.byteLength(SDP)}`,
  ], SDP),
  '100 Trying': crlf([
    'SIP/2.0 100 Trying', `${VIA_SIPP.replace(';rport', ';rport=5070;received=127.0.0.1')}`, CALLER,
    'To: <sip:8000@127.0.0.1:5060>', CALL_ID, 'CSeq: 1 INVITE', 'Content-Length: 0',
  ]),
  '180 Ringing': crlf([
    'SIP/2.0 180 Ringing', `${VIA_SIPP.replace(';rport', ';rport=5070;received=127.0.0.1')}`, CALLER,
    'To: <sip:8000@127.0.0.1:5060>;tag=9f8e7d6c5b4a3928', CALL_ID, 'CSeq: 1 INVITE',
    'Contact: <sip:ringfence@127.0.0.1:5060>', 'Content-Length: 0',
  ]),
  '200 OK (INVITE, SDP)': crlf([
    'SIP/2.0 200 OK', `${VIA_SIPP.replace(';rport', ';rport=5070;received=127.0.0.1')}`, CALLER,
    'To: <sip:8000@127.0.0.1:5060>;tag=9f8e7d6c5b4a3928', CALL_ID, 'CSeq: 1 INVITE',
    'Contact: <sip:ringfence@127.0.0.1:5060>', 'Content-Type: application/sdp', `Content-Length: ${Buffer.byteLength(SDP)}`,
  ], SDP),
  'ACK (SIPp)': crlf([
    'ACK sip:ringfence@127.0.0.1:5060 SIP/2.0', 'Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-4242-17-5;rport', CALLER,
    'To: <sip:8000@127.0.0.1:5060>;tag=9f8e7d6c5b4a3928', CALL_ID, 'CSeq: 1 ACK',
    'Contact: <sip:caller17@127.0.0.1:5070>', 'Max-Forwards: 70', 'Content-Length: 0',
  ]),
  'BYE (SIPp)': crlf([
    'BYE sip:ringfence@127.0.0.1:5060 SIP/2.0', 'Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-4242-17-7;rport', CALLER,
    'To: <sip:8000@127.0.0.1:5060>;tag=9f8e7d6c5b4a3928', CALL_ID, 'CSeq: 2 BYE',
    'Contact: <sip:caller17@127.0.0.1:5070>', 'Max-Forwards: 70', 'Content-Length: 0',
  ]),
  '200 OK (BYE)': crlf([
    'SIP/2.0 200 OK', 'Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-4242-17-7;rport=5070;received=127.0.0.1', CALLER,
    'To: <sip:8000@127.0.0.1:5060>;tag=9f8e7d6c5b4a3928', CALL_ID, 'CSeq: 2 BYE', 'Content-Length: 0',
  ]),
};

function cpuMicros(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}

/** CPU µs per operation of `body(count)` over `runs` runs (after one warm-up): the
 * median, and the minimum, which is the steadier figure on a machine shared with other
 * processes (interference only ever adds CPU time: cache misses, frequency drops). */
function measure(runs: number, count: number, body: (count: number) => void): { median: number; min: number } {
  body(Math.max(1, Math.floor(count / 4)));
  const perOp: number[] = [];
  for (let r = 0; r < runs; r++) {
    const t0 = cpuMicros();
    body(count);
    perOp.push((cpuMicros() - t0) / count);
  }
  perOp.sort((a, b) => a - b);
  return { median: perOp[Math.floor(perOp.length / 2)] ?? NaN, min: perOp[0] ?? NaN };
}

let sink = 0;

/** Message `name` of call number `n`: Call-ID, tags, branches and caller differ per call
 * (as with SIPp), so no parse memo can answer for a message it has not seen. */
export function callMessage(name: string, n: number): Buffer {
  const text = (CALL_MESSAGES[name] ?? Buffer.alloc(0)).toString('utf8');
  return Buffer.from(text.replaceAll('caller17', `caller${n}`).replaceAll('17-4242', `${n}-4242`)
    .replaceAll('4242SIPpTag0017', `4242SIPpTag00${n}`).replaceAll('-4242-17-', `-4242-${n}-`)
    .replaceAll('9f8e7d6c5b4a3928', (0x9f8e7d6c5b + n).toString(16))
    .replaceAll('5f0e3c4b2a1908d7e6f5a4b3', `${n}f0e3c4b2a1908d7e6f5a4b3`)
    .replaceAll('a1b2c3d4e5f60718', `${n}b2c3d4e5f60718`).replaceAll('0f1e2d3c4b5a69788796a5b4c3d2e1f0', `${n}f1e2d3c4b5a69788796a5b4c3d2e1f0`), 'utf8');
}

/** Distinct calls the parse sections cycle through: enough that every value misses the
 * parse memos (parseMemoEntriesMax) — the cost of a message never seen before. */
const VARIANTS = 4096;
const variantCache = new Map<string, Buffer[]>();
function variants(name: string): Buffer[] {
  let v = variantCache.get(name);
  if (v === undefined) {
    v = [];
    for (let n = 0; n < VARIANTS; n++) v.push(callMessage(name, 1000 + n));
    variantCache.set(name, v);
  }
  return v;
}

function parseAll(count: number): void {
  const names = Object.keys(CALL_MESSAGES);
  for (let i = 0; i < count; i++) {
    for (const name of names) {
      const bytes = variants(name)[i % VARIANTS]!;
      const r = parseMessage(bytes);
      if (!r.ok) throw new Error(`bench message does not parse: ${r.error.reason}`);
      sink += r.message.headers.length;
    }
  }
}

function serializeAll(count: number): void {
  const all = Object.values(CALL_MESSAGES).map((b) => {
    const r = parseMessage(b);
    if (!r.ok) throw new Error(r.error.reason);
    return r.message;
  });
  for (let i = 0; i < count; i++) for (const m of all) sink += serializeMessage(m).length;
}

/** What a TU reads from a request on every call: the headers the B2BUA looks at. */
function headerReads(count: number): void {
  const r = parseMessage(CALL_MESSAGES['INVITE (SIPp)']!);
  if (!r.ok) throw new Error(r.error.reason);
  for (let i = 0; i < count; i++) {
    for (const name of ['Call-ID', 'From', 'To', 'CSeq', 'Contact', 'Content-Type', 'Via']) sink += (getHeader(r.message, name) ?? '').length;
  }
}

const sdpBody = Buffer.from(SDP);

/**
 * Full call flows between two transaction layers over a LoopNetwork (real bytes, real
 * parsing, Via stamping): INVITE → 100/180/200 (SDP) → ACK (stateless) → BYE → 200.
 * Time moves on a FakeClock; every batch of calls is followed by 40 s of logical time so
 * that timers K/J/D end the transactions and the tables stay small.
 */
export function callFlows(count: number): void {
  const clock = new FakeClock();
  const net = new LoopNetwork({ clock, logPacketsMax: 16 });
  const a = { host: '127.0.0.1', port: 5070 };
  const b = { host: '127.0.0.1', port: 5060 };
  const ta = net.attach(a);
  const tb = net.attach(b);
  const uas = new TransactionLayer({
    transports: [tb],
    timers: clock,
    user: {
      onRequest: (tx: ServerTransaction, req: SipRequest) => {
        if (req.method === 'INVITE') {
          tx.respond(buildResponse(req, 180, 'Ringing', { toTag: '9f8e7d6c5b4a3928' }));
          tx.respond(buildResponse(req, 200, 'OK', {
            toTag: '9f8e7d6c5b4a3928',
            headers: [{ name: 'Contact', value: '<sip:uas@127.0.0.1:5060>' }, { name: 'Content-Type', value: 'application/sdp' }],
            body: sdpBody,
          }));
        } else {
          tx.respond(buildResponse(req, 200, 'OK'));
        }
      },
      onAck: () => { sink++; },
    },
  });
  const uac = new TransactionLayer({ transports: [ta], timers: clock, user: { onRequest: () => undefined } });
  const target = { protocol: 'UDP' as const, ...b };
  let done = 0;
  const startCall = (n: number): void => {
    const callId = `${n}-4242@127.0.0.1`;
    const base = [
      { name: 'From', value: `"sipp" <sip:caller${n}@127.0.0.1:5070>;tag=4242SIPpTag00${n}` },
      { name: 'To', value: '<sip:8000@127.0.0.1:5060>' },
      { name: 'Call-ID', value: callId },
    ];
    const invite: SipRequest = {
      kind: 'request', method: 'INVITE', uri: 'sip:8000@127.0.0.1:5060',
      headers: [...base, { name: 'CSeq', value: '1 INVITE' }, { name: 'Contact', value: `<sip:caller${n}@127.0.0.1:5070>` },
        { name: 'Max-Forwards', value: '70' }, { name: 'User-Agent', value: 'ringfence-sipp-caller' },
        { name: 'Content-Type', value: 'application/sdp' }],
      body: sdpBody,
    };
    uac.sendRequest(invite, target, (e) => {
      if (e.type !== 'final' || e.retransmission || e.response.status !== 200) return;
      const to = getHeader(e.response, 'To') ?? '';
      const inDialog = [base[0]!, { name: 'To', value: to }, base[2]!];
      const ack: SipRequest = {
        kind: 'request', method: 'ACK', uri: 'sip:uas@127.0.0.1:5060',
        headers: [{ name: 'Via', value: `SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-ack-${n};rport` }, ...inDialog,
          { name: 'CSeq', value: '1 ACK' }, { name: 'Max-Forwards', value: '70' }],
        body: new Uint8Array(0),
      };
      void uac.sendStateless(ack, target);
      const bye: SipRequest = {
        kind: 'request', method: 'BYE', uri: 'sip:uas@127.0.0.1:5060',
        headers: [...inDialog, { name: 'CSeq', value: '2 BYE' }, { name: 'Max-Forwards', value: '70' }],
        body: new Uint8Array(0),
      };
      uac.sendRequest(bye, target, (f) => { if (f.type === 'final') done++; });
    });
  };
  const batch = 100;
  for (let started = 0; started < count;) {
    const n = Math.min(batch, count - started);
    for (let i = 0; i < n; i++) startCall(started + i);
    started += n;
    for (let k = 0; k < 20; k++) clock.advance(0);
    clock.advance(40_000);
  }
  if (done !== count) throw new Error(`only ${done} of ${count} calls completed`);
  uac.close();
  uas.close();
}

export type SipStackReport = Readonly<Record<string, number>>;

/** `only`: run the sections whose name contains it (e.g. "call flow", for a profile). */
export function runSipStackBench(runs: number, scale: number, log: (line: string) => void, only = ''): SipStackReport {
  const msgCount = Object.keys(CALL_MESSAGES).length;
  const report: Record<string, number> = {};
  const wanted = (name: string): boolean => name.includes(only);
  const row = (name: string, m: { median: number; min: number }, unit: string, per = 1): void => {
    const median = m.median / per;
    const min = m.min / per;
    report[name] = Number(median.toFixed(3));
    report[`${name} (min)`] = Number(min.toFixed(3));
    log(`${name.padEnd(36)} ${median.toFixed(2).padStart(8)} µs median ${min.toFixed(2).padStart(8)} µs min  ${unit}`);
  };
  for (const name of Object.keys(CALL_MESSAGES)) {
    const count = Math.round(4000 * scale);
    if (!wanted(`parse ${name}`)) continue;
    const all = variants(name);
    row(`parse ${name}`, measure(runs, count, (c) => {
      for (let i = 0; i < c; i++) {
        const r = parseMessage(all[i % VARIANTS]!);
        if (!r.ok) throw new Error(`${name} does not parse: ${r.error.reason}`);
        sink += 1;
      }
    }), 'per message');
  }
  if (wanted('parse (all 8')) row('parse (all 8, mean)', measure(runs, Math.round(1000 * scale), parseAll), 'per message', msgCount);
  if (wanted('serialize')) row('serialize (all 8, mean)', measure(runs, Math.round(1000 * scale), serializeAll), 'per message', msgCount);
  if (wanted('getHeader')) row('getHeader x7 on an INVITE', measure(runs, Math.round(5000 * scale), headerReads), 'per 7 reads');
  if (wanted('call flow')) row('call flow (2 transaction layers)', measure(runs, Math.round(500 * scale), callFlows), 'per call (both sides, 10 messages)');
  return report;
}

/** The `npm run bench -- sip-stack` entry (bench-args.ts contract). */
export async function runBench(args: BenchArgs): Promise<BenchReport> {
  const runs = intFlag(args.flags.get('runs'), 'runs', 1, 1000, 7);
  const scaleText = args.flags.get('scale') ?? '1';
  const scale = Number(scaleText);
  if (!Number.isFinite(scale) || scale <= 0 || scale > 1000) throw new UsageError(`--scale must be a number above 0 and at most 1000, got ${JSON.stringify(scaleText)}`);
  return { bench: 'sip-stack', runs, scale, usPer: runSipStackBench(runs, scale, args.log, args.flags.get('only') ?? '') };
}
