// Binary encoding of Raft messages (for the wire) and of entries, hard state and snapshots
// (for disk). Compact on the hot path: varints for terms and indexes, raw bytes for entry
// data, no JSON. Decoding never trusts a length: any malformed input throws a typed
// RAFT_ERR_CORRUPT error (see codec-bytes.ts), nothing else.
//
// Wire layout of a message: version u8 | item, where an item is groupId str | type u8 |
// from str | to str | term uint | the type's own fields in declaration order.
// A peer link carries frames of three kinds, told apart by their first byte:
//   WIRE_VERSION   one message (encodeMessage)
//   FRAME_BATCH    count uint | item × count — every message a store sends one peer store
//                  in one event-loop turn, whatever their groups (coalesced heartbeats)
//   FRAME_PING     nothing else: store liveness when nothing else went out
// Stored layout of entries, hard state, snapshots: crc32(body) u32 BE | body.

import { ByteReader, ByteWriter } from './codec-bytes.js';
import { crc32 } from './crc32.js';
import type { ConfState, Entry, EntryKind, HardState, Message, MessageType, Snapshot, SnapshotMeta } from './types.js';

/** 2: heartbeats gained the quiesce flag (1 had none). */
const WIRE_VERSION = 2;
const FRAME_BATCH = 3;
const FRAME_PING = 4;
/** Smallest encoded item: groupId, type, from, to, term — one byte each at least. */
const ITEM_BYTES_MIN = 5;
const STORE_VERSION = 1;

const MESSAGE_TYPES: readonly MessageType[] = [
  'preVote', 'vote', 'preVoteResp', 'voteResp', 'append', 'appendResp', 'heartbeat',
  'heartbeatResp', 'snapshot', 'snapshotResp', 'timeoutNow', 'readIndex', 'readIndexResp',
];
const TYPE_TAG = new Map<MessageType, number>(MESSAGE_TYPES.map((t, i) => [t, i]));
const ENTRY_KINDS: readonly EntryKind[] = ['normal', 'conf', 'noop'];
const KIND_TAG = new Map<EntryKind, number>(ENTRY_KINDS.map((k, i) => [k, i]));
/** Smallest encoded entry: term, index, kind (1 byte each), f64 timestamp, data length. */
const ENTRY_BYTES_MIN = 12;

export type DecodedMessage = { groupId: string; message: Message };

export function encodeMessage(groupId: string, m: Message): Uint8Array {
  const w = new ByteWriter(sizeHint(m));
  w.u8(WIRE_VERSION);
  writeItem(w, groupId, m);
  return w.finish();
}

/** One (groupId, message) pair as it sits in a batch frame. */
export function encodeItem(groupId: string, m: Message): Uint8Array {
  const w = new ByteWriter(sizeHint(m));
  writeItem(w, groupId, m);
  return w.finish();
}

/** A batch frame of items made by encodeItem. */
export function encodeBatchFrame(items: readonly Uint8Array[]): Uint8Array {
  let bytes = 1 + 8;
  for (const it of items) bytes += it.length;
  const w = new ByteWriter(bytes).raw(encodeBatchHeader(items.length));
  for (const it of items) w.raw(it);
  return w.finish();
}

/** What precedes `count` items in a batch frame (for writers that copy the items once,
 * straight into their output buffer). */
export function encodeBatchHeader(count: number): Uint8Array {
  return new ByteWriter(16).u8(FRAME_BATCH).uint(count).finish();
}

/** Overhead of a batch frame on top of its items' bytes, at most. */
export const batchFrameOverheadBytes = 1 + 8;

export function encodePingFrame(): Uint8Array {
  return Uint8Array.of(FRAME_PING);
}

export type DecodedFrame = Readonly<{ kind: 'messages'; messages: readonly DecodedMessage[] }> | Readonly<{ kind: 'ping' }>;

