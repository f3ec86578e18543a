// Hand-built SIP messages for the transport and transaction tests: just enough headers
// for a valid request (RFC 3261 §8.1.1) so each test states only what it varies.

import type { SipHeader, SipRequest, SipResponse } from '../../../sip/syntax/message.js';

export type RequestSpec = Readonly<{
  method?: string;
  uri?: string;
  /** Full Via value; null for none (the layer then adds its own). */
  via?: string | null;
  branch?: string;
  callId?: string;
  cseq?: number;
  fromTag?: string;
  toTag?: string;
  extra?: readonly SipHeader[];
}>;

let counter = 0;

export function makeRequest(spec: RequestSpec = {}): SipRequest {
  const method = spec.method ?? 'INVITE';
  const n = ++counter;
  const branch = spec.branch ?? `z9hG4bKtest${n}`;
  const via = spec.via === undefined ? `SIP/2.0/UDP 10.0.0.1:5060;branch=${branch}` : spec.via;
  const headers: SipHeader[] = [];
  if (via !== null) headers.push({ name: 'Via', value: via });
  headers.push(
    { name: 'Max-Forwards', value: '70' },
    { name: 'From', value: `<sip:caller@example.com>;tag=${spec.fromTag ?? `from${n}`}` },
    { name: 'To', value: `<sip:agent@example.com>${spec.toTag ? `;tag=${spec.toTag}` : ''}` },
    { name: 'Call-ID', value: spec.callId ?? `call-${n}@example.com` },
    { name: 'CSeq', value: `${spec.cseq ?? 1} ${method}` },
    ...(spec.extra ?? []),
  );
  return { kind: 'request', method, uri: spec.uri ?? 'sip:agent@example.com', headers, body: new Uint8Array(0) };
}

/** A response to `req` built by hand (independent of the syntax module's buildResponse). */
export function makeResponse(req: SipRequest, status: number, reason: string, toTag = 'uas1'): SipResponse {
  const headers: SipHeader[] = [];
  for (const h of req.headers) {
    const lower = h.name.toLowerCase();
    if (lower === 'via' || lower === 'from' || lower === 'call-id' || lower === 'cseq') headers.push(h);
    if (lower === 'to') headers.push({ name: 'To', value: status > 100 && !/;tag=/.test(h.value) ? `${h.value};tag=${toTag}` : h.value });
  }
  return { kind: 'response', status, reason, headers, body: new Uint8Array(0) };
}

export function header(m: { headers: readonly SipHeader[] }, name: string): string | undefined {
  return m.headers.find((h) => h.name.toLowerCase() === name.toLowerCase())?.value;
}
