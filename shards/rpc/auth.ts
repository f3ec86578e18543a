// Mutual authentication of a shard client RPC connection, before any request is read: an
// HMAC-SHA256 challenge-response in which the DIALER proves first.
//
//   dialer   → listener  HELLO     { hello: protocol, principal, nonce: dialerNonce }
//   listener → dialer    CHALLENGE { challenge: protocol, replica: listenerId, nonce: listenerNonce }
//   dialer   → listener  PROOF     { proof: mac('dialer') }
//   listener → dialer    ACCEPT    { accept: mac('listener') }   (or REFUSED, then close)
//
// mac(role) = HMAC(key, protocol | role | principal | listenerId | dialerNonce |
// listenerNonce), every field length-prefixed; key = deriveKey(rootSecret, 'shard-rpc',
// principal). The listener sends no MAC before it has checked the dialer's, so a stranger
// who dials a replica learns nothing it could test guesses of the secret against; each
// side's fresh 32-byte nonce prevents replay; the role label stops one side's MAC being
// reflected back as the other's; the principal and the replica id are both bound in, so a
// proof for one principal or one replica is worth nothing for another. Comparisons are
// timing-safe. Frames are the RPC's own (length-prefixed JSON), kept under
// rpcHandshakeFrameBytesMax until the handshake completes.
//
// Why HMAC over the shared secret rather than TLS: every process already holds the
// cluster's root secret (the Raft transport authenticates the same way), so this adds no
// key material to issue, rotate or expire, and no certificate authority to run; it
// authenticates both ends and binds the principal, which is what the authorisation needs.
// It does not encrypt: the shard RPC carries digest HA1s to SIP nodes in clear, so it
// belongs on a private network, as the Raft and admin ports do (README, Security).
//
// Principals: `sip:<id>` (a SIP node; owner id <id>), `replica:<id>` (a shard replica's
// own client), `store:<id>` (a store's own client: one process hosting one replica of
// many shards), `admin` (the replicas' and stores' admin REST), `launcher` (npm start,
// tests, benches). On a store's listener `listenerId` is the store id: one handshake
// covers every shard the store hosts.
// A process holding the root secret can derive any principal's key: principals separate
// what each role may do (policy.ts) against mistakes and a stranger, not against a
// compromised process of the cluster.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { deriveKey } from '../../common/keys.js';
import { rpcPrincipalIdCharsMax } from '../limits.js';

export const SHARD_RPC_PROTOCOL = 'ringfence-shard-rpc/1';
export const RPC_NONCE_BYTES = 32;
export const RPC_MAC_BYTES = 32;

export type Principal = Readonly<{ kind: 'admin' } | { kind: 'launcher' } | { kind: 'sip'; id: string } | { kind: 'replica'; id: string } | { kind: 'store'; id: string }>;

const idPattern = new RegExp(`^[\\x21-\\x7e]{1,${rpcPrincipalIdCharsMax}}$`);

/** `admin`, `launcher`, `sip:<id>`, `replica:<id>` or `store:<id>` (id: 1..128
 * printable ASCII, no spaces); null for anything else. */
export function parsePrincipal(name: unknown): Principal | null {
  if (typeof name !== 'string') return null;
  if (name === 'admin' || name === 'launcher') return { kind: name };
  const colon = name.indexOf(':');
  if (colon < 0) return null;
  const kind = name.slice(0, colon);
  const id = name.slice(colon + 1);
  if (!idPattern.test(id)) return null;
  if (kind === 'sip' || kind === 'replica' || kind === 'store') return { kind, id };
  return null;
}

export function principalName(p: Principal): string {
  return p.kind === 'admin' || p.kind === 'launcher' ? p.kind : `${p.kind}:${p.id}`;
}

/** The key one principal authenticates with (the same in every process holding `rootSecret`). */
export function principalKey(rootSecret: string, principal: string): Buffer {
  return deriveKey(rootSecret, 'shard-rpc', principal);
}

export function newRpcNonce(): Buffer {
  return randomBytes(RPC_NONCE_BYTES);
}

export type RpcMacInput = Readonly<{
  role: 'dialer' | 'listener';
  principal: string;
  listenerId: string;
  dialerNonce: Uint8Array;
  listenerNonce: Uint8Array;
}>;

function lengthPrefixed(parts: readonly Uint8Array[]): Buffer {
  const out: Buffer[] = [];
  for (const p of parts) {
    const len = Buffer.allocUnsafe(4);
    len.writeUInt32BE(p.length, 0);
    out.push(len, Buffer.from(p.buffer, p.byteOffset, p.byteLength));
  }
  return Buffer.concat(out);
}

