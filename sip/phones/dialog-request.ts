// Requests a phone sends inside a dialog it accepted as UAS (RFC 3261 §12.1.1, §12.2.1.1):
// the remote target is the INVITE's Contact, the route set its Record-Route in order,
// From/To are the INVITE's To (with our tag) and From swapped, and the CSeq is our own
// sequence. Pure: the INVITE and our dialog state in, a request and its next hop out.

import assert from 'node:assert';
import { getHeader, getHeaders, parseNameAddr, parseUri, splitList, type SipHeader, type SipRequest } from '../syntax/index.js';
import type { SipTarget } from '../transport/index.js';

export type UasDialog = Readonly<{
  /** The dialog-creating INVITE as received. */
  invite: SipRequest;
  /** The tag we put in To of our 2xx. */
  localTag: string;
  /** The peer's current Contact URI (the INVITE's, or a later target refresh's). */
  remoteTarget: string;
}>;

export type DialogRequest = Readonly<{ request: SipRequest; target: SipTarget }>;

/** The route set: Record-Route URIs in the order the INVITE carried them (§12.1.1). */
function routeSet(invite: SipRequest): string[] {
  const out: string[] = [];
  for (const v of getHeaders(invite, 'Record-Route')) {
    for (const item of splitList(v) ?? [v]) {
      const uri = parseNameAddr(item.trim())?.uri;
      if (uri !== undefined) out.push(uri);
    }
  }
  return out;
}

/** The INVITE's Contact URI, the dialog's first remote target; null if it has none. */
export function remoteTargetOf(req: SipRequest): string | null {
  const uri = parseNameAddr(getHeader(req, 'Contact') ?? '')?.uri;
  return uri === undefined || parseUri(uri) === null ? null : uri;
}

function hopOf(uri: string): SipTarget | null {
  const u = parseUri(uri);
  if (u === null || u.host === '') return null;
  // The phones speak UDP only; a peer that asks for TCP still gets UDP (its node listens on both).
  return { protocol: 'UDP', host: u.host, port: u.port ?? 5060 };
}

/** Builds `method` in the dialog with CSeq `cseq`; null when the remote target or the first
 * route has no host we can send to. The Via is left to the transaction layer. */
export function buildInDialogRequest(d: UasDialog, method: 'BYE' | 'OPTIONS', cseq: number): DialogRequest | null {
  assert(Number.isInteger(cseq) && cseq > 0, `bad CSeq ${cseq}`);
  const routes = routeSet(d.invite);
  const first = routes[0];
  // A loose router (;lr) keeps the remote target in the Request-URI; a strict router
  // wants its own URI there and the remote target as the last Route (§12.2.1.1).
  const strict = first !== undefined && !('lr' in (parseUri(first)?.params ?? {}));
  const uri = strict ? first : d.remoteTarget;
  const routeUris = strict ? [...routes.slice(1), d.remoteTarget] : routes;
  const target = hopOf(first ?? d.remoteTarget);
  if (target === null || parseUri(uri) === null) return null;
  const headers: SipHeader[] = [
    ...routeUris.map((r) => ({ name: 'Route', value: `<${r}>` })),
    { name: 'Max-Forwards', value: '70' },
    { name: 'From', value: `${getHeader(d.invite, 'To') ?? ''};tag=${d.localTag}` },
    { name: 'To', value: getHeader(d.invite, 'From') ?? '' },
    { name: 'Call-ID', value: getHeader(d.invite, 'Call-ID') ?? '' },
    { name: 'CSeq', value: `${cseq} ${method}` },
    { name: 'User-Agent', value: 'ringfence-phones' },
    { name: 'Content-Length', value: '0' },
  ];
  return { request: { kind: 'request', method, uri, headers, body: new Uint8Array(0) }, target };
}
