// Peer authentication for the Raft transport: an HMAC-SHA256 challenge-response, in both
// directions, before any Raft frame is accepted. The DIALER proves first:
//
//   dialer   → listener  HELLO     { dialerId, dialerNonce }
//   listener → dialer    CHALLENGE { listenerId, listenerNonce }          (no MAC)
//   dialer   → listener  PROOF     { mac('dialer') }
//   listener → dialer    ACCEPT    { mac('listener') }
//
// mac(role) = HMAC(key, protocol | role | dialerId | listenerId | dialerNonce |
// listenerNonce), every field length-prefixed, key = deriveKey(rootSecret, 'raft-peer')
// (common/keys.ts; tcp-transport.ts derives it once). The listener sends no MAC before it
// has verified the dialer's: anyone can dial a listener, and a listener that answered a
// HELLO with its MAC (protocol /1 did) handed every stranger a value to test guesses of
// the secret against offline. The dialer only dials the addresses of its configured
// peers. Both node ids are bound into the MAC, so a node cannot claim another's id; each
// side's fresh 32-byte nonce prevents replay; the role label prevents reflecting one
// side's MAC back as the other's. The dialer also checks that the listener is the node it
// meant to dial. Comparisons are timing-safe.

import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { ByteReader, ByteWriter } from '../codec-bytes.js';
import { nodeIdBytesMax } from './limits.js';

/** /3: batch and ping frames, and the heartbeat's quiesce flag (codec.ts). */
const PROTOCOL = 'ringfence-raft-peer/3';
export const NONCE_BYTES = 32;
const MAC_BYTES = 32;
const TAG_HELLO = 1;
const TAG_CHALLENGE = 2;
const TAG_PROOF = 3;
const TAG_ACCEPT = 4;

export type Hello = { dialerId: string; dialerNonce: Uint8Array };
export type Challenge = { listenerId: string; listenerNonce: Uint8Array };
export type Proof = { mac: Uint8Array };
export type Accept = { mac: Uint8Array };

export type MacInput = { role: 'dialer' | 'listener'; dialerId: string; listenerId: string; dialerNonce: Uint8Array; listenerNonce: Uint8Array };

export function newNonce(): Uint8Array {
  return new Uint8Array(randomBytes(NONCE_BYTES));
}

/** `key` is the derived Raft peer key (deriveKey(rootSecret, 'raft-peer')), never the root. */
export function computeMac(key: Uint8Array, m: MacInput): Uint8Array {
  const w = new ByteWriter(256).str(PROTOCOL).str(m.role).str(m.dialerId).str(m.listenerId).bytes(m.dialerNonce).bytes(m.listenerNonce);
  return new Uint8Array(createHmac('sha256', key).update(w.finish()).digest());
}

export function macMatches(key: Uint8Array, m: MacInput, got: Uint8Array): boolean {
  const want = computeMac(key, m);
  return got.length === want.length && timingSafeEqual(want, got);
}

export function encodeHello(h: Hello): Uint8Array {
  return new ByteWriter(64).u8(TAG_HELLO).str(h.dialerId).raw(h.dialerNonce).finish();
}

export function encodeChallenge(c: Challenge): Uint8Array {
  return new ByteWriter(128).u8(TAG_CHALLENGE).str(c.listenerId).raw(c.listenerNonce).finish();
}

export function encodeProof(p: Proof): Uint8Array {
  return new ByteWriter(40).u8(TAG_PROOF).raw(p.mac).finish();
}

export function encodeAccept(a: Accept): Uint8Array {
  return new ByteWriter(40).u8(TAG_ACCEPT).raw(a.mac).finish();
}

/** Each decoder throws RAFT_ERR_CORRUPT on anything that is not exactly its message. */
export function decodeHello(bytes: Uint8Array): Hello {
  const r = opened(bytes, TAG_HELLO, 'handshake hello');
  const hello = { dialerId: nodeId(r), dialerNonce: r.raw(NONCE_BYTES) };
  r.end();
  return hello;
}

export function decodeChallenge(bytes: Uint8Array): Challenge {
  const r = opened(bytes, TAG_CHALLENGE, 'handshake challenge');
  const challenge = { listenerId: nodeId(r), listenerNonce: r.raw(NONCE_BYTES) };
  r.end();
  return challenge;
}

export function decodeProof(bytes: Uint8Array): Proof {
  const r = opened(bytes, TAG_PROOF, 'handshake proof');
  const proof = { mac: r.raw(MAC_BYTES) };
  r.end();
  return proof;
}

export function decodeAccept(bytes: Uint8Array): Accept {
  const r = opened(bytes, TAG_ACCEPT, 'handshake accept');
  const accept = { mac: r.raw(MAC_BYTES) };
  r.end();
  return accept;
}

function opened(bytes: Uint8Array, tag: number, what: string): ByteReader {
  const r = new ByteReader(bytes, what);
  const got = r.u8();
  if (got !== tag) r.fail(`expected message ${tag}, got ${got}`);
  return r;
}

function nodeId(r: ByteReader): string {
  const id = r.str();
  if (id.length === 0 || Buffer.byteLength(id) > nodeIdBytesMax) r.fail('bad node id');
  return id;
}