export function computeRpcMac(key: Uint8Array, m: RpcMacInput): Buffer {
  const text = (s: string): Buffer => Buffer.from(s, 'utf8');
  const input = lengthPrefixed([text(SHARD_RPC_PROTOCOL), text(m.role), text(m.principal), text(m.listenerId), m.dialerNonce, m.listenerNonce]);
  return createHmac('sha256', key).update(input).digest();
}

export function rpcMacMatches(key: Uint8Array, m: RpcMacInput, got: Uint8Array): boolean {
  const want = computeRpcMac(key, m);
  return got.length === want.length && timingSafeEqual(want, got);
}

// ---- Handshake messages (JSON in the RPC's frames) ----

export type RpcHello = Readonly<{ principal: string; nonce: Buffer }>;
export type RpcChallenge = Readonly<{ replica: string; nonce: Buffer }>;

export function encodeRpcHello(principal: string, nonce: Uint8Array): Buffer {
  return Buffer.from(JSON.stringify({ hello: SHARD_RPC_PROTOCOL, principal, nonce: b64(nonce) }));
}

export function encodeRpcChallenge(replica: string, nonce: Uint8Array): Buffer {
  return Buffer.from(JSON.stringify({ challenge: SHARD_RPC_PROTOCOL, replica, nonce: b64(nonce) }));
}

export function encodeRpcProof(mac: Uint8Array): Buffer {
  return Buffer.from(JSON.stringify({ proof: b64(mac) }));
}

export function encodeRpcAccept(mac: Uint8Array): Buffer {
  return Buffer.from(JSON.stringify({ accept: b64(mac) }));
}

/** What a listener sends before it closes a connection whose proof it refused: a code,
 * never a MAC. */
export function encodeRpcRefused(code: 'SHARD_ERR_UNAUTHENTICATED', message: string): Buffer {
  return Buffer.from(JSON.stringify({ refused: code, message }));
}

/** The decoders return null for anything that is not exactly their message. */
export function decodeRpcHello(frame: Uint8Array): RpcHello | null {
  const o = exactObject(frame, ['hello', 'principal', 'nonce']);
  if (o === null || o.hello !== SHARD_RPC_PROTOCOL || parsePrincipal(o.principal) === null) return null;
  const nonce = unb64(o.nonce, RPC_NONCE_BYTES);
  return nonce === null ? null : { principal: o.principal as string, nonce };
}

export function decodeRpcChallenge(frame: Uint8Array): RpcChallenge | null {
  const o = exactObject(frame, ['challenge', 'replica', 'nonce']);
  if (o === null || o.challenge !== SHARD_RPC_PROTOCOL || typeof o.replica !== 'string' || o.replica.length === 0) return null;
  const nonce = unb64(o.nonce, RPC_NONCE_BYTES);
  return nonce === null ? null : { replica: o.replica, nonce };
}

export function decodeRpcProof(frame: Uint8Array): Buffer | null {
  const o = exactObject(frame, ['proof']);
  return o === null ? null : unb64(o.proof, RPC_MAC_BYTES);
}

/** ACCEPT's MAC, or the listener's refusal. */
export function decodeRpcAcceptOrRefused(frame: Uint8Array): { mac: Buffer } | { refused: string; message: string } | null {
  const accept = exactObject(frame, ['accept']);
  if (accept !== null) {
    const mac = unb64(accept.accept, RPC_MAC_BYTES);
    return mac === null ? null : { mac };
  }
  const refused = exactObject(frame, ['refused', 'message']);
  if (refused === null || typeof refused.refused !== 'string' || typeof refused.message !== 'string') return null;
  return { refused: refused.refused, message: refused.message };
}

function b64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

/** Canonical base64 of exactly `bytes` bytes, or null. */
function unb64(v: unknown, bytes: number): Buffer | null {
  if (typeof v !== 'string' || v.length !== 4 * Math.ceil(bytes / 3)) return null;
  const out = Buffer.from(v, 'base64');
  return out.length === bytes && out.toString('base64') === v ? out : null;
}

/** The frame as a JSON object with exactly `keys`, or null. Never throws. */
function exactObject(frame: Uint8Array, keys: readonly string[]): Record<string, unknown> | null {
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength).toString('utf8'));
  } catch {
    return null;
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return null;
  const o = v as Record<string, unknown>;
  const own = Object.keys(o);
  if (own.length !== keys.length || !keys.every((k) => Object.hasOwn(o, k))) return null;
  return o;
}