/** Any frame a peer link carries after the handshake; RAFT_ERR_CORRUPT on anything else. */
export function decodeFrame(bytes: Uint8Array): DecodedFrame {
  const r = new ByteReader(bytes, 'raft frame');
  const kind = r.u8();
  if (kind === FRAME_PING) {
    r.end();
    return { kind: 'ping' };
  }
  if (kind === WIRE_VERSION) {
    const one = readItem(r);
    r.end();
    return { kind: 'messages', messages: [one] };
  }
  if (kind !== FRAME_BATCH) return r.fail(`unknown frame kind ${kind}`);
  const n = r.count(ITEM_BYTES_MIN);
  const messages: DecodedMessage[] = [];
  for (let i = 0; i < n; i++) messages.push(readItem(r));
  r.end();
  return { kind: 'messages', messages };
}

function writeItem(w: ByteWriter, groupId: string, m: Message): void {
  w.str(groupId).u8(TYPE_TAG.get(m.type)!).str(m.from).str(m.to).uint(m.term);
  switch (m.type) {
    case 'preVote':
    case 'vote':
      w.uint(m.lastLogIndex).uint(m.lastLogTerm).bool(m.transfer);
      break;
    case 'preVoteResp':
    case 'voteResp':
      w.bool(m.reject);
      break;
    case 'append':
      w.uint(m.prevIndex).uint(m.prevTerm).uint(m.commit).uint(m.entries.length);
      for (const e of m.entries) writeEntryBody(w, e);
      break;
    case 'appendResp':
      w.bool(m.reject).uint(m.index).uint(m.hintIndex).uint(m.hintTerm);
      break;
    case 'heartbeat':
      w.uint(m.commit).str(m.context).bool(m.quiesce === true);
      break;
    case 'heartbeatResp':
      w.str(m.context);
      break;
    case 'snapshot':
      writeMeta(w, m.meta);
      w.uint(m.totalBytes).uint(m.offset).bytes(m.chunk).bool(m.done);
      break;
    case 'snapshotResp':
      w.uint(m.index).uint(m.offset).bool(m.reject).bool(m.done);
      break;
    case 'timeoutNow':
      break;
    case 'readIndex':
      w.str(m.context);
      break;
    case 'readIndexResp':
      w.str(m.context).uint(m.index).bool(m.reject);
      break;
  }
}

export function decodeMessage(bytes: Uint8Array): DecodedMessage {
  const r = new ByteReader(bytes, 'raft message');
  const version = r.u8();
  if (version !== WIRE_VERSION) r.fail(`unknown wire version ${version}`);
  const decoded = readItem(r);
  r.end();
  return decoded;
}

function readItem(r: ByteReader): DecodedMessage {
  const groupId = r.str();
  const tag = r.u8();
  const type = MESSAGE_TYPES[tag];
  if (type === undefined) return r.fail(`unknown message type ${tag}`);
  const env = { from: r.str(), to: r.str(), term: r.uint() };
  return { groupId, message: readBody(r, type, env) };
}

type Env = { from: string; to: string; term: number };

function readBody(r: ByteReader, type: MessageType, env: Env): Message {
  switch (type) {
    case 'preVote':
    case 'vote':
      return { type, ...env, lastLogIndex: r.uint(), lastLogTerm: r.uint(), transfer: r.bool() };
    case 'preVoteResp':
    case 'voteResp':
      return { type, ...env, reject: r.bool() };
    case 'append': {
      const prevIndex = r.uint();
      const prevTerm = r.uint();
      const commit = r.uint();
      const n = r.count(ENTRY_BYTES_MIN);
      const entries: Entry[] = [];
      for (let i = 0; i < n; i++) entries.push(readEntryBody(r));
      return { type, ...env, prevIndex, prevTerm, entries, commit };
    }
    case 'appendResp':
      return { type, ...env, reject: r.bool(), index: r.uint(), hintIndex: r.uint(), hintTerm: r.uint() };
    case 'heartbeat': {
      const commit = r.uint();
      const context = r.str();
      // Absent when false, so a decoded message equals the one encoded.
      return r.bool() ? { type, ...env, commit, context, quiesce: true } : { type, ...env, commit, context };
    }
    case 'heartbeatResp':
      return { type, ...env, context: r.str() };
    case 'snapshot':
      return { type, ...env, meta: readMeta(r), totalBytes: r.uint(), offset: r.uint(), chunk: r.bytes(), done: r.bool() };
    case 'snapshotResp':
      return { type, ...env, index: r.uint(), offset: r.uint(), reject: r.bool(), done: r.bool() };
    case 'timeoutNow':
      return { type, ...env };
    case 'readIndex':
      return { type, ...env, context: r.str() };
    case 'readIndexResp':
      return { type, ...env, context: r.str(), index: r.uint(), reject: r.bool() };
  }
}

function sizeHint(m: Message): number {
  if (m.type === 'append') return 64 + m.entries.reduce((n, e) => n + 24 + e.data.length, 0);
  if (m.type === 'snapshot') return 128 + m.chunk.length;
  return 64;
}

function writeEntryBody(w: ByteWriter, e: Entry): void {
  w.uint(e.term).uint(e.index).u8(KIND_TAG.get(e.kind)!).f64(e.timestampMs).bytes(e.data);
}

function readEntryBody(r: ByteReader): Entry {
  const term = r.uint();
  const index = r.uint();
  const tag = r.u8();
  const kind = ENTRY_KINDS[tag];
  if (kind === undefined) return r.fail(`unknown entry kind ${tag}`);
  return { term, index, kind, timestampMs: r.f64(), data: r.bytes() };
}

function writeConf(w: ByteWriter, c: ConfState): void {
  w.uint(c.voters.length);
  for (const v of c.voters) w.str(v);
  w.uint(c.learners.length);
  for (const l of c.learners) w.str(l);
}

function readConf(r: ByteReader): ConfState {
  const voters: string[] = [];
  for (let n = r.count(1); n > 0; n--) voters.push(r.str());
  const learners: string[] = [];
  for (let n = r.count(1); n > 0; n--) learners.push(r.str());
  return { voters, learners };
}

function writeMeta(w: ByteWriter, m: SnapshotMeta): void {
  w.uint(m.index).uint(m.term);
  writeConf(w, m.conf);
}

function readMeta(r: ByteReader): SnapshotMeta {
  return { index: r.uint(), term: r.uint(), conf: readConf(r) };
}

// ---- stored records: crc32 | version | body ----

/** A stored record: its CRC32, then its body. The writer starts with 4 bytes kept for the
 * checksum (sealedWriter), filled in here once the body is written: no second copy. */
function sealed(w: ByteWriter): Uint8Array {
  const out = w.finish();
  w.u32At(0, crc32(out.subarray(4)));
  return out;
}

function sealedWriter(bodySizeHint: number): ByteWriter {
  return new ByteWriter(4 + bodySizeHint).u32(0);
}

function opened(bytes: Uint8Array, what: string): ByteReader {
  const head = new ByteReader(bytes, what);
  const sum = head.u32();
  const body = bytes.subarray(4);
  if (crc32(body) !== sum) head.fail('checksum mismatch');
  const r = new ByteReader(body, what);
  const version = r.u8();
  if (version !== STORE_VERSION) r.fail(`unknown record version ${version}`);
  return r;
}

/** An entry as stored on disk, with its CRC32. */
export function encodeEntry(e: Entry): Uint8Array {
  const w = sealedWriter(24 + e.data.length).u8(STORE_VERSION);
  writeEntryBody(w, e);
  return sealed(w);
}

export function decodeEntry(bytes: Uint8Array, what = 'raft entry'): Entry {
  const r = opened(bytes, what);
  const e = readEntryBody(r);
  r.end();
  return e;
}

export function encodeHardState(h: HardState): Uint8Array {
  const w = sealedWriter(64).u8(STORE_VERSION).uint(h.term).uint(h.commit).bool(h.vote !== null);
  if (h.vote !== null) w.str(h.vote);
  return sealed(w);
}

export function decodeHardState(bytes: Uint8Array, what = 'raft hard state'): HardState {
  const r = opened(bytes, what);
  const term = r.uint();
  const commit = r.uint();
  const vote = r.bool() ? r.str() : null;
  r.end();
  return { term, vote, commit };
}

export function encodeSnapshot(s: Snapshot): Uint8Array {
  const w = sealedWriter(128 + s.data.length).u8(STORE_VERSION);
  writeMeta(w, s.meta);
  w.bytes(s.data);
  return sealed(w);
}

export function decodeSnapshot(bytes: Uint8Array, what = 'raft snapshot'): Snapshot {
  const r = opened(bytes, what);
  const meta = readMeta(r);
  const data = r.bytes();
  r.end();
  return { meta, data };
}
